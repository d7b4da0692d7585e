"""``bench data``: rebuild, verify and describe the built-in corpus.

Thin commands over :mod:`bench.datasets.synth_build` and :mod:`bench.datasets.synth_speech`.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

CORPORA = ("synth-speech",)

EXAMPLES = """\
examples:
  bench data info synth-speech              counts per accent, speaker, pitch class, split; F0 per voice
  bench data verify synth-speech            check the shipped files against SHA256SUMS
  bench data build synth-speech             regenerate from recipe.json, compare with the frozen files
  bench data build synth-speech --out DIR   keep the rebuilt corpus in DIR
  bench data build synth-speech-extra --out DIR
                                            more training speech for bench train rvq (no test
                                            voice or sentence; 69 minutes, ~30 s to build)
"""


def add_data_command(sub) -> None:
    p = sub.add_parser("data", help="rebuild, verify or describe the built-in corpus",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Rebuild, verify or describe the built-in corpus synth-speech.",
                       epilog=EXAMPLES)
    dsub = p.add_subparsers(dest="data_command", metavar="ACTION")
    b = dsub.add_parser("build", help="regenerate from the recipe and compare with the frozen checksums",
                        description="Regenerate the corpus with espeak-ng (and MBROLA) from the frozen "
                                    "recipe.json, then compare it file by file with the shipped corpus. "
                                    "Exit 0 when the audio matches, 1 when it differs.")
    b.add_argument("corpus", choices=CORPORA + ("synth-speech-extra",))
    b.add_argument("--out", default=None, help="keep the rebuilt corpus here (default: a temporary "
                   "folder; required for synth-speech-extra)")
    b.add_argument("--per-voice", type=int, default=None,
                   help="synth-speech-extra: sentences per voice (default 24, of 80)")
    b.add_argument("--json", action="store_true", help="print the comparison as JSON")
    b.set_defaults(func=cmd_data_build)
    v = dsub.add_parser("verify", help="check the shipped files against SHA256SUMS")
    v.add_argument("corpus", choices=CORPORA)
    v.add_argument("--root", default="", help="another build of the corpus (default: the shipped one)")
    v.set_defaults(func=cmd_data_verify)
    i = dsub.add_parser("info", help="counts per factor and median F0 per voice and pitch class")
    i.add_argument("corpus", choices=CORPORA)
    i.add_argument("--root", default="", help="another build of the corpus (default: the shipped one)")
    i.add_argument("--json", action="store_true", help="machine-readable output")
    i.set_defaults(func=cmd_data_info)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def cmd_data_build(args) -> int:
    if args.corpus == "synth-speech-extra":
        return _build_extra(args)
    from bench.datasets.synth_build import rebuild_and_compare

    report = rebuild_and_compare(args.out, log=lambda msg: print(msg, file=sys.stderr))
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(format_comparison(report))
    return 0 if report["samples_match"] else 1


def _build_extra(args) -> int:
    from bench.datasets.synth_build import BuildError
    from bench.datasets.synth_extra import EXTRA_RECIPE, build_extra

    if not args.out:
        print("error: synth-speech-extra needs --out DIR (it is not shipped)", file=sys.stderr)
        return 2
    try:
        recipe = dict(EXTRA_RECIPE)
        if args.per_voice is not None:
            recipe["sentences_per_voice"] = args.per_voice
        recipe = build_extra(args.out, recipe, log=lambda msg: print(msg, file=sys.stderr))
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(recipe, indent=2))
    else:
        print(f"{recipe['n_items']} items, {recipe['seconds']:.0f} s of audio in {args.out} "
              f"({len(recipe['failed'])} failed); train with: bench train rvq --dataset "
              f"synth-speech:subset=train --dataset manifest:path={args.out}/manifest.jsonl")
    return 1 if recipe["failed"] else 0


def format_comparison(report: dict[str, Any]) -> str:
    lines = [f"{report['identical']} of {report['n_files']} files byte-identical to the frozen corpus"]
    if report["match"]:
        lines.append("MATCH: the rebuilt corpus is identical to the shipped one")
    else:
        for rel in report["missing"]:
            lines.append(f"  missing: {rel}")
        for rel in report["extra"]:
            lines.append(f"  extra:   {rel}")
        for d in report["differ"][:20]:
            if "samples_identical" in d:
                what = ("same decoded samples (encoder bytes differ only)" if d["samples_identical"] else
                        f"samples differ: {d['n_samples_differing']} samples, max {d['max_abs_diff_lsb']} LSB, "
                        f"lengths {d['samples_frozen']} vs {d['samples_new']}")
            else:
                what = d.get("note", "")
            lines.append(f"  differs: {d['path']}: {what}")
        if len(report["differ"]) > 20:
            lines.append(f"  ... and {len(report['differ']) - 20} more")
        lines.append("SAMPLES MATCH (only container bytes differ)" if report["samples_match"] else "MISMATCH")
    frozen, now = report.get("tools_frozen", {}), report.get("tools_now", {})
    changed = [f"{k}: {frozen.get(k)} -> {now.get(k)}" for k in sorted(set(frozen) | set(now))
               if frozen.get(k) != now.get(k)]
    if changed:
        lines.append("tool versions differ from the frozen build: " + "; ".join(changed))
    if report.get("out"):
        lines.append(f"rebuilt corpus kept in {report['out']}")
    return "\n".join(lines)


def cmd_data_verify(args) -> int:
    from bench.datasets.synth_speech import SynthSpeechConfig, SynthSpeechDataset

    ds = SynthSpeechDataset(SynthSpeechConfig(root=args.root), name=args.corpus)
    items = ds.items()
    bad = [it for it in items if it.error]
    for it in bad:
        print(f"  {it.id}: {it.error}")
    print(f"{len(items) - len(bad)} of {len(items)} files match SHA256SUMS in {ds.root}")
    return 1 if bad else 0


def cmd_data_info(args) -> int:
    from bench.datasets.synth_speech import SynthSpeechConfig, SynthSpeechDataset, corpus_stats

    ds = SynthSpeechDataset(SynthSpeechConfig(root=args.root, verify=False), name=args.corpus)
    stats = corpus_stats(ds.items(), ds.root)
    if args.json:
        print(json.dumps(stats, indent=2))
        return 0
    print(f"{args.corpus} {ds.recipe().get('version')}: {stats['n_items']} items, "
          f"{stats['total_duration_s']:.1f} s of audio ({stats['duration_s']['min']:.2f}-"
          f"{stats['duration_s']['max']:.2f} s), {stats['size_mb']:.2f} MB on disk")
    for key in ("accent", "speaker", "pitch_class", "split", "gender"):
        counts = ", ".join(f"{k} {v}" for k, v in stats["counts"][key].items())
        print(f"  {key}: {counts}")
    print(f"  quick subset: {stats['quick']['n_items']} items; "
          + ", ".join(f"{k} {v}" for k, v in stats["quick"]["split_accent_pitch_min_max"].items()))
    print("  median F0 (Hz) per speaker: low / high   [min of high - max of low]")
    for spk, row in stats["f0_by_speaker"].items():
        print(f"    {spk:<7} {row['low']:7.1f} / {row['high']:7.1f}   [{row['gap']:+.1f}]")
    return 0
