"""Built-in datasets (lazy entries) and the dataset contract."""

from bench.datasets.base import Dataset, Item
from bench.registry import DATASETS

__all__ = ["DATASETS", "Dataset", "Item", "DEFAULT_DATASET"]

#: What `bench run` uses when no dataset is named.
DEFAULT_DATASET = "synth-speech"

DATASETS.register(
    "synthetic", "bench.datasets.synthetic:SyntheticDataset", aliases=("signals",),
    description="12 built-in synthetic signals (tones, chirps, vowel-like harmonics, noise)",
)
DATASETS.register(
    "manifest", "bench.datasets.manifest:ManifestDataset",
    description="your own audio from a JSONL/CSV manifest: --dataset manifest:path=FILE",
)
DATASETS.register(
    "synth-speech", "bench.datasets.synth_speech:SynthSpeechDataset",
    description="built-in speech (240 items, 11 MB): 6 accents, 12 speakers, low/high pitch, "
                "train/test split; subset=full|quick|train|test",
)
DATASETS.register(
    "synth-speech-quick", "bench.datasets.synth_speech:SynthSpeechDataset", defaults={"subset": "quick"},
    description="48 items of synth-speech balanced over accent, pitch class and split (for CI)",
)
DATASETS.register(
    "synth-speech-test", "bench.datasets.synth_speech:SynthSpeechDataset", defaults={"subset": "test"},
    description="the 120 test-split items of synth-speech (speakers and sentences unseen in training)",
)
DATASETS.register(
    "synth-speech-probe", "bench.datasets.synth_speech:SynthSpeechProbeDataset",
    description="built-in probe corpus (480 phrases, 13 MB): 6 accents x low/high pitch pairs, 28 train "
                "voices, 4 test voices, disjoint sentences; for the probe task",
)
DATASETS.register(
    "minimal-pairs", "bench.datasets.minimal_pairs:MinimalPairsDataset", aliases=("tomato",),
    description="built-in US/UK minimal pairs (448 items, 6 MB): 28 words x en-us/en-gb x low/high "
                "pitch x 4 speakers, for the abx task; subset=full|quick",
)
DATASETS.register(
    "minimal-pairs-quick", "bench.datasets.minimal_pairs:MinimalPairsDataset", defaults={"subset": "quick"},
    description="64 items of minimal-pairs: 4 words, every speaker, accent and pitch class (for CI)",
)
DATASETS.register(
    "librispeech", "bench.datasets.corpora:LibriSpeechDataset",
    description="LibriSpeech folders (*.trans.txt + .flac, 16 kHz): --dataset librispeech:root=DIR",
)
DATASETS.register(
    "vctk", "bench.datasets.corpora:VCTKDataset",
    description="VCTK with speaker-info.txt accents (wav48/ or wav48_silence_trimmed/): --dataset vctk:root=DIR",
)
DATASETS.register(
    "common-voice", "bench.datasets.corpora:CommonVoiceDataset", aliases=("commonvoice",),
    description="Common Voice TSV with accents column + clips/: --dataset common-voice:root=DIR,tsv=test.tsv",
)
DATASETS.register(
    "lhotse", "bench.datasets.corpora:LhotseDataset",
    description="Lhotse manifests, needs lhotse: --dataset lhotse:recordings=R.jsonl.gz,supervisions=S.jsonl.gz (or cuts=C)",
)
