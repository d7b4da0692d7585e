"""Subcommands whose code is a recipe (``recipes/``, outside the runtime package), built lazily.

``bench train rvq`` and ``bench data build`` train our codec and rebuild the corpus; evaluating
needs neither. Their parsers and code live in ``recipes/``, and ``bench`` imports that module
only when the command is parsed: ``bench run``, ``bench list`` and ``bench --help`` never import
it (``bench --help`` lists the command with the short help given here). Where ``recipes`` is
not installed the command fails with one line that says so.
"""

from __future__ import annotations

import argparse
import importlib
from typing import Any, Callable

INSTALL_HINT = ("it is a recipe (recipes/ in bench's source tree), not installed here: "
                "install bench from its repository with ./install.sh (pip install -e .)")


def recipe_command(name: str, target: str, help: str) -> Callable[[Any], None]:
    """A subcommand builder for ``COMMANDS`` lists: adds ``name`` to a subparsers action.

    ``target`` is ``"module:function"``; the function takes the subparsers action and adds the
    real ``name`` parser to it (as the builtin builders do). It is called the first time the
    command is parsed, and the real parser then parses the rest of the command line.
    """
    module, _, func = target.partition(":")

    def add(sub: Any) -> None:
        stub = sub.add_parser(name, help=help, add_help=False)
        real: list[argparse.ArgumentParser] = []

        def parse_known_args(args=None, namespace=None):
            if not real:
                real.append(_build(stub, name, module, func))
            return real[0].parse_known_args(args, namespace)

        # argparse hands the rest of the command line to the chosen subparser through this
        # method; the stub defers it to the recipe's parser.
        stub.parse_known_args = parse_known_args  # type: ignore[method-assign]

    return add


def _build(stub: argparse.ArgumentParser, name: str, module: str, func: str) -> argparse.ArgumentParser:
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and (module == exc.name or module.startswith(exc.name + ".")):
            stub.exit(2, f"{stub.prog}: error: {INSTALL_HINT}\n")
        raise
    holder = argparse.ArgumentParser(prog=stub.prog.rsplit(" ", 1)[0], add_help=False)
    tmp = holder.add_subparsers()
    getattr(mod, func)(tmp)
    return tmp.choices[name]
