"""The openai-whisper backend: a Whisper checkpoint file on disk, one clip at a time,
temperature 0 (no fallback). Nothing is downloaded: ``model=FILE.pt`` is required."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from bench.codecs.base import MissingDependency
from bench.tasks.asr.backend import AsrBackend


def openai_whisper_options(beam_size: int) -> dict[str, Any]:
    """The openai-whisper ``transcribe`` options this task passes (temperature 0, no fallback)."""
    return {"language": "en", "temperature": 0.0, "beam_size": beam_size if beam_size > 1 else None,
            "fp16": False, "condition_on_previous_text": False}


class OpenAIWhisperBackend(AsrBackend):
    name = "openai-whisper"
    packages = ("openai-whisper", "torch")

    @classmethod
    def resolve_model(cls, config: Any) -> tuple[str, str]:
        path = os.path.expanduser(config.model)
        if config.model == "default" or not os.path.isfile(path):
            raise MissingDependency(
                "backend=openai-whisper needs model=FILE.pt, a Whisper checkpoint on disk "
                f"(got {config.model!r}); nothing is downloaded at run time"
            )
        return path, path

    @classmethod
    def decoding_provenance(cls, config: Any) -> dict[str, Any]:
        return {"call": "whisper.transcribe, one clip at a time",
                "decoding": openai_whisper_options(config.beam_size)}

    def load(self, path: str) -> None:
        try:
            import whisper
        except ImportError as exc:
            raise MissingDependency(
                f"openai-whisper is not installed ({exc}). Install it without triton: "
                "pip install --no-deps openai-whisper && pip install tiktoken more-itertools numba"
            ) from exc
        import torch

        torch.set_num_threads(self.threads)
        self.model = whisper.load_model(path, device="cpu")
        self._options = openai_whisper_options(self.config.beam_size)

    def transcribe(self, wave: np.ndarray) -> str:
        res = self.model.transcribe(wave.astype(np.float32), **self._options)
        return str(res["text"]).strip()
