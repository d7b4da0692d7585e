"""Shipping the trained codec: a float16 inference checkpoint plus a JSON sidecar.

``rvq.pt`` holds only what decoding needs (weights and codebooks, float16, a plain dict of
tensors, loadable with ``torch.load(weights_only=True)``). ``rvq.json`` beside it records the
file's SHA-256, the model shape, the training recipe, steps, seed and the training data's
content hash. Loading checks the SHA-256 before torch ever parses the file.

This module imports torch only inside the functions that need it.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
from typing import Any

from bench.codecs.base import CodecError
from bench.codecs.rvq.config import ModelConfig

#: Where the shipped checkpoint lives inside the package.
SHIPPED_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(__file__))), "data", "rvq")
SHIPPED_CHECKPOINT = os.path.join(SHIPPED_DIR, "rvq.pt")
MAX_BYTES = 10 * 1024 * 1024

#: EMA statistics are training state; inference needs only the codebooks themselves.
_TRAINING_ONLY = ("cluster_size", "embed_sum")

TRAIN_HINT = (
    "train one with `bench train rvq --dataset synth-speech:subset=train --threads 2 "
    "--out runs/rvq`, then ship it with `bench train rvq --export runs/rvq/last.pt`"
)


class ChecksumError(CodecError):
    """The checkpoint's bytes do not match the SHA-256 recorded beside it."""


def sidecar_path(checkpoint: str) -> str:
    return os.path.splitext(checkpoint)[0] + ".json"


def file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_sidecar(checkpoint: str) -> dict[str, Any] | None:
    """The JSON beside ``checkpoint``, or None if absent (no torch needed)."""
    path = sidecar_path(checkpoint)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def export(train_checkpoint: str, dest: str = SHIPPED_CHECKPOINT, note: str | None = None) -> dict[str, Any]:
    """Turn a training checkpoint (``last.pt``) into a shipped float16 one plus its sidecar."""
    import torch

    ckpt = torch.load(train_checkpoint, map_location="cpu", weights_only=True)
    history = json.loads(ckpt.get("history", "[]"))
    recipe = {
        "steps": int(ckpt["step"]),
        "seed": ckpt["train_config"]["seed"],
        "train_config": ckpt["train_config"],
        "data_hash": ckpt["data_hash"],
        "data_seconds": round(float(ckpt.get("data_seconds", 0.0)), 1),
        "final_loss": history[-1] if history else None,
        "phases": json.loads(ckpt.get("phases", "[]")),
    }
    if note:
        recipe["note"] = note
    return write_shipped(ckpt["model"], ckpt["model_config"], dest, recipe)


def _half_if_it_fits(v: Any) -> Any:
    """float16 for floating tensors whose values survive it; others keep their dtype.

    The latent norm's running statistics can be far outside float16: nothing bounds the
    encoder's scale before the norm (the loss cannot see it), and the residual units' gains
    compound it (1e19 at step 6,800 of the shipped run, while every weight is O(1))."""
    import torch

    if not v.is_floating_point():
        return v
    half = v.half()
    if not bool(torch.isfinite(half).all()):
        return v
    error = torch.linalg.norm(half.double() - v.double()) / torch.linalg.norm(v.double()).clamp(min=1e-30)
    return half if float(error) < 1e-3 else v


def write_shipped(state_dict: dict[str, Any], model_config: dict[str, Any], dest: str,
                  recipe: dict[str, Any]) -> dict[str, Any]:
    """Write float16 inference weights to ``dest`` and the JSON sidecar (SHA-256 + recipe)."""
    import torch

    weights = {
        k: _half_if_it_fits(v)
        for k, v in state_dict.items()
        if k.rsplit(".", 1)[-1] not in _TRAINING_ONLY
    }
    bad = [k for k, v in weights.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise CodecError(f"cannot ship: non-finite weights in {', '.join(bad[:5])}")
    os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
    tmp = dest + ".tmp"
    torch.save({"format": "bench-rvq/1", "model_config": model_config, "weights": weights}, tmp)
    size = os.path.getsize(tmp)
    if size > MAX_BYTES:
        os.remove(tmp)
        raise CodecError(f"exported checkpoint is {size / 1e6:.1f} MB, over the {MAX_BYTES / 1e6:.0f} MB limit")
    os.replace(tmp, dest)
    meta = {
        "file": os.path.basename(dest),
        "sha256": file_sha256(dest),
        "bytes": os.path.getsize(dest),
        "dtype": "float16",
        "model_config": model_config,
        **recipe,
        "exported": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    with open(sidecar_path(dest), "w", encoding="utf-8") as fh:
        json.dump(meta, fh, indent=2, sort_keys=True)
        fh.write("\n")
    return meta


def load_weights(checkpoint: str) -> tuple[ModelConfig, dict[str, Any]]:
    """Verify the SHA-256 recorded beside ``checkpoint``, then load it (weights only)."""
    if not os.path.isfile(checkpoint):
        raise CodecError(f"no trained RVQ checkpoint at {checkpoint}; {TRAIN_HINT}")
    meta = read_sidecar(checkpoint)
    if meta is None:
        raise CodecError(f"{checkpoint} has no {os.path.basename(sidecar_path(checkpoint))} "
                         "with its SHA-256; re-export it with `bench train rvq --export`")
    actual = file_sha256(checkpoint)
    if actual != meta.get("sha256"):
        raise ChecksumError(f"{checkpoint}: SHA-256 {actual[:16]}... does not match the recorded "
                            f"{str(meta.get('sha256'))[:16]}...; the file is corrupt or was replaced")
    import torch

    blob = torch.load(checkpoint, map_location="cpu", weights_only=True)
    return ModelConfig.from_dict(blob["model_config"]), blob["weights"]


def build_model(checkpoint: str) -> Any:
    """A float32 :class:`RVQAutoencoder` in eval mode, from a verified shipped checkpoint."""
    from bench.codecs.rvq.model import RVQAutoencoder

    cfg, weights = load_weights(checkpoint)
    model = RVQAutoencoder(cfg)
    # load_state_dict casts each tensor to the model's own dtype (float32 weights, float64
    # norm statistics).
    missing, unexpected = model.load_state_dict(weights, strict=False)
    # Only the EMA statistics may be absent; anything else is a broken checkpoint.
    bad = [k for k in missing if k.rsplit(".", 1)[-1] not in _TRAINING_ONLY] + list(unexpected)
    if bad:
        raise CodecError(f"{checkpoint} does not match the model: {bad[:5]}")
    return model.eval()
