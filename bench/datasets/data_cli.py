"""``bench data``: rebuild, verify and describe the built-in corpora.

``verify`` and ``info`` are thin commands over :mod:`bench.datasets.synth_speech` and
:mod:`bench.datasets.minimal_pairs`; ``build`` is the recipe's (:mod:`recipes.synth_speech.cli`),
imported only when it runs.
"""

from __future__ import annotations

import argparse
import json

from bench.recipe_commands import recipe_command

CORPORA = ("synth-speech", "minimal-pairs")

EXAMPLES = """\
examples:
  bench data info synth-speech              counts per accent, speaker, pitch class, split; F0 per voice
  bench data verify synth-speech            check the shipped files against SHA256SUMS
  bench data build synth-speech             regenerate from recipe.json, compare with the frozen files
  bench data build synth-speech --out DIR   keep the rebuilt corpus in DIR
  bench data info minimal-pairs             the US/UK words with their espeak-ng phonemes
  bench data verify minimal-pairs           check the minimal-pairs files against SHA256SUMS
  bench data build synth-speech-extra --out DIR
                                            more training speech for bench train rvq (no test
                                            voice or sentence; 69 minutes, ~30 s to build)
"""


def add_data_command(sub) -> None:
    p = sub.add_parser("data", help="rebuild, verify or describe the built-in corpora",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Rebuild, verify or describe the built-in corpora synth-speech and minimal-pairs.",
                       epilog=EXAMPLES)
    dsub = p.add_subparsers(dest="data_command", metavar="ACTION")
    # Rebuilding is a recipe (recipes/synth_speech), imported only when `bench data build` is parsed.
    recipe_command("build", "recipes.synth_speech.cli:add_build_command",
                   help="regenerate from the recipe and compare with the frozen checksums")(dsub)
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


def _dataset(corpus: str, root: str, verify: bool):
    if corpus == "minimal-pairs":
        from bench.datasets.minimal_pairs import MinimalPairsConfig, MinimalPairsDataset

        return MinimalPairsDataset(MinimalPairsConfig(root=root, verify=verify), name=corpus)
    from bench.datasets.synth_speech import SynthSpeechConfig, SynthSpeechDataset

    return SynthSpeechDataset(SynthSpeechConfig(root=root, verify=verify), name=corpus)


def cmd_data_verify(args) -> int:
    ds = _dataset(args.corpus, args.root, True)
    items = ds.items()
    bad = [it for it in items if it.error]
    for it in bad:
        print(f"  {it.id}: {it.error}")
    print(f"{len(items) - len(bad)} of {len(items)} files match SHA256SUMS in {ds.root}")
    return 1 if bad else 0


def cmd_data_info(args) -> int:
    from bench.datasets.synth_speech import corpus_stats

    ds = _dataset(args.corpus, args.root, False)
    if args.corpus == "minimal-pairs":
        return _info_minimal_pairs(ds, args.json)
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


def _info_minimal_pairs(ds, as_json: bool) -> int:
    from bench.datasets.minimal_pairs import pairs_stats

    stats = pairs_stats(ds.items(), ds.root)
    if as_json:
        print(json.dumps(stats, indent=2, ensure_ascii=False))
        return 0
    print(f"minimal-pairs {ds.recipe().get('version')}: {stats['n_items']} items, "
          f"{stats['total_duration_s']:.1f} s of audio ({stats['duration_s']['min']:.2f}-"
          f"{stats['duration_s']['max']:.2f} s), {stats['size_mb']:.2f} MB on disk")
    for key in ("accent", "pitch_class", "speaker"):
        print(f"  {key}: " + ", ".join(f"{k} {v}" for k, v in stats["counts"][key].items()))
    print("  median F0 (Hz) per speaker: " + ", ".join(
        f"{spk} {row['low']:.0f}/{row['high']:.0f}" for spk, row in stats["f0_by_speaker"].items()))
    print(f"  {len(stats['words'])} words, espeak-ng IPA en-us | en-gb:")
    for word, row in stats["words"].items():
        print(f"    {row['text']:<18} {row['en-us']:<22} {row['en-gb']}")
    return 0
