"""The dataset contract: a named, versioned, hashable list of items.

An :class:`Item` knows its id, where its audio comes from, and its labels (text, speaker and any
attribute such as accent or pitch class). Audio is loaded lazily, in the worker that needs it.
An item that cannot be described at all (a malformed manifest row) does not stop the dataset:
it becomes an item with ``error`` set, which the runner records as failed with that reason.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from typing import Any, Callable, ClassVar

from bench.audio import Audio, AudioError, content_hash, file_hash, load_audio
from bench.config import build_config, config_to_dict


@dataclasses.dataclass(frozen=True)
class Item:
    id: str
    path: str | None = None  # absolute path of an audio file, or None for generated audio
    text: str | None = None
    speaker: str | None = None
    attrs: dict[str, Any] = dataclasses.field(default_factory=dict)
    #: Generated items: a picklable callable returning an :class:`Audio`.
    generator: Callable[[], Audio] | None = dataclasses.field(default=None, compare=False)
    #: Set when the item could not be described (bad manifest row, unsafe path...).
    error: str | None = None

    def load(self) -> Audio:
        if self.error:
            raise AudioError(self.error)
        if self.generator is not None:
            return self.generator()
        if self.path is None:
            raise AudioError("item has neither a path nor a generator")
        return load_audio(self.path)

    def content_hash(self) -> str:
        """Hash of the audio content (file bytes or generated samples) plus labels.

        Keys the codec cache and the per-item rows: a changed file is a new item.
        """
        h = hashlib.sha256()
        labels = {"text": self.text, "speaker": self.speaker, "attrs": self.attrs}
        h.update(json.dumps(labels, sort_keys=True, default=str).encode())
        if self.error:
            h.update(b"error:" + self.error.encode())
        elif self.generator is not None:
            audio = self.generator()
            h.update(content_hash(audio.wave).encode() + str(audio.sample_rate).encode())
        elif self.path and os.path.isfile(self.path):
            h.update(file_hash(self.path).encode())
        else:
            h.update(b"missing:" + str(self.path).encode())
        return h.hexdigest()

    def labels(self) -> dict[str, Any]:
        return {"text": self.text, "speaker": self.speaker, **self.attrs}


class Dataset:
    """Base class: subclasses implement :meth:`_items`; ``Config`` holds the options."""

    Config: ClassVar[type] = dict  # replaced by a dataclass in subclasses
    version: ClassVar[str] = "1"
    description: ClassVar[str] = ""

    def __init__(self, config: Any = None, *, name: str | None = None):
        self.config = config if config is not None else self.Config()
        self.name = name or type(self).__name__.lower()
        self._cache: list[Item] | None = None

    @classmethod
    def from_options(cls, options: dict[str, Any], name: str | None = None) -> "Dataset":
        return cls(build_config(cls.Config, options, f"dataset {name or cls.__name__}"), name=name)

    def _items(self) -> list[Item]:
        raise NotImplementedError

    def items(self) -> list[Item]:
        """All items, sorted by id (deterministic), ids unique (duplicates become errors)."""
        if self._cache is None:
            seen: dict[str, int] = {}
            out = []
            for item in sorted(self._items(), key=lambda it: it.id):
                if item.id in seen:
                    seen[item.id] += 1
                    item = dataclasses.replace(
                        item,
                        id=f"{item.id}#dup{seen[item.id]}",
                        error=f"duplicate item id {item.id!r}",
                    )
                else:
                    seen[item.id] = 0
                out.append(item)
            self._cache = out
        return self._cache

    def describe(self, items: list[Item] | None = None) -> dict[str, Any]:
        items = self.items() if items is None else items
        return {
            "name": self.name,
            "version": self.version,
            "config": config_to_dict(self.config),
            "n_items": len(items),
        }


def dataset_hash(item_hashes: list[str]) -> str:
    """Content hash of a dataset (or of the subset a run used): hash of its sorted item hashes."""
    h = hashlib.sha256()
    for ih in sorted(item_hashes):
        h.update(ih.encode())
    return h.hexdigest()
