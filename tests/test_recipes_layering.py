"""Layering (issue #17, point 3): the runtime package does not reach into recipes, and codecs
do not reach into tasks.

Read from the source with ``ast`` (every ``import``, ``from ... import`` and
``__import__("...")`` / ``importlib.import_module("...")`` with a literal name, at any depth,
including imports inside functions), not from what importing a module happens to load.
"""

from __future__ import annotations

import ast
import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _sources(folder: str) -> list[str]:
    out = []
    for root, _, files in os.walk(os.path.join(REPO, folder)):
        out += [os.path.join(root, f) for f in files if f.endswith(".py")]
    return sorted(out)


def _module_name(path: str) -> str:
    rel = os.path.relpath(path, REPO)[:-3].replace(os.sep, ".")
    return rel[: -len(".__init__")] if rel.endswith(".__init__") else rel


def imported_modules(path: str) -> list[tuple[int, str]]:
    """(line, absolute module name) for every import in the file."""
    with open(path, encoding="utf-8") as fh:
        tree = ast.parse(fh.read(), filename=path)
    package = _module_name(path)
    if not path.endswith("__init__.py"):
        package = package.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the file's package
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            found.append((node.lineno, mod))
            found += [(node.lineno, f"{mod}.{alias.name}") for alias in node.names]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            f = node.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
            if name in ("__import__", "import_module"):
                found.append((node.lineno, node.args[0].value))
    return found


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


#: (folder whose modules are checked, package they must not import, why)
RULES = [
    ("bench", "recipes", "bench/ is what a user evaluates with; training and corpus building "
     "are recipes, reached only through bench.recipe_commands by name"),
    ("bench/codecs", "bench.tasks", "a codec is a lower layer than the tasks that measure it"),
]


@pytest.mark.parametrize("folder,forbidden,why", RULES, ids=[f"{f} !-> {p}" for f, p, _ in RULES])
def test_no_import_across_layers(folder, forbidden, why):
    files = _sources(folder)
    assert files, f"no sources under {folder}"
    bad = [f"{os.path.relpath(path, REPO)}:{line}: {mod}"
           for path in files for line, mod in imported_modules(path) if _within(mod, forbidden)]
    assert not bad, f"{folder} must not import {forbidden} ({why}):\n" + "\n".join(bad)


def test_the_checker_sees_every_kind_of_import(tmp_path):
    src = tmp_path / "bench" / "codecs" / "x.py"
    src.parent.mkdir(parents=True)
    src.write_text("import recipes\nfrom recipes.rvq import train\n"
                   "def f():\n    from ..tasks import asr\n    __import__('recipes.rvq.cli')\n"
                   "    importlib.import_module('bench.tasks.asr')\n")
    global REPO
    old, REPO = REPO, str(tmp_path)
    try:
        mods = [m for _, m in imported_modules(str(src))]
    finally:
        REPO = old
    assert sum(_within(m, "recipes") for m in mods) >= 3
    assert "bench.tasks.asr" in mods and "bench.tasks" in mods


def test_recipes_are_named_only_lazily():
    """The CLI reaches the recipes by module name, imported when their command is parsed."""
    import subprocess
    import sys

    code = ("import sys, bench.cli as c; c.build_parser().parse_args(['run', '-c', 'mulaw']); "
            "c.build_parser().parse_args(['data', 'info', 'synth-speech']); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'recipes'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                         env={**os.environ, "PYTHONPATH": REPO})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
