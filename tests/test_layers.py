"""No module in bench/ imports one above it (issue #17): the layers, lowest first."""

from __future__ import annotations

import ast
import os

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: rank of each top-level room of bench/; a module may import rooms of its rank or below
LAYERS = {
    "bench.types": 0, "bench.config": 0,
    "bench.audio": 1, "bench.registry": 1,
    "bench.codecs": 2, "bench.datasets": 2, "bench.results": 2,
    "bench.store": 3, "bench.metrics": 3,
    "bench.tasks": 4,
    "bench.testing": 5, "bench.run": 5,
    "bench.runner": 6, "bench.leaderboard": 6, "bench.report": 6,  # report: the site; its page look is shared with leaderboard
    "bench.suite": 6, "bench.scorecard": 6, "bench.compare": 6, "bench.listening": 6,  # what `bench run/compare/export-listening` add
    "bench.errors": 7, "bench.cli": 7, "bench.recipe_commands": 7, "bench.__main__": 7, "bench": 7,
    "bench.datasets.data_cli": 7,  # the `bench data` command: CLI code kept beside the datasets
}


def _room(module: str) -> str:
    parts = module.split(".")
    for n in (3, 2, 1):
        if ".".join(parts[:n]) in LAYERS:
            return ".".join(parts[:n])
    raise KeyError(module)


def _imports(path: str, module: str) -> list[tuple[int, str]]:
    tree = ast.parse(open(path, encoding="utf-8").read())
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "bench"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import: resolve against this module's package
                base = module.split(".")[: -node.level] if not path.endswith("__init__.py") else \
                    module.split(".")[: len(module.split(".")) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            if name.split(".")[0] == "bench":
                out.append((node.lineno, name))
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "__import__" and node.args \
                and isinstance(node.args[0], ast.Constant) and str(node.args[0].value).startswith("bench"):
            out.append((node.lineno, str(node.args[0].value)))
    return out


def test_no_module_imports_a_layer_above_it():
    bad = []
    for root, _, files in os.walk(os.path.join(REPO, "bench")):
        for f in files:
            if not f.endswith(".py"):
                continue
            path = os.path.join(root, f)
            rel = os.path.relpath(path, REPO)[:-3].replace(os.sep, ".")
            module = rel[: -len(".__init__")] if rel.endswith(".__init__") else rel
            rank = LAYERS[_room(module)]
            for lineno, target in _imports(path, module):
                if LAYERS[_room(target)] > rank:
                    bad.append(f"{os.path.relpath(path, REPO)}:{lineno} imports {target}")
    assert not bad, "\n".join(bad)
