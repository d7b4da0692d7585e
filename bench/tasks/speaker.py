"""Is it still the same voice? Speaker similarity and verification through the codec.

Per item: a speaker encoder embeds the original and the reconstruction; the score is the cosine
similarity of the two embeddings. The embeddings are kept in the row extras, so the corpus
stage can build speaker-verification trials from the stored rows: enrolment on an original
utterance, test on the reconstruction of another utterance, same-speaker ("target") and
different-speaker ("non-target") trials drawn deterministically from the seed. The equal error
rate of those trials says whether the codec keeps speakers apart; the same trials scored on
original against original give the encoder's own EER on the corpus (``eer_original``).

The trial list depends only on the items' speaker labels and the seed, never on the codec, so
every codec is scored on the same trials; it is written to ``<out>/speaker_trials/``.

Encoders live behind :class:`SpeakerEncoder` (in :mod:`bench.metrics.speaker`, with the cosine,
the EER and the trial builder); the default is resemblyzer (GE2E d-vectors,
256 dims, weights bundled in the wheel). Its preprocessing trims long silences with WebRTC VAD.
An item fails only when the VAD leaves no speech at all in the original or the reconstruction:
the embedding would then be of silence (or of nothing) and the cosine meaningless. Items with
less speech than ``min_speech_s`` (a spoken digit keeps 0.2-0.6 s) are still scored, and marked
``short`` in the row extras; the corpus report counts them and gives their mean similarity
apart, since an embedding of a fraction of a second is noisier than one of a sentence.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import time
from collections import Counter, defaultdict
from typing import Any

import numpy as np

from bench.audio import METRIC_SR
from bench.config import config_to_dict
from bench.metrics.speaker import (ENCODERS, ResemblyzerEncoder, SpeakerEncoder, Trial, build_trials, cosine,
                                   equal_error_rate)
from bench.metrics.stats import bootstrap_interval
from bench.tasks.base import Failed, ItemContext, Measurement, MetricSpec, MetricValue, Row, Task, summarize_metric


# -- the task -----------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class SpeakerConfig:
    #: Speaker encoder (see ENCODERS).
    encoder: str = "resemblyzer"
    #: Trim long silences (resemblyzer's WebRTC VAD) before embedding.
    trim_silence: bool = True
    #: Less speech than this (seconds, after VAD trimming, in the original or the reconstruction)
    #: and the item is marked ``short`` in its row (still scored); only no speech at all fails.
    min_speech_s: float = 0.5
    #: Same-speaker enrolment utterances per test item in the verification trials.
    targets: int = 5
    #: Different-speaker enrolment utterances per test item.
    impostors: int = 10
    #: Label keys to break the mean similarity down by (in the record's extra).
    groups: tuple[str, ...] = ("speaker", "gender", "accent")
    #: torch threads while embedding.
    threads: int = 1

    def __post_init__(self) -> None:
        if self.encoder not in ENCODERS:
            raise ValueError(f"encoder must be one of {', '.join(ENCODERS)}, got {self.encoder!r}")


class Speaker(Task):
    name = "speaker"
    default_dataset = "synth-speech-test"  # the test split: speakers and sentences the rvq codec never saw
    needs_modules = ('resemblyzer', 'webrtcvad', 'torch')
    version = "2"
    description = "speaker similarity (cosine of embeddings) and verification EER on reconstructions"
    requires = frozenset({"reference", "reconstruction", "labels"})
    extra = "speaker"
    Config = SpeakerConfig
    # batch_size stays 1 (the default): embeddings are computed one clip at a time, and a chunk
    # of 8 left a worker idle on small corpora (10 items: chunks of 8 and 2)
    metrics = (
        MetricSpec("similarity", "", True, "cosine of original and reconstruction embeddings"),
        MetricSpec("eer", "%", False, "speaker verification EER: enrol on originals, test on reconstructions"),
        MetricSpec("eer_original", "%", False, "EER of the same trials on original audio (encoder floor)"),
    )

    def __init__(self, config: Any = None, *, name: str | None = None):
        super().__init__(config, name=name)
        self.encoder: SpeakerEncoder = ENCODERS[self.config.encoder](
            trim_silence=self.config.trim_silence, threads=self.config.threads)
        self._provenance: dict[str, Any] | None = None

    def provenance(self) -> dict[str, Any]:
        if self._provenance is None:
            self._provenance = self.encoder.provenance()
        return self._provenance

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version,
                "config": {**config_to_dict(self.config), "resolved": self.provenance()}}

    def _load(self) -> None:
        self.provenance()
        self.encoder.load()

    def _original_key(self) -> str:
        """Cache key of the original's analysis: the encoder, its weights and preprocessing."""
        import json

        return "speaker-original/1:" + json.dumps(self.provenance(), sort_keys=True)

    def _original(self, item: ItemContext) -> tuple[int, str, np.ndarray | None]:
        """(speech samples after VAD, digest of the preprocessed audio, embedding or None) of the
        original: computed once per item and kept by content (see bench/tasks/original_cache.py),
        so that every other codec of the corpus reuses it."""
        from bench.tasks import original_cache

        key = self._original_key()
        hit = original_cache.get(self.cache_dir, item.item_hash, key)
        if hit is not None:
            emb = hit["embedding"] if hit["embedding"].size else None
            return int(hit["speech"]), str(hit["digest"]), emb
        ref = self.encoder.preprocess(item.reference)
        emb = self.encoder.embed(ref) if len(ref) else None
        digest = hashlib.sha256(ref.tobytes()).hexdigest()
        original_cache.put(self.cache_dir, item.item_hash, key,
                           {"speech": np.int64(len(ref)), "digest": np.array(digest),
                            "embedding": emb if emb is not None else np.zeros(0)})
        return len(ref), digest, emb

    def measure(self, item: ItemContext) -> Measurement:
        self.load()
        t0, c0 = time.perf_counter(), time.process_time()
        n_ref, ref_digest, e_ref = self._original(item)
        t1 = time.perf_counter()
        rec = self.encoder.preprocess(item.reconstruction)
        t2 = time.perf_counter()
        min_n = int(self.config.min_speech_s * METRIC_SR)
        extras: dict[str, Any] = {"speech_seconds": {"original": n_ref / METRIC_SR,
                                                     "reconstruction": len(rec) / METRIC_SR},
                                  "duration": len(item.reference) / METRIC_SR,
                                  "short": bool(min(n_ref, len(rec)) < min_n)}
        reason = None
        if n_ref == 0:
            reason = "no speech in the original after VAD trimming"
        elif len(rec) == 0:
            reason = "no speech in the reconstruction after VAD trimming"
        if reason:
            return Measurement({"similarity": Failed(reason)}, extras)
        same = len(rec) == n_ref and hashlib.sha256(rec.tobytes()).hexdigest() == ref_digest
        e_rec = e_ref if same else self.encoder.embed(rec)
        t3, c3 = time.perf_counter(), time.process_time()
        sim = cosine(e_ref, e_rec)
        if not np.isfinite(sim):
            return Measurement({"similarity": Failed("embedding has zero norm")}, extras)
        extras.update(
            embedding_original=np.array([round(float(x), 6) for x in e_ref]),
            embedding_reconstruction=np.array([round(float(x), 6) for x in e_rec]),
            # "original": the original's preprocessing and embedding (0 when cached)
            seconds={"original": t1 - t0, "preprocess": t2 - t1, "embed": t3 - t2, "cpu": c3 - c0},
        )
        return Measurement({"similarity": sim}, extras)

    # -- corpus level ---------------------------------------------------------------------------
    def trials(self, rows: list[Row], seed: int) -> list[Trial]:
        speakers = {r.item_id: str(r.labels["speaker"]) for r in rows if r.labels.get("speaker") not in (None, "")}
        return build_trials(speakers, seed, self.config.targets, self.config.impostors)

    def score_trials(self, rows: list[Row], trials: list[Trial]) -> dict[str, Any]:
        """Scores of every trial whose two embeddings exist; the rest are counted as dropped."""
        emb_o: dict[str, np.ndarray] = {}
        emb_r: dict[str, np.ndarray] = {}
        for r in rows:
            if r.failure is None and "embedding_original" in r.extras:
                emb_o[r.item_id] = np.asarray(r.extras["embedding_original"])
                emb_r[r.item_id] = np.asarray(r.extras["embedding_reconstruction"])
        kept, recon, orig = [], [], []
        for k, t in enumerate(trials):
            if t.enrol in emb_o and t.test in emb_r:
                kept.append(k)
                recon.append(cosine(emb_o[t.enrol], emb_r[t.test]))
                orig.append(cosine(emb_o[t.enrol], emb_o[t.test]))
        labels = np.array([trials[k].target for k in kept], dtype=bool)
        tests = [trials[k].test for k in kept]
        return {"kept": kept, "labels": labels, "tests": tests, "recon": np.asarray(recon), "orig": np.asarray(orig),
                "dropped": len(trials) - len(kept)}

    def _eer_metric(self, spec: MetricSpec, scored: dict[str, Any], key: str, seed: int,
                    n_boot: int = 500) -> MetricValue:
        scores, labels, tests = scored[key], scored["labels"], scored["tests"]
        failures = {"trial item not embedded": scored["dropped"]} if scored["dropped"] else {}
        value = equal_error_rate(scores, labels) if len(scores) else None
        lo = hi = None
        if value is not None:
            value *= 100.0
            # bootstrap over test items: a test item's trials stay together
            groups: dict[str, list[int]] = defaultdict(list)
            for k, t in enumerate(tests):
                groups[t].append(k)
            keys = sorted(groups)
            idx_lists = [np.asarray(groups[t]) for t in keys]

            def eer_of(pick: np.ndarray) -> float | None:
                idx = np.concatenate([idx_lists[p] for p in pick])
                e = equal_error_rate(scores[idx], labels[idx])
                return None if e is None else 100.0 * e

            ci = bootstrap_interval(eer_of, len(keys), seed, n_boot, per_replicate=True)
            if ci is not None:
                lo, hi = ci
        return MetricValue(value=value, ci_low=lo, ci_high=hi, n=len(scores), n_failed=scored["dropped"],
                           higher_is_better=False, unit=spec.unit, failures=failures)

    def summarize(self, rows: list[Row], seed: int) -> dict[str, MetricValue]:
        specs = {m.name: m for m in self.metrics}
        out = {"similarity": summarize_metric(specs["similarity"], rows, seed)}
        scored = self.score_trials(rows, self.trials(rows, seed))
        out["eer"] = self._eer_metric(specs["eer"], scored, "recon", seed)
        out["eer_original"] = self._eer_metric(specs["eer_original"], scored, "orig", seed)
        return out

    def corpus_report(self, rows: list[Row], seed: int, out_dir: str | None = None) -> dict[str, Any]:
        trials = self.trials(rows, seed)
        scored = self.score_trials(rows, trials)
        report: dict[str, Any] = {"encoder": self.provenance()}
        n_target = sum(t.target for t in trials)
        report["trials"] = {"n": len(trials), "target": n_target, "nontarget": len(trials) - n_target,
                            "scored": len(scored["kept"]), "dropped": scored["dropped"],
                            "speakers": len({r.labels.get("speaker") for r in rows if r.labels.get("speaker")})}
        if out_dir and trials:
            report["trials"].update(save_trials(trials, {r.item_id: r.labels.get("speaker") for r in rows}, out_dir))
        groups: dict[str, Any] = {}
        for key in self.config.groups:
            vals: dict[str, list[float]] = defaultdict(list)
            for r in rows:
                v = r.values.get("similarity") if r.failure is None else None
                if r.labels.get(key) is not None and v is not None and not isinstance(v, Failed):
                    vals[str(r.labels[key])].append(float(v))
            if vals:
                groups[key] = {g: {"n": len(v), "similarity": round(float(np.mean(v)), 5),
                                   "min": round(float(np.min(v)), 5)} for g, v in sorted(vals.items())}
        report["by_group"] = groups
        report["short"] = short_report(rows, self.config.min_speech_s)
        timing = Counter()
        audio_s = 0.0
        for r in rows:
            if r.failure is None and "duration" in r.extras:
                audio_s += r.extras["duration"]
                timing.update(r.extras.get("seconds", {}))
        wall = timing["original"] + timing["preprocess"] + timing["embed"]
        report["speed"] = {"audio_seconds": round(audio_s, 3),
                           **{f"{k}_seconds": round(v, 3) for k, v in timing.items()},
                           "rtf_wall": round(wall / audio_s, 5) if audio_s else None,
                           "rtf_cpu": round(timing["cpu"] / audio_s, 5) if audio_s else None}
        return report


def short_report(rows: list[Row], min_speech_s: float) -> dict[str, Any]:
    """How many scored items had less than ``min_speech_s`` of speech, and the mean similarity of
    those and of the others (an embedding of a fraction of a second is noisier)."""
    groups: dict[bool, list[float]] = {True: [], False: []}
    for r in rows:
        v = r.values.get("similarity") if r.failure is None else None
        if v is not None and not isinstance(v, Failed) and "short" in r.extras:
            groups[bool(r.extras["short"])].append(float(v))
    mean = lambda v: round(float(np.mean(v)), 5) if v else None  # noqa: E731
    return {"min_speech_s": min_speech_s, "n_short": len(groups[True]), "n_long": len(groups[False]),
            "similarity_short": mean(groups[True]), "similarity_long": mean(groups[False])}


def save_trials(trials: list[Trial], speakers: dict[str, Any], out_dir: str) -> dict[str, str]:
    """Write the trial list (TSV: enrol, test, target, speakers) under ``out_dir``; atomic, and
    named by its content hash so every codec of a run shares one file."""
    lines = ["enrol_id\ttest_id\ttarget\tenrol_speaker\ttest_speaker"]
    lines += [f"{t.enrol}\t{t.test}\t{int(t.target)}\t{speakers.get(t.enrol)}\t{speakers.get(t.test)}" for t in trials]
    text = "\n".join(lines) + "\n"
    digest = hashlib.sha256(text.encode()).hexdigest()
    folder = os.path.join(out_dir, "speaker_trials")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"trials-{digest[:12]}.tsv")
    if not os.path.isfile(path):
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    return {"file": os.path.relpath(path, out_dir), "sha256": digest}


__all__ = ["ENCODERS", "ResemblyzerEncoder", "Speaker", "SpeakerConfig", "SpeakerEncoder", "Trial",
           "build_trials", "equal_error_rate", "save_trials", "short_report"]
