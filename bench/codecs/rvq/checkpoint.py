"""The shipped codec's checkpoint: a float16 inference checkpoint plus a JSON sidecar, loaded
after its SHA-256 is checked.

``rvq.pt`` holds only what decoding needs (weights and codebooks, float16, a plain dict of
tensors, loadable with ``torch.load(weights_only=True)``). ``rvq.json`` beside it records the
file's SHA-256, the model shape, the training recipe, steps, seed and the training data's
content hash. Loading checks the SHA-256 before torch ever parses the file. Writing one
(``bench train rvq --export``) is the training recipe's part: :mod:`recipes.rvq.export`.

This module imports torch only inside the functions that need it.
"""

from __future__ import annotations

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
TRAINING_ONLY = ("cluster_size", "embed_sum")

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
    bad = [k for k in missing if k.rsplit(".", 1)[-1] not in TRAINING_ONLY] + list(unexpected)
    if bad:
        raise CodecError(f"{checkpoint} does not match the model: {bad[:5]}")
    return model.eval()
