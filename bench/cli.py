"""The ``bench`` command: thin commands over library functions."""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap

EXAMPLES = """\
examples:
  bench list codecs                         what can be run (with measured bitrate facts)
  bench run --codec mulaw                   8-bit mu-law: every installed task, then a scorecard
  bench run --codec mulaw:bits=4 --limit 20 options after a colon, comma-separated
  bench run --codec identity --task reconstruction --dataset manifest:path=my/manifest.jsonl
  bench run --codec mulaw-4bit --workers 2 --out runs/
  bench leaderboard runs/results --format latex > table.tex
  bench check --baseline results/baseline-ci.json runs/results
  bench report runs/results --out site      a static site: plots, audio, provenance
"""


def _add_list(sub) -> None:
    p = sub.add_parser("list", help="list codecs, tasks or datasets",
                       description="List registered codecs, tasks and datasets (builtin and plugins).")
    p.add_argument("kind", nargs="?", choices=["codecs", "tasks", "datasets"], help="only this kind")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_list)


def cmd_list(args) -> int:
    from bench.registry import CODECS, DATASETS, TASKS

    import bench.codecs  # noqa: F401  (registers builtins)
    import bench.datasets  # noqa: F401
    import bench.tasks  # noqa: F401

    kinds = {"codecs": CODECS, "tasks": TASKS, "datasets": DATASETS}
    chosen = [args.kind] if args.kind else list(kinds)
    out = {}
    for kind in chosen:
        out[kind] = [{"name": e.name, "aliases": list(e.aliases), "description": e.description,
                      "source": e.source, "options": e.defaults} for e in kinds[kind].entries()]
        if kind == "codecs":
            for e, row in zip(kinds[kind].entries(), out[kind]):
                row["unavailable"] = _unavailable(e)
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    for kind, entries in out.items():
        print(f"{kind}:")
        width = max((len(e["name"]) for e in entries), default=0)
        for e in entries:
            alias = f" (alias: {', '.join(e['aliases'])})" if e["aliases"] else ""
            why = f" (unavailable: {e['unavailable']})" if e.get("unavailable") else ""
            print(f"  {e['name']:<{width}}  {e['description']}{alias}{why}")
    return 0


def _unavailable(entry) -> str | None:
    """A codec's own reason why it cannot run here (``Codec.unavailable_reason``), or None."""
    try:
        cls = entry.load()
        hook = getattr(cls, "unavailable_reason", None)  # plugins may not derive from Codec
        return hook(dict(entry.defaults)) if callable(hook) else None
    except Exception as exc:  # a broken plugin must not break the listing
        return f"cannot load ({type(exc).__name__}: {exc})"


def _add_run(sub) -> None:
    p = sub.add_parser(
        "run", help="run a codec over a dataset with tasks",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Encode and decode every item, measure each task, write per-item rows to "
                    "OUT/bench.sqlite and result records to OUT/results/. Work already done "
                    "(same codec config, same item content) is reused.",
        epilog=EXAMPLES,
    )
    p.add_argument("--codec", "-c", required=True, action="append",
                   help="codec name or preset, with options: mulaw:bits=4 (repeatable)")
    p.add_argument("--task", "-t", action="append", dest="tasks",
                   help="task name (repeatable; default: every installed task, then a scorecard)")
    p.add_argument("--dataset", "-d", default=None,
                   help="dataset name with options (default: each task's own dataset, e.g. reconstruction "
                        "on synth-speech-test, pitch on synth-speech; see docs/compare.md)")
    p.add_argument("--limit", type=int, default=None, help="use a seeded random subset of N items")
    p.add_argument("--seed", type=int, default=0, help="seed for subsets and bootstrap intervals (default 0)")
    p.add_argument("--workers", "-j", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--out", "-o", default="bench-out", help="output directory (default bench-out)")
    p.add_argument("--max-lag", type=float, default=0.25, help="alignment search bound in seconds (default 0.25)")
    p.add_argument("--threads", type=int, default=1,
                   help="BLAS/torch threads per worker (default 1; recorded, part of the cache key)")
    p.add_argument("--timeout", type=float, default=None,
                   help="seconds one item may take before its worker is stopped and the item failed (recorded)")
    p.add_argument("--max-duration", type=float, default=300.0,
                   help="longest item measured, in seconds (default 300; bounds memory; longer items fail with the reason)")
    p.add_argument("--in-process", action="store_true",
                   help="with one worker, run items in this process (faster start; a crash in a codec then stops the run)")
    p.add_argument("--executor", choices=["auto", "inprocess", "process", "dask"], default="auto",
                   help="where items run: auto (a worker pool, or this process with --in-process), "
                        "inprocess, process, or dask (a LocalCluster, or --scheduler); recorded")
    p.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                   help="run on this existing Dask cluster (implies --executor dask)")
    p.add_argument("--retry-failed", action="store_true",
                   help="measure again items and task rows that failed in earlier runs")
    p.add_argument("--ceiling", default="results/records", metavar="DIR",
                   help="where the scorecard looks for identity records when the output folder has none "
                        "(default results/records, the committed records)")
    p.add_argument("--no-scorecard", action="store_true", help="do not end with the scorecard")
    p.add_argument("--progress", choices=["auto", "bar", "lines", "off"], default="auto",
                   help="progress on stderr: a bar on a terminal, a plain line every 10 s otherwise (auto)")
    p.add_argument("--no-progress", action="store_true", help="same as --progress off")
    p.set_defaults(func=cmd_run)


def cmd_run(args) -> int:
    from bench.audio import file_hash_cache
    from bench.runner import shared_pool

    # one worker pool for every codec and dataset: task models load once per worker; the hashes of
    # model weights and corpus files kept in the folder for the next run
    with shared_pool(), file_hash_cache(os.path.join(args.out, "cache", "file_hashes.json")):
        return _cmd_run(args)


def _cmd_run(args) -> int:
    from bench.runner import RunOptions, build_codec, run
    from bench.suite import fitting_tasks, installed_tasks, plan

    progress = "off" if args.no_progress else args.progress
    log = lambda msg: print(msg, file=sys.stderr)  # noqa: E731
    named = bool(args.tasks)
    not_run: dict[str, str] = {}
    if named:
        specs = list(args.tasks)
    else:  # every installed task, each on its own dataset unless --dataset says otherwise
        specs, not_run = installed_tasks()
        for name, why in not_run.items():
            log(f"task {name} not run: {why}")
    groups = plan(specs, args.dataset)
    for codec in args.codec:
        build_codec(codec)  # a bad codec spec: one line before any work
        records, skipped = [], dict(not_run)
        for group in groups:
            if not named:
                group, left_out = fitting_tasks(group, args.limit, args.seed)
                for name, why in left_out.items():
                    log(f"task {name} not run on this dataset: {why}")
                skipped.update(left_out)
                if group is None:
                    continue
            opts = RunOptions(
                codec=codec, dataset=group.dataset, tasks=group.tasks,
                limit=args.limit, seed=args.seed, workers=args.workers, out=args.out,
                max_lag=args.max_lag, progress=progress, threads=args.threads, retry_failed=args.retry_failed,
                timeout=args.timeout, max_duration=args.max_duration, isolate=not args.in_process,
                executor=args.executor, scheduler=args.scheduler,
            )
            opts.validate()
            report = run(opts, log=log)
            for record, path in zip(report.records, report.paths):
                _print_summary(record, path)
            records += report.records
            print(f"done in {report.seconds:.1f} s ({report.n_computed} of {report.n_items} items computed; "
                  f"{report.cpu_line()})", file=sys.stderr)
        if records and not args.no_scorecard:
            _print_scorecard(records, skipped, args)
    return 0


def _print_scorecard(records: list[dict], not_run: dict[str, str], args) -> None:
    from bench.scorecard import ceiling_pools, find_ceilings, render

    ceilings = find_ceilings(records, ceiling_pools(os.path.join(args.out, "results"), args.ceiling))
    print()
    print(render(records, ceilings, not_run), end="")


def _print_summary(record: dict, path: str) -> None:
    c = record["counts"]
    br = (record["codec"].get("bitrate") or {}).get("token_kbps") or {}
    kbps = f"{br['value']:.2f} kbps" if br.get("value") is not None else "? kbps"
    print(f"{record['codec']['name']} / {record['dataset']['name']} / {record['task']['name']} "
          f"v{record['task']['version']}: {kbps}, {c['measured']}/{c['requested']} measured, {c['failed']} failed")
    for reason, n in c["failure_reasons"].items():
        print(f"    failed x{n}: {reason}")
    item_reasons = set(c["failure_reasons"])
    for name, mv in record["metrics"].items():
        # reasons of this metric alone (whole-item failures are listed above)
        own = {r: n for r, n in (mv.get("failures") or {}).items() if r not in item_reasons}
        why = "".join(f"\n{'':14}failed x{n}: {r}" for r, n in own.items())
        if mv["value"] is None:
            print(f"  {name:>10}: not measured ({mv['n_failed']} failed){why}")
            continue
        fails = f", {mv['n_failed']} failed" if mv["n_failed"] else ""
        ci = (f" [{mv['ci_low']:.4g}, {mv['ci_high']:.4g}]" if mv.get("ci_low") is not None else "")
        print(f"  {name:>10}: {mv['value']:.4g}{ci} {mv['unit']} (n={mv['n']}{fails}){why}")
    print(f"  -> {path}")


def _add_leaderboard(sub) -> None:
    p = sub.add_parser("leaderboard", help="tables from result records",
                       description="Build tables from result records (files or folders).")
    p.add_argument("paths", nargs="*", default=["bench-out/results"], help="record files or folders")
    p.add_argument("--format", "-f", default="md", choices=["md", "csv", "latex", "html"])
    p.add_argument("--task", help="only this task")
    p.add_argument("--metric", action="append", dest="metrics", help="only these metrics (repeatable)")
    p.add_argument("--output", help="write to this file instead of stdout")
    p.add_argument("--section", choices=["keep"], default=None,
                   help="keep: only the table 'What do the tokens keep?' (pitch and accent: ceiling, "
                        "learned token probe, ABX, verdict; md or csv)")
    p.set_defaults(func=cmd_leaderboard)


def cmd_leaderboard(args) -> int:
    from bench.leaderboard import leaderboard
    from bench.results import find_records

    if getattr(args, "section", None) == "keep":
        from bench.keep import keep_table

        text = keep_table(find_records(args.paths), fmt="csv" if args.format == "csv" else "md")
    else:
        text = leaderboard(find_records(args.paths), fmt=args.format, task=args.task, metrics=args.metrics)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        sys.stdout.write(text)
    return 0


def _add_report(sub) -> None:
    p = sub.add_parser(
        "report", help="a static HTML site from result records (plots, audio, provenance)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Write a self-contained site (open OUT/index.html from disk): sortable leaderboards, "
                    "rate-distortion plots, RVQ depth curves, probe bars with chance levels, a page per codec "
                    "with audio players (items re-made through the codec) and the records' provenance.",
        epilog="examples:\n  bench report results/records --out report-site\n"
               "  bench report runs/results --out site --items 5 --seed 1\n"
               "  bench report runs/results --out site --no-audio",
    )
    p.add_argument("paths", nargs="*", default=["bench-out/results"], help="record files or folders")
    p.add_argument("--out", "-o", required=True, help="folder to write the site into")
    p.add_argument("--items", type=int, default=3, help="items drawn (seeded) per codec page for listening (3)")
    p.add_argument("--seed", type=int, default=0, help="seed of the item draw (0)")
    p.add_argument("--no-audio", action="store_true", help="no players (does not load any codec)")
    p.set_defaults(func=cmd_report)


def cmd_report(args) -> int:
    from bench.report import build_report

    if args.items < 0:
        from bench.results import ResultError

        raise ResultError(f"--items must be 0 or more, got {args.items}")
    s = build_report(args.paths, args.out, n_samples=args.items, seed=args.seed, audio=not args.no_audio,
                     log=lambda msg: print(msg, file=sys.stderr))
    for problem in s.problems:
        print(f"note: {problem}", file=sys.stderr)
    print(f"report: {s.n_records} records, {s.n_codecs} codec pages, {s.n_plots} plots, {s.n_clips} reconstructions "
          f"in {s.seconds:.1f} s -> {os.path.join(s.out_dir, 'index.html')}")
    return 0


def _add_check(sub) -> None:
    p = sub.add_parser("check", help="regression gate against a committed baseline",
                       description="Compare result records with a baseline; exit 1 on a regression.")
    p.add_argument("paths", nargs="*", default=["bench-out/results"], help="record files or folders")
    p.add_argument("--baseline", required=True, help="baseline JSON file (the committed one: results/baseline-ci.json)")
    p.add_argument("--write", action="store_true", help="write the baseline from the records instead")
    p.add_argument("--summary", metavar="FILE",
                   help="also append a Markdown summary of what moved to FILE (e.g. $GITHUB_STEP_SUMMARY; "
                        "'-' for stdout); see docs/ci.md")
    p.set_defaults(func=cmd_check)


def cmd_check(args) -> int:
    from bench.leaderboard import check, load_baseline, make_baseline
    from bench.results import find_records

    records = find_records(args.paths)
    if args.write:
        old_tol = load_baseline(args.baseline).get("tolerances") if os.path.exists(args.baseline) else None
        with open(args.baseline, "w", encoding="utf-8") as fh:
            json.dump(make_baseline(records, old_tol), fh, indent=2, sort_keys=True)
            fh.write("\n")
        print(f"wrote baseline with {len(records)} record(s) to {args.baseline}")
        return 0
    if not os.path.isfile(args.baseline):
        from bench.results import ResultError

        raise ResultError(f"baseline not found: {args.baseline} (write one with --write)")
    baseline = load_baseline(args.baseline)
    ok, lines = check(records, baseline)
    print("\n".join(lines))
    if args.summary:
        from bench.leaderboard import gate, gate_summary

        text = gate_summary(gate(records, baseline), title=f"bench check against {os.path.basename(args.baseline)}")
        if args.summary == "-":
            sys.stdout.write("\n" + text)
        else:
            with open(args.summary, "a", encoding="utf-8") as fh:  # a job summary collects several steps
                fh.write(text + "\n")
    return 0 if ok else 1


def _add_compare(sub) -> None:
    p = sub.add_parser(
        "compare", help="paired comparison of codecs on the items both measured",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Compare A with each of B, C, ... on the items both measured: per-item differences, "
                    "paired bootstrap intervals, Wilcoxon signed-rank p-values (Holm-corrected across "
                    "metrics), a verdict per metric, wins/ties/losses. A side is a record file or folder, "
                    "or a codec label looked up in --results.",
        epilog="examples:\n  bench compare rvq-8q mp3-16k\n  bench compare rvq-8q mp3-16k opus-16k --format latex\n"
               "  bench compare runs/new/results runs/old/results --format json",
    )
    p.add_argument("sides", nargs="+", metavar="A B [C ...]", help="codec labels or record files/folders")
    p.add_argument("--results", default="results/records",
                   help="where codec labels are looked up (default results/records)")
    p.add_argument("--format", "-f", default="md", choices=["md", "latex", "json"])
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--alpha", type=float, default=0.05, help="significance level after Holm (default 0.05)")
    p.add_argument("--output", help="write to this file instead of stdout")
    p.set_defaults(func=cmd_compare)


def cmd_compare(args) -> int:
    from bench.compare import compare, render

    text = render(compare(args.sides, args.results, seed=args.seed, alpha=args.alpha), args.format)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        sys.stdout.write(text)
    return 0


def _add_export_listening(sub) -> None:
    p = sub.add_parser(
        "export-listening", help="audio and configuration for a MUSHRA or A/B listening test",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Write the audio of N reproducibly chosen items through each codec (16-bit WAV, "
                    "loudness untouched) and a webMUSHRA configuration (--format mushra: hidden "
                    "reference, a 3.5 kHz low-pass and opus-6k as anchors, the codecs) or a list of A/B "
                    "pairs (--format ab). See docs/listening.md.",
        epilog="examples:\n  bench export-listening --format mushra -c rvq-8q -c mp3-16k --items 8 --out mushra/\n"
               "  bench export-listening --format ab -c rvq-8q -c opus-8k --items 20 --out ab/",
    )
    p.add_argument("--format", "-f", choices=["mushra", "ab"], default="mushra")
    p.add_argument("--codec", "-c", action="append", required=True, dest="codecs", help="codec spec (repeatable)")
    p.add_argument("--items", "-n", type=int, default=8, help="how many items (a seeded subset; default 8)")
    p.add_argument("--dataset", "-d", default="synth-speech-test", help="dataset (default synth-speech-test)")
    p.add_argument("--seed", type=int, default=0, help="seed for the items and the A/B order (default 0)")
    p.add_argument("--sample-rate", type=int, default=48000,
                   help="rate of the files written (default 48000; the content is the 16 kHz signal measured)")
    p.add_argument("--web-prefix", default=None,
                   help="prefix of audio paths in config.yaml (default configs/<name of --out>/)")
    p.add_argument("--out", "-o", required=True, help="output folder")
    p.set_defaults(func=cmd_export_listening)


def cmd_export_listening(args) -> int:
    from bench.listening import export_listening

    manifest = export_listening(args.codecs, args.out, fmt=args.format, n_items=args.items, dataset=args.dataset,
                                seed=args.seed, sample_rate=args.sample_rate, web_prefix=args.web_prefix,
                                log=lambda msg: print(msg, file=sys.stderr))
    n = len(manifest["items"])
    what = (f"{len(manifest['pairs'])} A/B pairs" if args.format == "ab"
            else f"{len(manifest['conditions'])} conditions per item")
    print(f"wrote {n} items, {what}, to {args.out}" +
          (f" ({len(manifest['failed'])} items failed: see listening.json)" if manifest["failed"] else ""))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bench", formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.dedent("""\
            bench: measure what audio tokenizers keep. Codecs are plugins; tasks measure
            reconstruction quality and more; results are schema-versioned records."""),
        epilog=EXAMPLES,
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
    return parser


#: Subcommand builders; each adds a parser and sets ``func``.
COMMANDS = [_add_list, _add_run, _add_leaderboard, _add_report, _add_check, _add_compare, _add_export_listening]
COMMANDS.append(__import__("bench.datasets.data_cli", fromlist=["_"]).add_data_command)
COMMANDS.append(__import__("bench.cost", fromlist=["_"]).add_cost_command)
# A recipe (recipes/rvq), outside the runtime package: imported only when `bench train` is parsed.
COMMANDS.append(__import__("bench.recipe_commands", fromlist=["_"]).recipe_command(
    "train", "recipes.rvq.cli:add_train_command", help="train one of our own codecs (rvq)"))


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from importlib.metadata import version

        print(f"bench {version('bench')}")
        return 0
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from bench.errors import USER_ERRORS

    try:
        rc = int(args.func(args) or 0)
        sys.stdout.flush()  # inside the try: a closed pipe at exit is handled below
        return rc
    except BrokenPipeError:
        # the reader went away (`bench list --json | head`): stop quietly, as cat would
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except OSError:
            pass
        return 141
    except USER_ERRORS as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bench: interrupted; finished items are saved, run again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
