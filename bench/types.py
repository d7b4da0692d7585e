"""Value types shared by every layer (the store, the tasks, the metrics): no imports of bench."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Failed:
    """A metric (or a whole item) that could not be measured, and why."""

    reason: str
