"""Every command in the README and docs runs as written (issue #15, point 8).

Each ``bench ...`` line of a shell block is parsed by the real argument parser and its codec,
task and dataset specs are built through the registries (an unknown option or preset fails
here); files it reads from the repository must exist; the cheap ones (listing, tables of the
committed records, corpus info) are run for real. The plugin example's Python blocks are
written to a package and its conformance test is run with pytest, as a plugin author would.
"""

from __future__ import annotations

import glob
import os
import re
import shlex
import subprocess
import sys

import pytest

from bench.cli import build_parser, main
from bench.runner import build_codec, build_dataset, build_task

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = ["README.md"] + sorted(os.path.relpath(p, REPO) for p in glob.glob(os.path.join(REPO, "docs", "*.md")))
#: Commands cheap enough to run for real, as written, from the repository root.
RUN_FOR_REAL = ("list", "leaderboard results/records", "data info", "data verify")


def _blocks(lang: str) -> list[tuple[str, str]]:
    out = []
    for doc in DOCS:
        with open(os.path.join(REPO, doc), encoding="utf-8") as fh:
            text = fh.read()
        for m in re.finditer(r"^[ \t]*```(\w*)\n(.*?)^[ \t]*```", text, re.S | re.M):
            if m.group(1) in lang.split("|"):
                out.append((doc, m.group(2)))
    return out


def bench_commands() -> list[tuple[str, str]]:
    """(document, command) for every ``bench`` command in a shell block."""
    cmds = []
    for doc, block in _blocks("bash|sh|"):
        block = re.sub(r"\\\n\s*", " ", block)
        for line in block.splitlines():
            for part in line.split("&&"):
                part = part.split(" # ")[0].strip()
                if part.startswith("bench "):
                    cmds.append((doc, part))
    return cmds


COMMANDS = bench_commands()


def test_the_docs_have_commands():
    assert len(COMMANDS) > 20


@pytest.mark.parametrize("doc,command", COMMANDS, ids=[c for _, c in COMMANDS])
def test_documented_command_is_valid(doc, command):
    argv = shlex.split(command)[1:]
    try:
        args = build_parser().parse_args(argv)
    except SystemExit:
        pytest.fail(f"{doc}: `{command}` is rejected by the argument parser")
    if args.command == "run":
        for spec in args.codec:
            build_codec(spec)
        for spec in args.tasks or ():
            build_task(spec)
        if args.dataset:
            build_dataset(args.dataset)
    if args.command == "check":
        assert os.path.isfile(os.path.join(REPO, args.baseline)), f"{doc}: {args.baseline} does not exist"
    if any(" ".join(argv).startswith(prefix) for prefix in RUN_FOR_REAL):
        cwd = os.getcwd()
        try:
            os.chdir(REPO)
            assert main(argv) == 0, f"{doc}: `{command}` failed"
        finally:
            os.chdir(cwd)


def test_plugin_example_runs_as_written(tmp_path):
    blocks = [b for doc, b in _blocks("python") if doc == "README.md"]
    codec_src = next(b for b in blocks if "class MyCodec" in b)
    test_src = next(b for b in blocks if "CONFORMANCE_CHECKS" in b)
    pkg = tmp_path / "my_package"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "codec.py").write_text(codec_src)
    (tmp_path / "test_my_codec.py").write_text(test_src)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_my_codec.py"],
                          cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert " passed" in proc.stdout
