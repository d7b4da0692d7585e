"""``bench data build``: regenerate the corpus synth-speech (or the set minimal-pairs) from its
recipe and compare it with the frozen files, or build the training supplement synth-speech-extra.

Registered lazily by :mod:`bench.datasets.data_cli`: this module is imported only when
``bench data build`` is parsed.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from bench.datasets.data_cli import CORPORA


def add_build_command(dsub) -> None:
    b = dsub.add_parser("build", help="regenerate from the recipe and compare with the frozen checksums",
                        description="Regenerate a built-in corpus with espeak-ng (and MBROLA) from its frozen "
                                    "recipe.json, then compare it file by file with the shipped corpus. "
                                    "Exit 0 when the audio matches, 1 when it differs.")
    b.add_argument("corpus", choices=CORPORA + ("synth-speech-extra", "synth-speech-probe"))
    b.add_argument("--out", default=None, help="keep the rebuilt corpus here (default: a temporary "
                   "folder; required for synth-speech-extra)")
    b.add_argument("--per-voice", type=int, default=None,
                   help="synth-speech-extra: sentences per voice (default 24, of 80)")
    b.add_argument("--json", action="store_true", help="print the comparison as JSON")
    from bench.datasets.synth_speech import PROBE_DEFAULT, PROBE_VERSIONS

    b.add_argument("--corpus-version", dest="corpus_version", default=PROBE_DEFAULT, choices=sorted(PROBE_VERSIONS),
                   help=f"synth-speech-probe: which version to rebuild (default: {PROBE_DEFAULT})")
    b.set_defaults(func=cmd_data_build)


def cmd_data_build(args) -> int:
    if args.corpus == "synth-speech-extra":
        return _build_extra(args)
    if args.corpus == "synth-speech-probe":
        return _build_probe(args)
    if args.corpus == "minimal-pairs":
        from recipes.minimal_pairs.build import rebuild_and_compare
    else:
        from recipes.synth_speech.build import rebuild_and_compare

    report = rebuild_and_compare(args.out, log=lambda msg: print(msg, file=sys.stderr))
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(format_comparison(report))
    return 0 if report["samples_match"] else 1


def _build_extra(args) -> int:
    from recipes.synth_speech.build import BuildError
    from recipes.synth_speech.extra import EXTRA_RECIPE, build_extra

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


def _build_probe(args) -> int:
    import shutil
    import tempfile

    from bench.datasets.synth_speech import probe_root
    from recipes.synth_speech.build import BuildError, compare
    from recipes.synth_speech.probe_corpus import PROBE_RECIPES, build_probe

    version = args.corpus_version
    out = args.out or tempfile.mkdtemp(prefix="synth-speech-probe-")
    try:
        build_probe(out, dict(PROBE_RECIPES[version]), log=lambda msg: print(msg, file=sys.stderr))
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report = compare(out, probe_root(version))
    report["out"] = args.out
    print(json.dumps(report, indent=2) if args.json else format_comparison(report))
    if not args.out:
        shutil.rmtree(out, ignore_errors=True)
    return 0 if report["samples_match"] else 1


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
