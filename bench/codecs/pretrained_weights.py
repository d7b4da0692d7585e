"""Finding, checking and hashing the weights of pretrained codecs, offline.

Weights are never downloaded at run time. They come from one of two places:

1. a local directory given as the ``weights=DIR`` option (what ``hf download REPO --local-dir
   DIR`` writes: ``config.json`` plus the weight file), or
2. the local Hugging Face cache (``$HF_HUB_CACHE``, by default ``~/.cache/huggingface/hub``),
   filled beforehand by ``hf download REPO`` on a machine with internet.

This module imports neither torch nor transformers, so ``bench list codecs`` can ask
:func:`locate` whether a preset's weights are present without loading anything heavy.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any, ClassVar, Sequence

from bench.codecs.base import MissingDependency

#: Weight files in the order the libraries prefer them (transformers loads safetensors first).
TRANSFORMERS_WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                        "pytorch_model.bin.index.json")


class WeightsNotFound(MissingDependency):
    """A pretrained codec's weight files are not on this machine (raised to the user)."""


def force_offline() -> None:
    """Make huggingface_hub and transformers refuse any network access in this process."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"


def hub_cache_dir() -> str:
    """The Hugging Face hub cache folder, resolved the way huggingface_hub resolves it."""
    if os.environ.get("HF_HUB_CACHE"):
        return os.path.expanduser(os.environ["HF_HUB_CACHE"])
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache"), "huggingface")
    return os.path.join(os.path.expanduser(home), "hub")


def _cached_snapshot(repo_id: str) -> str | None:
    """The newest snapshot folder of ``repo_id`` in the hub cache that has a config.json."""
    repo_dir = os.path.join(hub_cache_dir(), "models--" + repo_id.replace("/", "--"))
    ref = os.path.join(repo_dir, "refs", "main")
    snapshots = os.path.join(repo_dir, "snapshots")
    candidates = []
    if os.path.isfile(ref):
        with open(ref, encoding="utf-8") as fh:
            candidates.append(os.path.join(snapshots, fh.read().strip()))
    if os.path.isdir(snapshots):
        others = [os.path.join(snapshots, s) for s in os.listdir(snapshots)]
        candidates += sorted(others, key=os.path.getmtime, reverse=True)
    for path in candidates:
        if os.path.isfile(os.path.join(path, "config.json")):
            return path
    return None


def weight_files(directory: str, names: Sequence[str]) -> list[str] | None:
    """The files that hold the weights in ``directory`` (config.json first), or None if absent.

    ``names`` lists acceptable weight files by preference; an ``*.index.json`` entry stands for
    a sharded checkpoint and brings its shards along.
    """
    if not os.path.isfile(os.path.join(directory, "config.json")):
        return None
    for name in names:
        path = os.path.join(directory, name)
        if not os.path.isfile(path):
            continue
        files = [os.path.join(directory, "config.json"), path]
        if name.endswith(".index.json"):
            import json

            with open(path, encoding="utf-8") as fh:
                shards = sorted(set(json.load(fh).get("weight_map", {}).values()))
            shard_paths = [os.path.join(directory, s) for s in shards]
            if not shard_paths or not all(os.path.isfile(p) for p in shard_paths):
                continue
            files += shard_paths
        return files
    return None


def locate(weights: str, repo_id: str, names: Sequence[str]) -> tuple[str | None, str]:
    """Find the weight directory: ``(directory, "")`` or ``(None, why not)``. Never raises."""
    if weights:
        directory = os.path.expanduser(weights)
        if weight_files(directory, names) is not None:
            return directory, ""
        return None, f"no config.json with {' or '.join(names)} in {directory}"
    if not repo_id:
        return None, "no weights=DIR option and no repo_id to look up in the Hugging Face cache"
    snapshot = _cached_snapshot(repo_id)
    if snapshot is not None and weight_files(snapshot, names) is not None:
        return snapshot, ""
    return None, f"{repo_id} is not in the Hugging Face cache ({hub_cache_dir()})"


def missing_message(codec_name: str, weights: str, repo_id: str, names: Sequence[str]) -> str:
    """The one-line error for missing weights: which files, where, and how to get them."""
    files = "config.json and " + " or ".join(n for n in names if not n.endswith(".index.json"))
    if not weights and not repo_id:
        return (f"codec {codec_name!r} needs weights=DIR: a local folder with {files} "
                f"(on a machine with internet: `hf download <repo id> --local-dir DIR`)")
    repo = repo_id or "<repo id>"
    local = os.path.join("weights", repo.split("/")[-1])
    if weights:
        where = f"in {os.path.expanduser(weights)} (from weights=)"
        target = weights
    else:
        where = (f"in the Hugging Face cache {hub_cache_dir()} "
                 f"(models--{repo.replace('/', '--')}), and no weights=DIR option was given")
        target = local
    return (
        f"weights for codec {codec_name!r} not found: expected {files} {where}. "
        f"On a machine with internet run `hf download {repo} --local-dir {target}` "
        f"(huggingface_hub < 1.0: `huggingface-cli download {repo} --local-dir {target}`), "
        f"copy that folder here and run with --codec {codec_name}:weights={target}; "
        f"or run `hf download {repo}` without --local-dir and copy the cache folder "
        f"models--{repo.replace('/', '--')} into {hub_cache_dir()}. Nothing is downloaded at run time."
    )


def require_weights(codec_name: str, weights: str, repo_id: str, names: Sequence[str]) -> str:
    """The weight directory, or :class:`WeightsNotFound` with :func:`missing_message`."""
    directory, _ = locate(weights, repo_id, names)
    if directory is None:
        raise WeightsNotFound(missing_message(codec_name, weights, repo_id, names))
    return directory


_HASHES: dict[tuple, str] = {}


def files_hash(paths: Sequence[str]) -> str:
    """SHA-256 over (file name, content) of each file, in order; memoised by size and mtime."""
    key = tuple((os.path.realpath(p), os.path.getsize(p), os.stat(p).st_mtime_ns) for p in paths)
    if key not in _HASHES:
        total = hashlib.sha256()
        for path in paths:
            digest = hashlib.sha256()
            with open(path, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
            total.update(f"{os.path.basename(path)}\0{digest.hexdigest()}\n".encode())
        _HASHES[key] = total.hexdigest()
    return _HASHES[key]


def backend_missing(*modules: str) -> str | None:
    """Name the first of ``modules`` that is not installed, without importing any of them."""
    import importlib.util

    for module in modules:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):  # an import hook that hides the package
            found = False
        if not found:
            return f"{module} not installed: pip install 'bench[pretrained]'"
    return None


class LocalWeights:
    """Mixin for codecs whose weights are files found by :func:`locate` (``weights=DIR`` or the
    Hugging Face cache). The codec's config has ``weights`` and ``repo_id`` fields."""

    weight_names: ClassVar[tuple[str, ...]] = ()

    def weights_dir(self) -> str:
        return require_weights(self.name, self.config.weights, self.config.repo_id, self.weight_names)

    def weights_hash(self) -> str:
        """SHA-256 of config.json and the weight file(s) that are loaded."""
        return files_hash(weight_files(self.weights_dir(), self.weight_names) or [])

    def identity(self) -> dict[str, Any]:
        # where the weights lie is not part of what they are: the same files found through the
        # cache or through weights=DIR give the same hash (the path stays in describe())
        ident = super().identity()  # type: ignore[misc]
        ident["config"] = {k: v for k, v in ident["config"].items() if k != "weights"}
        return ident
