"""Built-in tasks (lazy entries) and the task contract."""

from bench.registry import TASKS
from bench.tasks.base import Failed, ItemContext, Measurement, MetricSpec, MetricValue, Row, Task

__all__ = ["TASKS", "Failed", "ItemContext", "Measurement", "MetricSpec", "MetricValue", "Row", "Task", "DEFAULT_TASKS"]

#: What `bench run` measures when no task is named.
DEFAULT_TASKS = ("reconstruction",)

TASKS.register(
    "reconstruction", "bench.tasks.reconstruction:Reconstruction", aliases=("quality", "recon"),
    description="PESQ, STOI, SI-SDR, mel and STFT distances, MCD at 16 kHz",
)
