"""What ``bench run --codec X`` runs when it is not told: every installed task, each on the
dataset it declares.

A task class names the dataset it is measured on by default (``Task.default_dataset``: the
reconstruction, ASR and speaker tasks on ``synth-speech-test``, whose speakers and sentences the
shipped rvq codec never saw; pitch and probe on the whole ``synth-speech``, whose classifiers
train on one split and test on the other; None: the run's default dataset). Without
``--dataset``, tasks are grouped by that dataset and each group is one :func:`bench.runner.run`;
with ``--dataset`` every task runs on it. Without ``--task``, every registered task (built-in or
plugin) whose modules are importable is run; the others are listed with the reason. Tasks that
do not read the codec (``Task.reads_codec`` false: the probes' audio ceiling) are left out
silently: they give the same numbers for every codec and are run once, with ``--task``.
"""

from __future__ import annotations

import dataclasses

from bench.datasets import DEFAULT_DATASET
from bench.registry import TASKS, parse_spec


@dataclasses.dataclass(frozen=True)
class RunGroup:
    """One dataset and the tasks measured on it (task specs, with their options)."""

    dataset: str
    tasks: tuple[str, ...]


def _task_class(spec: str):
    return TASKS.get(parse_spec(spec)[0]).load()


def _order(name: str) -> tuple[int, str]:
    return (name != "reconstruction", name)  # the cheapest and most-read first


def installed_tasks() -> tuple[list[str], dict[str, str]]:
    """(names of tasks that can run here, {name: why not} for the others), in run order."""
    ok: list[str] = []
    skipped: dict[str, str] = {}
    for name in sorted(TASKS.names(), key=_order):
        try:
            cls = _task_class(name)
            hook = getattr(cls, "unavailable_reason", None)  # plugins may not derive from Task
            why = hook() if callable(hook) else None
            if not why and getattr(cls, "reads_codec", True) is False:
                continue  # the same for every codec (a ceiling): run once with --task (README)
        except Exception as exc:  # a broken plugin must not stop the others
            why = f"cannot load ({type(exc).__name__}: {exc})"
        if why:
            skipped[name] = why
        else:
            ok.append(name)
    return ok, skipped


def default_dataset_of(spec: str) -> str:
    """The dataset a task runs on when none is given."""
    return getattr(_task_class(spec), "default_dataset", None) or DEFAULT_DATASET


def plan(tasks: list[str] | tuple[str, ...], dataset: str | None) -> list[RunGroup]:
    """Run groups for these task specs: all on ``dataset`` when one is given, else grouped by each
    task's default dataset (groups in the order of their first task)."""
    if dataset:
        return [RunGroup(dataset, tuple(tasks))]
    groups: dict[str, list[str]] = {}
    for spec in tasks:
        groups.setdefault(default_dataset_of(spec), []).append(spec)
    return [RunGroup(ds, tuple(specs)) for ds, specs in groups.items()]


def fitting_tasks(group: RunGroup, limit: int | None, seed: int) -> tuple[RunGroup | None, dict[str, str]]:
    """The group without the tasks whose declared needs (transcripts, labels) no item of its
    dataset meets, and {task: why} for those left out. Only for runs that did not name their
    tasks: a task the user asked for is refused by the runner instead."""
    from bench.run.options import RunError, build_dataset, build_task, check_requires, select_items

    dataset = build_dataset(group.dataset)
    items = select_items(dataset.items(), limit, seed)
    kept, skipped = [], {}
    for spec in group.tasks:
        try:
            check_requires([build_task(spec)], items, dataset.name)
            kept.append(spec)
        except RunError as exc:
            skipped[parse_spec(spec)[0]] = str(exc)
    return (RunGroup(group.dataset, tuple(kept)) if kept else None), skipped
