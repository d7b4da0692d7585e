"""A dataset described by a manifest file: JSONL (one object a line) or CSV (header row).

Columns: ``path`` (required, relative to the manifest's folder and confined to it), ``id``
(default: the path without extension), ``text``, ``speaker``, and any other column, kept as an
attribute (accent, gender, pitch class...).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os

from bench.datasets.base import Dataset, Item

RESERVED = {"path", "id", "text", "speaker"}


class ManifestError(ValueError):
    """A manifest that cannot be read; the message names the file and line."""


@dataclasses.dataclass(frozen=True)
class ManifestConfig:
    path: str = ""


def read_manifest_rows(path: str) -> list[tuple[int, dict]]:
    """(line number, row) pairs from a JSONL or CSV manifest; a malformed line raises."""
    if not os.path.isfile(path):
        raise ManifestError(f"manifest not found: {path}")
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        lineno = raw.count(b"\n", 0, exc.start) + 1
        raise ManifestError(f"{path}:{lineno}: not UTF-8 text (byte 0x{raw[exc.start]:02x}); "
                            "save the manifest as UTF-8") from None
    except OSError as exc:
        raise ManifestError(f"cannot read manifest {path}: {exc.strerror}") from None
    rows: list[tuple[int, dict]] = []
    with open(path, encoding="utf-8", newline="") as fh:
        if path.lower().endswith((".csv", ".tsv")):
            reader = csv.DictReader(fh, delimiter="\t" if path.lower().endswith(".tsv") else ",")
            if not reader.fieldnames or "path" not in reader.fieldnames:
                raise ManifestError(f"{path}:1: CSV header must have a 'path' column")
            for row in reader:
                if None in row:
                    raise ManifestError(f"{path}:{reader.line_num}: more fields than the header")
                rows.append((reader.line_num, {k: v for k, v in row.items() if v not in (None, "")}))
            return rows
        for lineno, line in enumerate(fh, 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ManifestError(f"{path}:{lineno}: malformed JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise ManifestError(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")
            rows.append((lineno, row))
    return rows


def items_from_rows(rows: list[tuple[int, dict]], root: str, source: str) -> list[Item]:
    """Turn manifest rows into items; per-row problems become item errors, not exceptions."""
    root_real = os.path.realpath(root)
    items = []
    for lineno, row in rows:
        rel = row.get("path")
        item_id = str(row.get("id") or (os.path.splitext(str(rel))[0] if rel else f"line{lineno}"))
        error = None
        full = None
        if not rel or not isinstance(rel, str):
            error = f"{source}:{lineno}: row has no 'path'"
        else:
            full = os.path.realpath(os.path.join(root_real, rel))
            if os.path.commonpath([full, root_real]) != root_real:
                error = f"{source}:{lineno}: path {rel!r} escapes the dataset folder"
                full = None
        text = row.get("text")
        attrs = {k: v for k, v in row.items() if k not in RESERVED}
        items.append(
            Item(
                id=item_id,
                path=full,
                text=None if text is None else str(text),
                speaker=None if row.get("speaker") is None else str(row["speaker"]),
                attrs=attrs,
                error=error,
            )
        )
    return items


class ManifestDataset(Dataset):
    Config = ManifestConfig
    description = "your own audio: a JSONL or CSV manifest (path, text, speaker, attributes)"

    def _items(self) -> list[Item]:
        if not self.config.path:
            raise ManifestError("the manifest dataset needs a file: --dataset manifest:path=FILE")
        path = os.path.abspath(self.config.path)
        rows = read_manifest_rows(path)
        if not rows:
            raise ManifestError(f"manifest {path} has no items (empty, or only comments or a header)")
        if not any(isinstance(row.get("path"), str) and row.get("path") for _, row in rows):
            raise ManifestError(f"manifest {path}: no row has a 'path' (got columns: "
                                f"{', '.join(sorted({k for _, r in rows for k in r})) or 'none'})")
        return items_from_rows(rows, os.path.dirname(path), os.path.basename(path))
