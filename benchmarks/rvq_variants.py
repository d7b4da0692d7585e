"""What a training step and an encode + decode cost for the two RVQ model variants.

    python benchmarks/rvq_variants.py [--threads 1] [--repeats 5]

Builds both variants at their documented shapes (untrained: cost does not depend on the
weights) and prints, from one process:
  1. parameters and float16 size;
  2. seconds per training step (forward, losses, backward, optimizer) on the default batch
     (8 crops of 0.64 s), median of ``--repeats`` after one warm-up step;
  3. encode + decode real-time factor on 10 s of audio, and its ratio between variants;
  4. how encode + decode time grows with input length (2.5, 5, 10, 20 s): every layer is a
     convolution, so cost should be linear in length.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

from bench.codecs.rvq.config import ModelConfig  # noqa: E402
from bench.codecs.rvq.model import RVQAutoencoder, count_parameters  # noqa: E402
from recipes.rvq.losses import ReconstructionLoss  # noqa: E402
from recipes.rvq.stats import real_time_factor  # noqa: E402

VARIANTS = {
    "spectral (v3)": ModelConfig(),
    "convolutional (v1-v2)": ModelConfig.from_dict(
        {"channels": 16, "strides": [2, 4, 5, 8], "res_dilations": [1, 3], "spectral_hop": 0,
         "block": "residual"}),
}


def step_seconds(cfg: ModelConfig, repeats: int) -> float:
    torch.manual_seed(0)
    model = RVQAutoencoder(cfg)
    loss_fn = ReconstructionLoss(cfg.sample_rate)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randn(8, 1, int(0.64 * cfg.sample_rate)) * 0.1
    with torch.no_grad():
        model.quantizer.kmeans_init(model.encoder(x), batch_vectors=8 * x.shape[-1] // cfg.hop)
    times = []
    for i in range(repeats + 1):
        t0 = time.perf_counter()
        opt.zero_grad()
        y, q = model(x)
        rec, _ = loss_fn(y, x)
        (rec + 0.25 * q.commit_loss).backward()
        opt.step()
        if i:  # the first step warms up allocators and kernels
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


@torch.no_grad()
def growth(model: RVQAutoencoder) -> dict[str, float]:
    out = {}
    for seconds in (2.5, 5.0, 10.0, 20.0):
        x = torch.randn(1, 1, int(seconds * model.cfg.sample_rate)) * 0.1
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            model.decode(model.encode(x, model.cfg.n_q))
            best = min(best, time.perf_counter() - t0)
        out[f"{seconds:g}s"] = round(best, 4)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rows = {}
    for name, cfg in VARIANTS.items():
        model = RVQAutoencoder(cfg).eval()
        params = count_parameters(model)
        rows[name] = {
            "parameters": params,
            "float16_mb": round(2 * (params + cfg.n_q * cfg.codebook_size * cfg.latent_dim) / 1e6, 2),
            "train_step_s": round(step_seconds(cfg, args.repeats), 3),
            **real_time_factor(model),
            "encode_decode_s_by_length": growth(model),
        }
    names = list(rows)
    a, b = rows[names[0]], rows[names[1]]
    rows["ratios (spectral / convolutional)"] = {
        "parameters": round(a["parameters"] / b["parameters"], 2),
        "train_step_s": round(a["train_step_s"] / b["train_step_s"], 2),
        "rtf": round(a["rtf"] / b["rtf"], 2),
    }
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
