"""Residual vector quantization (RVQ) with EMA codebooks.

Level 1 quantizes the encoder output ``z``; level ``l`` quantizes the residual left by levels
``1..l-1``, so each extra level refines the previous approximation (SoundStream, Zeghidour et
al. 2021, Alg. 1; EnCodec, Défossez et al. 2022). Training follows what is known to work:

- codebooks are not learned by gradient but updated by an exponential moving average of the
  vectors assigned to each code (van den Oord et al. 2017, appendix; Razavi et al. 2019,
  VQ-VAE-2);
- codebooks start from k-means on the first batches' latents (SoundStream, sec. III-C);
- a code that no vector has used for a while is "dead" and is restarted on a random vector
  of the current batch (Dhariwal et al. 2020, Jukebox, sec. 3.2; EnCodec's
  ``threshold_ema_dead_code``);
- gradients pass the quantizer straight through (Bengio et al. 2013) and a commitment loss
  keeps the encoder close to its codes;
- quantizer dropout: each training example uses a random number of levels, so a decoder
  trained once decodes any depth 1..N (SoundStream, sec. III-C "quantizer dropout").
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn


@dataclasses.dataclass(frozen=True)
class QuantizerOutput:
    """What :meth:`ResidualVQ.forward` returns."""

    quantized: torch.Tensor  # [B, D, T], straight-through: gradients flow to the encoder
    codes: torch.Tensor  # int64 [N, B, T], all N levels (dropout only masks their sum)
    commit_loss: torch.Tensor  # scalar
    residual_norms: torch.Tensor  # [N + 1]: mean L2 norm of the residual before level 1..N, after N
    perplexity: torch.Tensor  # [N]: exp(entropy) of each level's code usage in this batch
    restarted: tuple[int, ...] = ()  # per level: dead codes restarted in this step (training)


class EMACodebook(nn.Module):
    """One codebook of ``size`` vectors of dimension ``dim``, updated by EMA."""

    def __init__(self, dim: int, size: int, decay: float = 0.99, eps: float = 1e-5):
        super().__init__()
        self.dim, self.size, self.decay, self.eps = dim, size, decay, eps
        self.register_buffer("embed", torch.randn(size, dim) * 0.1)
        # EMA statistics: how many vectors each code got, and their sum (training only).
        self.register_buffer("cluster_size", torch.ones(size))
        self.register_buffer("embed_sum", self.embed.clone())
        self.register_buffer("initialized", torch.tensor(False))

    def assign(self, x: torch.Tensor) -> torch.Tensor:
        """Nearest code for each row of ``x`` [M, D] -> int64 [M]."""
        # ||x - e||^2 = ||x||^2 - 2 x.e + ||e||^2; ||x||^2 does not change the argmin.
        dist = -2.0 * x @ self.embed.t() + self.embed.pow(2).sum(1)[None, :]
        return dist.argmin(dim=1)

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        return nn.functional.embedding(codes, self.embed)

    @torch.no_grad()
    def kmeans_init(self, x: torch.Tensor, iters: int = 10, count_scale: float = 1.0) -> None:
        """Lloyd's k-means on ``x`` [M, D]; with fewer than ``size`` vectors, rows repeat.

        The EMA counts start at each cluster's size times ``count_scale`` (batch size / M), so
        they are on the scale of one training batch and empty clusters soon count as dead."""
        pick = torch.randperm(len(x))[: self.size] if len(x) >= self.size else torch.randint(
            len(x), (self.size,))
        centers = x[pick].clone()
        for _ in range(iters):
            codes = (-2.0 * x @ centers.t() + centers.pow(2).sum(1)[None]).argmin(1)
            counts = torch.bincount(codes, minlength=self.size).float()
            sums = torch.zeros_like(centers).index_add_(0, codes, x)
            filled = counts > 0
            centers[filled] = sums[filled] / counts[filled, None]
        counts = torch.bincount(codes, minlength=self.size).float() * count_scale
        self.embed.copy_(centers)
        self.cluster_size.copy_(counts)
        self.embed_sum.copy_(centers * counts[:, None])
        self.initialized.fill_(True)

    @torch.no_grad()
    def ema_update(self, x: torch.Tensor, codes: torch.Tensor) -> None:
        """Move each used code toward the mean of the vectors assigned to it."""
        counts = torch.bincount(codes, minlength=self.size).to(x.dtype)
        sums = torch.zeros(self.size, self.dim, dtype=x.dtype).index_add_(0, codes, x)
        self.cluster_size.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        self.embed_sum.mul_(self.decay).add_(sums, alpha=1 - self.decay)
        # Laplace smoothing keeps rarely used codes from dividing by ~0 (VQ-VAE-2 / Sonnet).
        n = self.cluster_size.sum()
        smoothed = (self.cluster_size + self.eps) / (n + self.size * self.eps) * n
        self.embed.copy_(self.embed_sum / smoothed[:, None])

    @torch.no_grad()
    def restart_dead(self, x: torch.Tensor, threshold: float) -> int:
        """Re-seed codes whose EMA usage fell below ``threshold`` on random rows of ``x``."""
        dead = self.cluster_size < threshold
        n_dead = int(dead.sum())
        if n_dead:
            rows = x[torch.randint(len(x), (n_dead,))]
            self.embed[dead] = rows
            # Give a restarted code a fresh, expected-size count so it is not re-killed at once.
            fresh = max(threshold * 10.0, len(x) / self.size)
            self.cluster_size[dead] = fresh
            self.embed_sum[dead] = rows * fresh
        return n_dead


class ResidualVQ(nn.Module):
    """``n_q`` EMA codebooks applied to successive residuals."""

    def __init__(self, dim: int, n_q: int, size: int, decay: float = 0.99,
                 dead_fraction: float = 0.03):
        super().__init__()
        self.n_q, self.size = n_q, size
        #: A code is dead when its EMA count is below this fraction of the mean count per code.
        self.dead_fraction = dead_fraction
        self.levels = nn.ModuleList(EMACodebook(dim, size, decay) for _ in range(n_q))

    @staticmethod
    def _flat(z: torch.Tensor) -> torch.Tensor:
        return z.permute(0, 2, 1).reshape(-1, z.shape[1])  # [B, D, T] -> [B*T, D]

    @torch.no_grad()
    def kmeans_init(self, z: torch.Tensor, batch_vectors: int | None = None) -> None:
        """Initialise every level by k-means on the residuals of latents ``z`` [B, D, T];
        ``batch_vectors`` (vectors per training batch) scales the initial EMA counts."""
        residual = self._flat(z)
        scale = (batch_vectors or len(residual)) / len(residual)
        for level in self.levels:
            level.kmeans_init(residual, count_scale=scale)
            residual = residual - level.lookup(level.assign(residual))

    def forward(self, z: torch.Tensor, n_active: torch.Tensor | None = None) -> QuantizerOutput:
        """Quantize ``z`` [B, D, T] with all levels; example ``b`` decodes its first
        ``n_active[b]`` levels (all when None). In training mode, codebooks are updated."""
        B, D, T = z.shape
        if n_active is None:
            n_active = torch.full((B,), self.n_q, dtype=torch.long)
        z_flat = self._flat(z)
        x = z_flat.detach()
        residual = x
        quantized = torch.zeros_like(x)
        codes, norms, perplexity, restarted = [], [], [], []
        commit = z.new_zeros(())
        # mask[l, b*T + t] = 1 where example b uses level l
        mask = (torch.arange(self.n_q)[:, None] < n_active[None, :]).to(x.dtype)
        mask = mask.repeat_interleave(T, dim=1)
        threshold = self.dead_fraction * len(x) / self.size
        self.last_threshold = threshold
        for l, level in enumerate(self.levels):
            norms.append(residual.norm(dim=1).mean())
            idx = level.assign(residual)
            q = level.lookup(idx)
            if self.training and bool(torch.isfinite(residual).all()):
                # (A non-finite batch is skipped by the trainer; keep it out of the codebooks.)
                # Every example updates every level, whatever depth it decodes with:
                # dropout only masks the sum below, and the codebooks see more data.
                level.ema_update(residual, idx)
                restarted.append(level.restart_dead(residual, threshold))
            codes.append(idx.view(B, T))
            quantized = quantized + mask[l, :, None] * q
            # Commitment: the part of the encoder output this level explains should stay
            # close to its code. residual_l = z - sum_{j<l} q_j with z carrying the gradient.
            r_grad = z_flat - (x - residual)
            err = (r_grad - q).pow(2).mean(dim=1)
            commit = commit + (err * mask[l]).sum() / mask[l].sum().clamp(min=1.0)
            residual = residual - q
            probs = torch.bincount(idx, minlength=self.size).float() / len(idx)
            perplexity.append(torch.exp(-(probs * torch.log(probs + 1e-10)).sum()))
        norms.append(residual.norm(dim=1).mean())
        quantized = quantized.view(B, T, D).permute(0, 2, 1)
        # Straight-through estimator: forward uses the codes, backward is the identity.
        out = z + (quantized - z).detach()
        return QuantizerOutput(out, torch.stack(codes), commit / self.n_q, torch.stack(norms),
                               torch.stack(perplexity), tuple(restarted))

    @torch.no_grad()
    def encode(self, z: torch.Tensor, n_q: int) -> torch.Tensor:
        """Latents [B, D, T] -> codes int64 [n_q, B, T] (greedy, level by level)."""
        B, D, T = z.shape
        residual = self._flat(z)
        codes = []
        for level in self.levels[:n_q]:
            idx = level.assign(residual)
            residual = residual - level.lookup(idx)
            codes.append(idx.view(B, T))
        return torch.stack(codes)

    @torch.no_grad()
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes [n, B, T] (n <= n_q, the first n levels) -> latents [B, D, T]."""
        out = sum(self.levels[l].lookup(codes[l]) for l in range(codes.shape[0]))
        return out.permute(0, 2, 1)
