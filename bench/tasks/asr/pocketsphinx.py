"""The pocketsphinx backend: CMU Sphinx with its bundled US English model; a weak,
always-offline baseline."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from bench.audio import METRIC_SR
from bench.codecs.base import MissingDependency, require
from bench.tasks.asr.backend import AsrBackend


class PocketSphinxBackend(AsrBackend):
    name = "pocketsphinx"
    packages = ("pocketsphinx",)
    uses_beam = False
    uses_threads = False

    @classmethod
    def resolve_model(cls, config: Any) -> tuple[str, str]:
        ps = require("pocketsphinx", extra="asr", package="pocketsphinx")
        path = os.path.join(ps.get_model_path(), "en-us") if config.model == "default" else config.model
        weights = os.path.join(path, "en-us.lm.bin") if config.model == "default" else path
        if not os.path.exists(weights):
            raise MissingDependency(f"pocketsphinx model not found at {path!r}")
        if os.path.isdir(weights):
            raise MissingDependency(f"pocketsphinx model={path!r}: give the language model file")
        return path, weights

    @classmethod
    def decoding_provenance(cls, config: Any) -> dict[str, Any]:
        return {"call": "pocketsphinx Decoder, cepstral mean reset per clip, two passes", "decoding": {}}

    def load(self, path: str) -> None:
        ps = require("pocketsphinx", extra="asr", package="pocketsphinx")
        kwargs: dict[str, Any] = {"samprate": METRIC_SR, "loglevel": "FATAL"}
        if self.config.model != "default":
            kwargs["lm"] = path
        self.model = ps.Decoder(**kwargs)
        self._cmn_init = self.model.get_cmn()

    def transcribe(self, wave: np.ndarray) -> str:
        pcm = (np.clip(wave, -1.0, 1.0) * 32767).astype(np.int16).tobytes()
        # pocketsphinx carries its cepstral mean from one utterance to the next, so the same
        # clip can decode differently depending on what came before. Reset it, let a first
        # pass estimate the mean of this clip alone, and keep the second pass.
        self.model.set_cmn(self._cmn_init)
        for _ in range(2):
            self.model.start_utt()
            self.model.process_raw(pcm, full_utt=True)
            self.model.end_utt()
        hyp = self.model.hyp()
        return hyp.hypstr if hyp is not None else ""
