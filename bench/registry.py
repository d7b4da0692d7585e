"""Lazy registries for codecs, tasks and datasets.

Entries are ``"module:attr"`` strings plus default options, so listing never imports a heavy
backend (torch, transformers, whisper). Outside packages add entries through the entry-point
groups ``bench.codecs``, ``bench.tasks`` and ``bench.datasets``: an entry point's name is the
registered name and its object is the class (or a factory returning an instance).
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import importlib.metadata
from typing import Any, Callable


class RegistryError(LookupError):
    """An unknown name, or an entry that cannot be loaded."""


@dataclasses.dataclass(frozen=True)
class Entry:
    """One registered name: where the class lives and which options the name presets."""

    name: str
    target: str  # "package.module:Attribute"
    defaults: dict[str, Any] = dataclasses.field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    description: str = ""
    source: str = "builtin"  # "builtin" or the distribution that provided the entry point

    def load(self) -> Any:
        module_name, _, attr = self.target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise RegistryError(
                f"cannot import {module_name!r} for {self.name!r}: {exc}"
            ) from exc
        obj: Any = module
        for part in attr.split(".") if attr else []:
            obj = getattr(obj, part)
        return obj


class Registry:
    """Names -> lazy entries, with aliases, entry points and "did you mean" errors."""

    def __init__(self, kind: str, group: str):
        self.kind = kind
        self.group = group
        self._entries: dict[str, Entry] = {}
        self._aliases: dict[str, str] = {}
        self._entry_points_loaded = False

    def register(
        self,
        name: str,
        target: str,
        *,
        defaults: dict[str, Any] | None = None,
        aliases: tuple[str, ...] | list[str] = (),
        description: str = "",
        source: str = "builtin",
        overwrite: bool = False,
    ) -> Entry:
        if not overwrite and (name in self._entries or name in self._aliases):
            raise RegistryError(f"{self.kind} {name!r} is already registered")
        entry = Entry(name, target, dict(defaults or {}), tuple(aliases), description, source)
        self._entries[name] = entry
        for alias in entry.aliases:
            self._aliases[alias] = name
        return entry

    def _load_entry_points(self) -> None:
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        for ep in importlib.metadata.entry_points(group=self.group):
            if ep.name in self._entries or ep.name in self._aliases:
                continue  # builtins win; a plugin cannot silently replace them
            dist = getattr(ep, "dist", None)
            source = f"plugin:{dist.name}" if dist is not None else "plugin"
            self.register(ep.name, ep.value, description=f"(from {source})", source=source)

    def names(self) -> list[str]:
        self._load_entry_points()
        return sorted(self._entries)

    def entries(self) -> list[Entry]:
        return [self._entries[n] for n in self.names()]

    def __contains__(self, name: str) -> bool:
        self._load_entry_points()
        return name in self._entries or name in self._aliases

    def get(self, name: str) -> Entry:
        self._load_entry_points()
        name = self._aliases.get(name, name)
        if name in self._entries:
            return self._entries[name]
        known = sorted(set(self._entries) | set(self._aliases))
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise RegistryError(
            f"unknown {self.kind} {name!r}.{hint} Known: {', '.join(sorted(self._entries))}"
        )

    def build(self, name: str, options: dict[str, Any] | None = None) -> Any:
        """Instantiate the entry ``name`` with its preset defaults overridden by ``options``."""
        entry = self.get(name)
        factory: Callable[..., Any] = entry.load()
        merged = {**entry.defaults, **(options or {})}
        builder = getattr(factory, "from_options", None)
        obj = builder(merged, name=entry.name) if builder else factory(**merged)
        return obj


def parse_spec(spec: str) -> tuple[str, dict[str, str]]:
    """Split ``"mulaw:bits=4,mu=255"`` into ``("mulaw", {"bits": "4", "mu": "255"})``.

    Values stay strings here; the component's config dataclass coerces them to its field types.
    """
    name, _, rest = spec.partition(":")
    name = name.strip()
    if not name:
        raise RegistryError(f"empty name in spec {spec!r}")
    options: dict[str, str] = {}
    if rest.strip():
        for part in rest.split(","):
            key, eq, value = part.partition("=")
            if not eq or not key.strip():
                raise RegistryError(
                    f"bad option {part!r} in {spec!r}: write options as key=value, comma-separated"
                )
            options[key.strip()] = value.strip()
    return name, options


CODECS = Registry("codec", "bench.codecs")
TASKS = Registry("task", "bench.tasks")
DATASETS = Registry("dataset", "bench.datasets")
