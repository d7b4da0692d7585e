"""Shipping a trained RVQ codec (``bench train rvq --export``): a training checkpoint becomes
the float16 inference checkpoint that :mod:`bench.codecs.rvq.checkpoint` loads, plus its JSON
sidecar (SHA-256, model shape, training recipe, data hash)."""

from __future__ import annotations

import datetime
import json
import os
from typing import Any

from bench.codecs.base import CodecError
from bench.codecs.rvq.checkpoint import (MAX_BYTES, SHIPPED_CHECKPOINT, TRAINING_ONLY, file_sha256,
                                         sidecar_path)


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
        if k.rsplit(".", 1)[-1] not in TRAINING_ONLY
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
