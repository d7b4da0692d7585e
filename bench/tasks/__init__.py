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
TASKS.register(
    "asr", "bench.tasks.asr:Asr", aliases=("wer", "whisper"),
    description="Whisper WER/CER through the codec vs the original audio (faster-whisper tiny.en)",
)
TASKS.register(
    "speaker", "bench.tasks.speaker:Speaker", aliases=("speaker-similarity", "sv"),
    description="speaker similarity (resemblyzer cosine) and verification EER on reconstructions",
)
TASKS.register(
    "pitch", "bench.tasks.pitch:Pitch", aliases=("f0",),
    description="F0 RMSE (cents), GPE, VDE, F0 correlation; pitch class and accent kept in reconstructions",
)
TASKS.register(
    "probe", "bench.tasks.learned_probe:LearnedProbe", aliases=("token-probe",),
    description="learned token probes (embedding, conv, GRU) trained on synth-speech-probe's train voices: "
                "frame F0, pitch pairs, accent, speaker on unseen voices",
)
TASKS.register(
    "probe-audio", "bench.tasks.learned_probe:AudioProbe",
    description="the audio ceiling of the probe task: the same model on log-mel frames of the original audio",
)
TASKS.register(
    "probe-linear", "bench.tasks.probe:Probe",
    description="linear probes on hashed token n-grams (the cheap baseline, formerly probe v2): "
                "pitch class, accent, speaker, frame-level F0",
)
TASKS.register(
    "abx", "bench.tasks.abx:Abx", aliases=("minimal-pairs-abx",),
    description="model-free ABX on minimal pairs: accent and pitch class, tokens and decoded audio (chance 0.5)",
)
TASKS.register(
    "tokens", "bench.tasks.tokens:Tokens", aliases=("token-stats", "lm-cost"),
    description="tokens/s, bitrates, unigram entropy, codebook use, Kneser-Ney LM bits/s, token stability",
)
