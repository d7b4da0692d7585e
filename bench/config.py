"""Typed configs that round-trip: dataclass <-> dict, option coercion, stable hashes."""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import typing
from typing import Any


class ConfigError(ValueError):
    """An unknown option, or a value that does not fit the option's type."""


def stable_hash(obj: Any, length: int = 16) -> str:
    """SHA-256 of the canonical JSON of ``obj`` (sorted keys), truncated to ``length`` hex chars."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def _coerce(value: Any, annotation: Any, name: str, owner: str) -> Any:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Union or (origin is not None and str(origin) == "<class 'types.UnionType'>"):
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            if type(None) in args:
                return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, name, owner)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError("; ".join(errors))
    if origin in (tuple, list):
        if isinstance(value, str):
            value = [v for v in value.replace("/", " ").replace(";", " ").split() if v]
        inner = args[0] if args else str
        items = [_coerce(v, inner, name, owner) for v in value]
        return tuple(items) if origin is tuple else items
    if annotation is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"option {name!r} of {owner} expects true/false, got {value!r}")
    if annotation in (int, float, str):
        try:
            if annotation is int and isinstance(value, str):
                return int(value, 0) if value.lower().startswith("0x") else int(value)
            if annotation is int and isinstance(value, float) and not value.is_integer():
                raise ValueError
            return annotation(value)
        except (TypeError, ValueError):
            kind = {int: "an integer", float: "a number", str: "text"}[annotation]
            raise ConfigError(f"option {name!r} of {owner} expects {kind}, got {value!r}") from None
    return value


def build_config(config_cls: type, options: dict[str, Any], owner: str) -> Any:
    """Make ``config_cls(**options)`` with every value coerced to its field's declared type.

    Unknown keys raise one clear error naming the option and the known ones.
    """
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    hints = typing.get_type_hints(config_cls)
    kwargs = {}
    for key, value in options.items():
        if key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            known = ", ".join(fields) or "none"
            raise ConfigError(f"unknown option {key!r} for {owner}{hint}; known options: {known}")
        kwargs[key] = _coerce(value, hints[key], key, owner)
    try:
        return config_cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"invalid options for {owner}: {exc}") from exc


def config_to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config or {})
