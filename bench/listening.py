"""Listening-test material: ``bench export-listening``.

For N items chosen reproducibly (the seeded subset of ``bench run --limit N``), every condition
is the 16 kHz signal the metrics measure (the reconstruction resampled to 16 kHz, aligned to the
reference and cut to its length), written as a 16-bit WAV at 48 kHz by default (``--sample-rate``;
resampled with soxr, which adds no content above 8 kHz): what listeners hear is what was
measured. Loudness is left untouched (no normalisation, no gain); samples beyond full scale are
clipped to it when written as 16-bit PCM, and counted in ``listening.json``.

Conditions of the MUSHRA format (ITU-R BS.1534): the hidden reference (the original), two
anchors, a 3.5 kHz low-pass of the reference (the standard's low anchor: an 8th-order
Butterworth, run forwards and backwards so it adds no delay) and the ``opus-6k`` codec, and the
codecs asked for; webMUSHRA adds the reference to the rated conditions itself (the hidden
reference), so the configuration lists only the anchors and codecs as stimuli. The A/B format
writes pairs of the codecs asked for (every pair, for each item; a single codec is paired with
the reference), in an A/B order drawn from the seed, as ``pairs.csv`` and in ``listening.json``
(webMUSHRA's ``paired_comparison`` page compares one condition with the reference, not two
conditions, so no webMUSHRA configuration is written for it).

Folder layout (``OUT``)::

    OUT/config.yaml                 (mushra only) webMUSHRA configuration: one page per item, in random
                                    order, then a finish page
    OUT/listening.json              what was exported: items, conditions, files, codec records, notes
    OUT/pairs.csv                   (ab only) pair, item, condition and file of A and of B
    OUT/audio/<item>/<condition>.wav

webMUSHRA resolves audio paths from its own root: copy ``OUT`` into its ``configs/`` folder as
``configs/NAME`` and open ``?config=NAME/config.yaml`` (``--web-prefix`` changes the prefix
written into the configuration; by default ``configs/<name of OUT>/``).
"""

from __future__ import annotations

import csv
import dataclasses
import itertools
import json
import os
import re
from typing import Any, Callable

import numpy as np

from bench.audio import METRIC_SR, check_signal, resample
from bench.results import portable_spec

FORMATS = ("mushra", "ab")
#: The low-pass anchor's cut-off (ITU-R BS.1534-3: 3.5 kHz) and the coded anchor.
LOWPASS_HZ = 3500.0
CODEC_ANCHOR = "opus-6k"
DEFAULT_DATASET = "synth-speech-test"
#: Rate of the files written: browsers' audio contexts mostly run at 48 kHz, and webMUSHRA checks
#: that stimuli match it. The content is the 16 kHz signal the metrics measured, resampled (soxr).
OUTPUT_SR = 48_000


class ListeningError(ValueError):
    """The export cannot be made (no codec, too few items, an unwritable folder)."""


def slug(text: str) -> str:
    """A file-name-safe form of a codec spec or item id."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "x"


def lowpass(wave: np.ndarray, sr: int, cutoff_hz: float = LOWPASS_HZ) -> np.ndarray:
    """Zero-phase 8th-order Butterworth low-pass (the MUSHRA low anchor)."""
    from scipy.signal import butter, sosfiltfilt

    sos = butter(8, cutoff_hz, btype="low", fs=sr, output="sos")
    return sosfiltfilt(sos, wave.astype(np.float64)).astype(np.float32)


def write_wav(path: str, wave: np.ndarray, sr: int = METRIC_SR) -> int:
    """16-bit PCM WAV, no gain; returns how many samples were beyond full scale (clipped)."""
    import soundfile as sf

    clipped = int(np.sum(np.abs(wave) > 1.0))
    sf.write(path, np.clip(wave, -1.0, 1.0), sr, subtype="PCM_16")
    return clipped


@dataclasses.dataclass(frozen=True)
class Condition:
    name: str  # file stem and the key in the configuration
    kind: str  # reference, anchor, codec
    spec: str | None = None  # codec spec (for anchors made by a codec, and codecs)


def _conditions(codecs: list[str], fmt: str) -> list[Condition]:
    out = [Condition("reference", "reference")]
    if fmt == "mushra":
        out += [Condition("anchor-lp35", "anchor"), Condition(f"anchor-{slug(CODEC_ANCHOR)}", "anchor", CODEC_ANCHOR)]
    seen = set()
    for spec in codecs:
        name = slug(spec)
        if name in seen or name in {c.name for c in out}:
            raise ListeningError(f"codec {spec!r} is listed twice (or clashes with a reserved condition name)")
        seen.add(name)
        out.append(Condition(name, "codec", spec))
    return out


def export_listening(codecs: list[str], out: str, *, fmt: str = "mushra", n_items: int = 8,
                     dataset: str = DEFAULT_DATASET, seed: int = 0, max_lag: float = 0.25,
                     sample_rate: int = OUTPUT_SR,
                     web_prefix: str | None = None, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Write the audio and configuration of a listening test; returns what ``listening.json`` holds."""
    from bench.run.options import build_codec, build_dataset, select_items
    from bench.run.pipeline import run_codec

    log = log or (lambda msg: None)
    if fmt not in FORMATS:
        raise ListeningError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
    if not codecs:
        raise ListeningError("name at least one codec (-c CODEC)")
    if sample_rate < METRIC_SR:
        raise ListeningError(f"--sample-rate must be at least {METRIC_SR} (the rate measured), got {sample_rate}")
    if n_items < 1:
        raise ListeningError(f"--items must be at least 1, got {n_items}")
    conditions = _conditions(codecs, fmt)
    built = {c.spec: build_codec(c.spec) for c in conditions if c.spec}  # bad specs fail before any work
    ds = build_dataset(dataset)
    items = select_items(ds.items(), n_items, seed)
    if not items:
        raise ListeningError(f"dataset {ds.name} has no items")
    try:
        os.makedirs(os.path.join(out, "audio"), exist_ok=True)
    except OSError as exc:
        raise ListeningError(f"cannot write the output folder {out}: {exc.strerror or exc}") from None
    prefix = web_prefix if web_prefix is not None else f"configs/{os.path.basename(os.path.normpath(out))}/"

    exported: list[dict[str, Any]] = []
    failed: dict[str, str] = {}
    clipped: dict[str, int] = {}
    for item in items:
        try:
            audio = item.load()
            check_signal(audio.wave, audio.sample_rate)
        except Exception as exc:  # one bad item never stops the others
            failed[item.id] = f"cannot load: {exc}"
            continue
        waves: dict[str, np.ndarray] = {}
        why = None
        for cond in conditions:
            if cond.kind == "codec" or cond.spec:
                try:
                    output, ref16 = run_codec(built[cond.spec], audio.wave, audio.sample_rate, max_lag)
                except Exception as exc:
                    why = f"{cond.spec} failed: {type(exc).__name__}: {exc}"
                    break
                waves[cond.name] = output.recon
                waves.setdefault("reference", ref16)
        if why:
            failed[item.id] = why
            log(f"  {item.id}: {why}")
            continue
        if "reference" not in waves:
            waves["reference"] = resample(audio.wave, audio.sample_rate, METRIC_SR).astype(np.float32)
        if fmt == "mushra":
            waves["anchor-lp35"] = lowpass(waves["reference"], METRIC_SR)
        folder = os.path.join(out, "audio", slug(item.id))
        os.makedirs(folder, exist_ok=True)
        files = {}
        for cond in conditions:
            rel = f"audio/{slug(item.id)}/{cond.name}.wav"
            wave = waves[cond.name] if sample_rate == METRIC_SR else resample(waves[cond.name], METRIC_SR, sample_rate)
            n = write_wav(os.path.join(out, rel), wave, sample_rate)
            if n:
                clipped[rel] = n
            files[cond.name] = rel
        exported.append({"id": item.id, "files": files, "duration_s": len(waves["reference"]) / METRIC_SR})
        log(f"  {item.id}: {len(files)} files")
    if not exported:
        raise ListeningError(f"no item could be exported ({'; '.join(f'{k}: {v}' for k, v in failed.items())})")

    rng = np.random.default_rng(seed)
    manifest: dict[str, Any] = {
        "kind": "bench.listening", "schema_version": 1, "format": fmt, "seed": seed,
        "dataset": {"spec": portable_spec(dataset), "name": ds.name, "n_items_total": len(ds.items())},
        "sample_rate": sample_rate, "measured_rate": METRIC_SR, "sample_format": "PCM_16",
        "loudness": "untouched: no normalisation or gain; beyond-full-scale samples clipped (see clipped)",
        "conditions": [dataclasses.asdict(c) for c in conditions],
        "codecs": {c.spec: {"config_hash": built[c.spec].config_hash, "version": built[c.spec].version}
                   for c in conditions if c.spec},
        "items": exported, "failed": failed, "clipped": clipped,
        "web_prefix": prefix,
    }
    if fmt == "mushra":
        config = _mushra_config(exported, conditions, prefix, out)
    else:
        pairs = _pairs(exported, conditions, rng)
        manifest["pairs"] = pairs
        _write_pairs_csv(os.path.join(out, "pairs.csv"), pairs)
    if fmt == "mushra":
        _write_yaml(os.path.join(out, "config.yaml"), config)
    with open(os.path.join(out, "listening.json"), "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, indent=2, sort_keys=True)
        fh.write("\n")
    return manifest


def _test_id(out: str) -> str:
    return slug(os.path.basename(os.path.normpath(out))) or "bench_listening"


def _mushra_config(items: list[dict], conditions: list[Condition], prefix: str, out: str) -> dict[str, Any]:
    pages = []
    for i, it in enumerate(items):
        pages.append({
            "type": "mushra", "id": f"trial{i + 1}", "name": f"Item {i + 1}",
            "content": "Rate the basic audio quality of each condition against the reference.",
            "showWaveform": False, "enableLooping": True,
            "reference": prefix + it["files"]["reference"],
            # our own anchors are in the stimuli; webMUSHRA's generated ones would duplicate them
            "createAnchor35": False, "createAnchor70": False,
            # webMUSHRA adds the reference to the rated conditions itself (the hidden reference)
            "stimuli": {c.name: prefix + it["files"][c.name] for c in conditions if c.kind != "reference"},
        })
    return _config(out, "MUSHRA", [["random", *pages]] if len(pages) > 1 else pages)


def _pairs(items: list[dict], conditions: list[Condition], rng: np.random.Generator) -> list[dict[str, Any]]:
    codecs = [c for c in conditions if c.kind == "codec"]
    combos = list(itertools.combinations(codecs, 2)) or [(conditions[0], codecs[0])]
    pairs = []
    for it in items:
        for x, y in combos:
            a, b = (x, y) if rng.random() < 0.5 else (y, x)
            pairs.append({"pair": f"p{len(pairs) + 1:03d}", "item": it["id"], "a": a.name, "b": b.name,
                          "a_file": it["files"][a.name], "b_file": it["files"][b.name],
                          "reference_file": it["files"]["reference"]})
    return pairs


def _write_pairs_csv(path: str, pairs: list[dict[str, Any]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=["pair", "item", "a", "b", "a_file", "b_file", "reference_file"],
                           lineterminator="\n")
        w.writeheader()
        w.writerows(pairs)


def _config(out: str, kind: str, pages: list) -> dict[str, Any]:
    return {
        "testname": f"bench {kind} listening test",
        "testId": _test_id(out),
        "bufferSize": 2048,
        "stopOnErrors": True,
        "showButtonPreviousPage": True,
        "remoteService": "service/write.php",
        "pages": pages + [{"type": "finish", "name": "Thank you", "content": "Thank you for listening.",
                           "showResults": False, "writeResults": True}],
    }


def _write_yaml(path: str, config: dict[str, Any]) -> None:
    import yaml

    with open(path, "w", encoding="utf-8") as fh:
        fh.write("# webMUSHRA configuration written by bench export-listening (see listening.json)\n")
        yaml.safe_dump(config, fh, sort_keys=False, allow_unicode=True, default_flow_style=False)
