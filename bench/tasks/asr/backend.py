"""What an ASR backend of the asr task provides (one module per backend beside this one)."""

from __future__ import annotations

import os
from typing import Any, ClassVar

import numpy as np


def package_version(dist: str) -> str | None:
    import importlib.metadata

    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


class AsrBackend:
    """One ASR system: where its model is, what fixes its transcripts, and the transcription.

    The class methods work from the task config alone (no model loaded): they feed the task's
    provenance and hence its hash. An instance holds the loaded model of one worker.
    """

    name: ClassVar[str] = ""
    #: distributions whose versions are recorded in the provenance
    packages: ClassVar[tuple[str, ...]] = ()
    #: whether the config's beam_size applies (recorded; None otherwise)
    uses_beam: ClassVar[bool] = True
    #: whether the config's compute_type and threads apply
    uses_compute_type: ClassVar[bool] = False
    uses_threads: ClassVar[bool] = True

    @classmethod
    def resolve_model(cls, config: Any) -> tuple[str, str]:
        """(model path, file whose SHA-256 identifies the weights); MissingDependency if absent."""
        raise NotImplementedError

    @classmethod
    def model_name(cls, config: Any, path: str) -> str:
        return os.path.basename(os.path.normpath(path))

    @classmethod
    def decoding_provenance(cls, config: Any) -> dict[str, Any]:
        """The provenance entries after the common ones: ``call``, ``decoding``, any seed pin."""
        raise NotImplementedError

    def __init__(self, config: Any, threads: int):
        self.config = config
        self.threads = threads
        self.model: Any = None

    def load(self, path: str) -> None:
        raise NotImplementedError

    def transcribe(self, wave: np.ndarray) -> str:
        """Raw transcript of one 16 kHz clip."""
        raise NotImplementedError
