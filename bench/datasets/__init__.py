"""Built-in datasets (lazy entries) and the dataset contract."""

from bench.datasets.base import Dataset, Item
from bench.registry import DATASETS

__all__ = ["DATASETS", "Dataset", "Item", "DEFAULT_DATASET"]

#: What `bench run` uses when no dataset is named.
DEFAULT_DATASET = "synthetic"

DATASETS.register(
    "synthetic", "bench.datasets.synthetic:SyntheticDataset", aliases=("signals",),
    description="12 built-in synthetic signals (tones, chirps, vowel-like harmonics, noise)",
)
DATASETS.register(
    "manifest", "bench.datasets.manifest:ManifestDataset",
    description="your own audio from a JSONL/CSV manifest: --dataset manifest:path=FILE",
)
