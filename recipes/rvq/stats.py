"""Facts about a trained RVQ model: parameter count, real-time factor, codebook usage.

Codebook usage is measured over whole utterances, not one batch: per level, the perplexity
``exp(H)`` of the code histogram (1024 = every code equally used) and the share of codes
never chosen ("dead").
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from bench.codecs.rvq.model import RVQAutoencoder, count_parameters


@torch.no_grad()
def codebook_usage(model: RVQAutoencoder, waves: list[np.ndarray]) -> list[dict[str, float]]:
    """Per level: perplexity of the code histogram, % of codes used, % never used."""
    model.eval()
    size, n_q = model.cfg.codebook_size, model.cfg.n_q
    counts = torch.zeros(n_q, size)
    for w in waves:
        codes = model.encode(torch.from_numpy(w).view(1, 1, -1), n_q)[:, 0]  # [n_q, T]
        for l in range(n_q):
            counts[l] += torch.bincount(codes[l], minlength=size).float()
    out = []
    for l in range(n_q):
        p = counts[l] / counts[l].sum()
        ent = -(p[p > 0] * p[p > 0].log()).sum()
        used = float((counts[l] > 0).float().mean() * 100)
        out.append({"level": l + 1, "perplexity": round(float(ent.exp()), 1),
                    "used_pct": round(used, 1), "dead_pct": round(100 - used, 1)})
    return out


@torch.no_grad()
def real_time_factor(model: RVQAutoencoder, seconds: float = 10.0, repeats: int = 3) -> dict[str, float]:
    """Encode + decode time of ``seconds`` of noise at full depth, divided by its duration
    (best of ``repeats``; < 1 is faster than real time), at the current thread count."""
    model.eval()
    x = torch.randn(1, 1, int(seconds * model.cfg.sample_rate)) * 0.1
    best_enc = best_dec = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        codes = model.encode(x, model.cfg.n_q)
        t1 = time.perf_counter()
        model.decode(codes)
        t2 = time.perf_counter()
        best_enc, best_dec = min(best_enc, t1 - t0), min(best_dec, t2 - t1)
    return {"encode_rtf": round(best_enc / seconds, 4), "decode_rtf": round(best_dec / seconds, 4),
            "rtf": round((best_enc + best_dec) / seconds, 4), "threads": torch.get_num_threads()}


def report(model: RVQAutoencoder, waves: list[np.ndarray]) -> dict[str, Any]:
    return {
        "parameters": count_parameters(model),
        "codebook_entries": model.cfg.n_q * model.cfg.codebook_size * model.cfg.latent_dim,
        "hop": model.cfg.hop,
        "frame_rate": model.cfg.frame_rate,
        "kbps_per_level": model.cfg.frame_rate * np.log2(model.cfg.codebook_size) / 1000,
        **real_time_factor(model),
        "usage": codebook_usage(model, waves),
    }
