"""Training loop for the RVQ codec (``bench train rvq``).

Deterministic for a seed: each step draws its crops from ``numpy.random.default_rng([seed, 0,
step])`` and seeds torch with the same pair, so a resumed run repeats the steps an
uninterrupted run would have taken (same thread count assumed). Checkpoints are written
atomically every few minutes, at the end, and on Ctrl-C / SIGTERM.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sys
import time
from typing import Any, Callable

import numpy as np
import torch

from bench.codecs.rvq.config import ModelConfig
from bench.codecs.rvq.model import RVQAutoencoder, count_parameters
from recipes.rvq.losses import ReconstructionLoss
from recipes.rvq.sampling import length_weighted_picks, random_gain


class TrainError(ValueError):
    """Bad training input (empty dataset, test split requested...); shown as one line."""


@dataclasses.dataclass
class TrainConfig:
    datasets: tuple[str, ...] = ("synth-speech:subset=train",)
    steps: int = 20_000
    out: str = "runs/rvq"
    seed: int = 0
    batch_size: int = 8
    segment: float = 0.64  # seconds per crop (a multiple of the hop: 32 frames)
    lr: float = 1e-3
    betas: tuple[float, float] = (0.5, 0.9)  # Adam's (EnCodec's setting)
    commit_weight: float = 0.25  # beta of VQ-VAE (van den Oord et al. 2017)
    quantizer_dropout: float = 1.0  # share of examples that get a random depth 1..N
    kmeans_batches: int = 16  # batches of latents gathered for k-means init (>= K vectors)
    ema_decay: float = 0.99  # codebook EMA decay (EnCodec: 0.99)
    dead_fraction: float = 0.25  # dead: EMA count below this share of the mean count per code
    # (EnCodec restarts codes under 2 of ~4.7 vectors per step, i.e. ~40%)
    threads: int = 1
    log_every: int = 25
    checkpoint_minutes: float = 3.0
    grad_clip: float = 1.0
    norm_warmup: int = 1000  # steps of batch-statistics latent normalisation, then running
    speed: float = 0.1  # augmentation: resampling factor range 1 +- speed (pitch and formants)
    gain_db: float = 6.0  # augmentation: random gain range in dB
    eq_db: float = 0.0  # augmentation: random timbre, peaking filters of gain +- eq_db (0: off)
    wave_weight: float = 0.1  # weight of the time-domain L1 term
    complex_weight: float = 3.0  # weight of the compressed complex STFT term (phase)
    magnitude_weight: float = 0.0  # weight of the compressed magnitude term |S|^0.3
    lr_decay: float = 0.3  # last share of the steps over which the learning rate falls
    # linearly to lr_floor * lr (0: constant rate)
    lr_floor: float = 0.05
    scale_weight: float = 0.0  # > 0: hold the encoder's pre-norm scale near 1 (model.py);
    # off by default until a long run shows it costs no quality
    distill_weight: float = 0.0  # > 0: pull level 1 toward Whisper encoder features (distill.py)
    distill_model: str = ""  # CTranslate2 Whisper directory ("" = the bundled tiny.en)
    adversarial_weight: float = 0.0  # > 0: train against discriminators (adversarial.py)
    feature_weight: float = 2.0  # weight of feature matching, when adversarial_weight > 0
    freeze_encoder: bool = False  # train the decoder only: encoder, latent norm and codebooks
    # stay as they are, so the tokens do not change (for fine-tuning a shipped model)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["datasets"] = list(self.datasets)
        d["betas"] = list(self.betas)
        return d


@dataclasses.dataclass
class Corpus:
    waves: list[np.ndarray]  # float32 mono at the model rate
    data_hash: str
    seconds: float


def load_corpus(specs: tuple[str, ...] | list[str], sample_rate: int,
                allow_test: bool = False) -> Corpus:
    """Load every item of the named datasets into memory, resampled to ``sample_rate``.

    Refuses items labelled ``split=test`` (the codec must never train on the test split)
    unless ``allow_test`` (for measuring, never for training).
    """
    from bench.audio import resample
    from bench.datasets import DATASETS
    from bench.datasets.base import dataset_hash
    from bench.registry import parse_spec

    waves, hashes = [], []
    for spec in specs:
        name, options = parse_spec(spec)
        items = DATASETS.build(name, options).items()
        for item in items:
            if not allow_test and str(item.attrs.get("split", "")).lower() == "test":
                raise TrainError(f"dataset {spec!r} contains test-split item {item.id!r}; "
                                 "train on the train split only (e.g. synth-speech:subset=train)")
            if item.error:
                continue
            audio = item.load()
            waves.append(resample(audio.wave, audio.sample_rate, sample_rate))
            hashes.append(item.content_hash())
    if not waves:
        raise TrainError(f"no usable audio in {list(specs)}")
    return Corpus(waves, dataset_hash(hashes), sum(len(w) for w in waves) / sample_rate)


def peaking_biquad(centre: float, gain_db: float, q: float, sample_rate: int) -> np.ndarray:
    """One second-order section (b0 b1 b2 a0 a1 a2, a0 = 1) of a peaking filter: gain
    ``gain_db`` at ``centre`` Hz, 0 dB far from it (R. Bristow-Johnson, "Audio EQ cookbook")."""
    amp = 10 ** (gain_db / 40)
    w0 = 2 * np.pi * centre / sample_rate
    alpha = np.sin(w0) / (2 * q)
    b = np.array([1 + alpha * amp, -2 * np.cos(w0), 1 - alpha * amp])
    a = np.array([1 + alpha / amp, -2 * np.cos(w0), 1 - alpha / amp])
    return np.concatenate([b / a[0], a / a[0]])


def random_eq(wave: np.ndarray, rng: np.random.Generator, eq_db: float,
              sample_rate: int = 16_000, bands: int = 3) -> np.ndarray:
    """``wave`` through ``bands`` peaking filters with random centres (log-uniform 150 Hz to
    6 kHz), gains (uniform +- ``eq_db``) and Q (0.7 to 2.5): a new vocal-tract colouring."""
    from scipy.signal import sosfilt

    sos = [peaking_biquad(np.exp(rng.uniform(np.log(150.0), np.log(6000.0))),
                          rng.uniform(-eq_db, eq_db), rng.uniform(0.7, 2.5), sample_rate)
           for _ in range(bands)]
    return sosfilt(np.array(sos), wave).astype(np.float32)


def sample_batch(corpus: Corpus, rng: np.random.Generator, batch: int, length: int,
                 speed: float = 0.0, gain_db: float = 0.0, eq_db: float = 0.0) -> torch.Tensor:
    """Random crops [batch, 1, length]; items are drawn in proportion to their length.

    Augmentation (both off at 0): resampling by a random factor in [1 - speed, 1 + speed]
    shifts pitch and formants together, a cheap way to hear "new speakers" from a corpus
    with few voices; random peaking filters (``random_eq``, +- eq_db) change the timbre
    without the pitch; a random gain in [-gain_db, +gain_db] dB covers other levels.
    """
    import soxr

    picks = length_weighted_picks(corpus.waves, rng, batch)
    out = np.zeros((batch, 1, length), dtype=np.float32)
    for b, i in enumerate(picks):
        w = corpus.waves[i]
        factor = 1.0 + rng.uniform(-speed, speed) if speed > 0 else 1.0
        need = int(np.ceil(length * factor)) + 64
        start = int(rng.integers(0, max(1, len(w) - need + 1)))
        crop = w[start: start + need]
        if factor != 1.0:
            crop = soxr.resample(crop, 1000 * factor, 1000, quality="HQ")
        crop = crop[:length]
        if eq_db > 0:
            crop = random_eq(crop, rng, eq_db)
        crop = crop * random_gain(rng, gain_db)
        out[b, 0, : len(crop)] = np.clip(crop, -1.0, 1.0)
    return torch.from_numpy(out)


#: TrainConfig fields that do not change what is learned (bookkeeping).
_NOT_RECIPE = ("out", "log_every", "checkpoint_minutes")


def _step_seed(seed: int, step: int) -> int:
    return (seed * 1_000_003 + step) % (2 ** 63)


def _save_atomic(obj: dict[str, Any], path: str) -> None:
    tmp = path + ".tmp"
    torch.save(obj, tmp)
    os.replace(tmp, path)


class Trainer:
    """Owns the model, optimizer and data; ``run()`` trains up to ``cfg.steps``."""

    def __init__(self, cfg: TrainConfig, model_cfg: ModelConfig, corpus: Corpus,
                 log: Callable[[str], None] = print):
        self.cfg, self.model_cfg, self.corpus, self.log = cfg, model_cfg, corpus, log
        torch.manual_seed(cfg.seed)
        self.model = RVQAutoencoder(model_cfg)
        self.model.quantizer.dead_fraction = cfg.dead_fraction
        for level in self.model.quantizer.levels:
            level.decay = cfg.ema_decay
        self.loss_fn = ReconstructionLoss(model_cfg.sample_rate, time_weight=cfg.wave_weight,
                                          complex_weight=cfg.complex_weight,
                                          magnitude_weight=cfg.magnitude_weight)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=cfg.lr, betas=tuple(cfg.betas))
        self.step = 0
        hop = model_cfg.hop
        self.length = max(hop, int(round(cfg.segment * model_cfg.sample_rate / hop)) * hop)
        self.history: list[dict[str, Any]] = []
        self.distill: Any = None
        self.skipped = 0  # updates skipped for a non-finite loss or gradient
        if cfg.distill_weight > 0:
            self._init_distill()
        self.disc: Any = None
        if cfg.adversarial_weight > 0:
            from recipes.rvq.adversarial import Discriminators

            self.disc = Discriminators()
            self.disc_opt = torch.optim.Adam(self.disc.parameters(), lr=cfg.lr, betas=tuple(cfg.betas))
        #: Recipe changes made on resuming (e.g. a lower --lr from some step on), so the
        #: shipped sidecar tells the whole recipe, not only the last command's.
        self.phases: list[dict[str, Any]] = []

    def _init_distill(self) -> None:
        from recipes.rvq.distill import DistillHead, whisper_features

        self.log(f"computing Whisper encoder targets for {len(self.corpus.waves)} utterances")
        self.targets = whisper_features(self.corpus.waves, self.cfg.distill_model, self.cfg.threads)
        self.distill = DistillHead(self.model_cfg.latent_dim, self.targets[0].shape[1])
        # Its own optimizer, so a plain checkpoint can be fine-tuned with distillation.
        self.distill_opt = torch.optim.Adam(self.distill.parameters(), lr=self.cfg.lr, betas=tuple(self.cfg.betas))

    # -- checkpoints ----------------------------------------------------------------------
    @property
    def last_path(self) -> str:
        return os.path.join(self.cfg.out, "last.pt")

    def state(self) -> dict[str, Any]:
        return {
            "format": "bench-rvq-train/1",
            "step": self.step,
            "model": self.model.state_dict(),
            "optimizer": self.opt.state_dict(),
            "model_config": self.model_cfg.to_dict(),
            "train_config": self.cfg.to_dict(),
            "data_hash": self.corpus.data_hash,
            "data_seconds": self.corpus.seconds,
            "history": json.dumps(self.history),
            "phases": json.dumps(self.phases),
            **({"distill_head": self.distill.state_dict(),
                "distill_optimizer": self.distill_opt.state_dict()} if self.distill else {}),
            **({"discriminator": self.disc.state_dict(),
                "discriminator_optimizer": self.disc_opt.state_dict()} if self.disc else {}),
        }

    def save(self) -> str:
        os.makedirs(self.cfg.out, exist_ok=True)
        _save_atomic(self.state(), self.last_path)
        return self.last_path

    def try_resume(self) -> bool:
        if not os.path.exists(self.last_path):
            return False
        ckpt = torch.load(self.last_path, map_location="cpu", weights_only=True)
        if ModelConfig.from_dict(ckpt["model_config"]) != self.model_cfg:
            raise TrainError(f"{self.last_path} was trained with a different model config; "
                             "use another --out or the same options")
        if ckpt["data_hash"] != self.corpus.data_hash:
            self.log(f"warning: resuming on different data (hash {self.corpus.data_hash[:12]} "
                     f"vs {ckpt['data_hash'][:12]})")
        self.model.load_state_dict(ckpt["model"])
        self.opt.load_state_dict(ckpt["optimizer"])
        self.step = int(ckpt["step"])
        if self.distill is not None and "distill_head" in ckpt:
            self.distill.load_state_dict(ckpt["distill_head"])
            self.distill_opt.load_state_dict(ckpt["distill_optimizer"])
        if self.disc is not None and "discriminator" in ckpt:
            self.disc.load_state_dict(ckpt["discriminator"])
            self.disc_opt.load_state_dict(ckpt["discriminator_optimizer"])
        self.history = json.loads(ckpt.get("history", "[]"))
        self.phases = json.loads(ckpt.get("phases", "[]"))
        # A field the checkpoint predates counts as its default.
        old = {**TrainConfig().to_dict(), **ckpt.get("train_config", {})}
        changed = {k: [old[k], v] for k, v in self.cfg.to_dict().items()
                   if k not in _NOT_RECIPE and old[k] != v}
        if changed:
            self.phases.append({"from_step": self.step, "changed": changed})
            self.log(f"recipe changed at step {self.step}: {json.dumps(changed)}")
        self.log(f"resumed from {self.last_path} at step {self.step}")
        return True

    # -- training -------------------------------------------------------------------------
    def batch(self, step: int, stream: int = 0) -> torch.Tensor:
        """The crops of ``step`` (stream 0: training, 1: k-means init), fixed by the seed."""
        rng = np.random.default_rng([self.cfg.seed, stream, step])
        if self.distill is not None:
            from recipes.rvq.distill import aligned_batch

            x, self._batch_targets = aligned_batch(
                self.corpus.waves, self.targets, rng, self.cfg.batch_size,
                self.length // self.model_cfg.hop, self.model_cfg.hop, self.cfg.gain_db)
            return x
        return sample_batch(self.corpus, rng, self.cfg.batch_size, self.length,
                            self.cfg.speed, self.cfg.gain_db, self.cfg.eq_db)

    @torch.no_grad()
    def kmeans_init(self) -> None:
        """k-means on the latents of the first batches (SoundStream, sec. III-C)."""
        z = torch.cat([self.model.encoder(self.batch(i, stream=1)) for i in range(self.cfg.kmeans_batches)])
        self.model.quantizer.kmeans_init(z, batch_vectors=len(z) * z.shape[-1] // self.cfg.kmeans_batches)

    def n_active(self, batch: int) -> torch.Tensor:
        """Quantizer dropout: a random depth 1..N per example (SoundStream, sec. III-C)."""
        n = self.model_cfg.n_q
        depth = torch.randint(1, n + 1, (batch,))
        keep_full = torch.rand(batch) >= self.cfg.quantizer_dropout
        return torch.where(keep_full, torch.full_like(depth, n), depth)

    def learning_rate(self, step: int) -> float:
        """Constant, then a linear fall to ``lr_floor * lr`` over the last ``lr_decay`` of
        the steps (a function of the step alone, so resuming gives the same rate)."""
        cfg = self.cfg
        start = cfg.steps * (1.0 - cfg.lr_decay)
        if cfg.lr_decay <= 0 or step < start:
            return cfg.lr
        frac = min(1.0, (step - start) / max(1.0, cfg.steps - start))
        return cfg.lr * (1.0 - (1.0 - cfg.lr_floor) * frac)

    def train_step(self, step: int) -> dict[str, Any]:
        torch.manual_seed(_step_seed(self.cfg.seed, step))
        optimizers = [self.opt] + ([self.distill_opt] if self.distill is not None else [])
        for opt in optimizers:
            for group in opt.param_groups:
                group["lr"] = self.learning_rate(step)
            opt.zero_grad(set_to_none=True)
        self.model.train()
        self.model.encoder.norm.use_running = step >= self.cfg.norm_warmup
        x = self.batch(step)
        frozen = self.cfg.freeze_encoder
        if frozen:  # eval mode: no norm-statistics or codebook updates, no gradients
            self.model.encoder.eval()
            self.model.quantizer.eval()
        with torch.set_grad_enabled(not frozen):
            z = self.model.encoder(x)
            q = self.model.quantizer(z, self.n_active(len(x)))
        y = self.model.decoder(q.quantized)
        rec, terms = self.loss_fn(y, x)
        loss = rec + (0.0 if frozen else self.cfg.commit_weight * q.commit_loss)
        if self.disc is not None:
            loss = loss + self._adversarial_step(step, x, y, terms)
        scale_loss = self.model.encoder.norm.scale_loss
        if self.cfg.scale_weight and scale_loss is not None:
            loss = loss + self.cfg.scale_weight * scale_loss.float()
            terms["prenorm_log_var"] = float(scale_loss.detach().sqrt())
        if self.distill is not None:
            zt = z.permute(0, 2, 1)  # [B, T, D]
            code = self.model.quantizer.levels[0].lookup(q.codes[0])
            first = zt + (code - zt).detach()  # straight-through, like the quantizer
            distill = self.distill.loss(first, self._batch_targets)
            loss = loss + self.cfg.distill_weight * distill
            terms["distill"] = float(distill.detach())
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        if not (torch.isfinite(loss) and torch.isfinite(grad_norm)):
            # One bad batch must not poison the weights: skip the update, say which term.
            bad = [k for k, v in terms.items() if not np.isfinite(v)] or ["gradient"]
            self.log(f"step {step}: non-finite {', '.join(bad)}; update skipped")
            self.skipped += 1
            return {"skipped": True}
        for opt in optimizers:
            opt.step()
        return {"loss": float(loss.detach()), **terms, "commit": float(q.commit_loss.detach()),
                "perplexity": [round(float(p), 1) for p in q.perplexity],
                "restarted": list(q.restarted),
                "residual": [round(float(r), 4) for r in q.residual_norms]}

    def _adversarial_step(self, step: int, x: torch.Tensor, y: torch.Tensor,
                          terms: dict[str, float]) -> torch.Tensor:
        """Update the discriminators on this batch, then return the generator's weighted
        adversarial + feature-matching loss against the updated discriminators."""
        from recipes.rvq.adversarial import discriminator_loss, generator_losses

        for group in self.disc_opt.param_groups:
            group["lr"] = self.learning_rate(step)
        self.disc_opt.zero_grad(set_to_none=True)
        real = self.disc(x)
        d_loss = discriminator_loss(real, self.disc(y.detach()))
        d_loss.backward()
        d_norm = torch.nn.utils.clip_grad_norm_(self.disc.parameters(), self.cfg.grad_clip)
        if torch.isfinite(d_loss) and torch.isfinite(d_norm):
            self.disc_opt.step()
        terms["disc"] = float(d_loss.detach())
        real = [(logits.detach(), [f.detach() for f in maps]) for logits, maps in real]
        self.disc.requires_grad_(False)  # the generator's loss needs no discriminator grads
        try:
            adv, fm = generator_losses(real, self.disc(y))
        finally:
            self.disc.requires_grad_(True)
        terms["adv"], terms["fm"] = float(adv.detach()), float(fm.detach())
        return self.cfg.adversarial_weight * adv + self.cfg.feature_weight * fm

    def run(self) -> int:
        cfg = self.cfg
        torch.set_num_threads(cfg.threads)
        if not self.try_resume():
            self.log(f"model: {count_parameters(self.model):,} parameters, hop "
                     f"{self.model_cfg.hop} ({self.model_cfg.frame_rate:g} frames/s), "
                     f"{self.model_cfg.n_q} x {self.model_cfg.codebook_size} codes; data "
                     f"{self.corpus.seconds:.0f} s, hash {self.corpus.data_hash[:12]}")
            self.kmeans_init()
            self.log("codebooks initialised by k-means")
        stop = {"flag": False}

        def on_term(signum, frame):  # nohup'd runs are stopped with SIGTERM: save and exit
            stop["flag"] = True

        old = signal.signal(signal.SIGTERM, on_term) if _main_thread() else None
        last_save, t0, acc = time.monotonic(), time.monotonic(), []
        try:
            while self.step < cfg.steps and not stop["flag"]:
                out = self.train_step(self.step)
                if not out.get("skipped"):
                    acc.append(out)
                self.step += 1
                if (self.step % cfg.log_every == 0 or self.step == cfg.steps) and acc:
                    self._log(acc, time.monotonic() - t0)
                    acc, t0 = [], time.monotonic()
                if time.monotonic() - last_save > cfg.checkpoint_minutes * 60:
                    self.save()
                    last_save = time.monotonic()
        except KeyboardInterrupt:
            self.log(f"interrupted at step {self.step}; saving")
        finally:
            path = self.save()
            if old is not None:
                signal.signal(signal.SIGTERM, old)
        self.log(f"saved {path} at step {self.step}")
        return self.step

    def _log(self, acc: list[dict[str, Any]], seconds: float) -> None:
        rec: dict[str, Any] = {"step": self.step, "s_per_step": round(seconds / len(acc), 3)}
        rec["lr"] = round(self.learning_rate(self.step - 1), 6)
        for key in ("loss", "mel", "stft", "l1", "complex", "magnitude", "distill", "adv", "fm", "disc",
                    "commit", "prenorm_log_var"):
            if key in acc[0]:
                rec[key] = round(float(np.mean([a[key] for a in acc])), 4)
        rec["perplexity"] = np.mean([a["perplexity"] for a in acc], axis=0).round(1).tolist()
        rec["residual"] = np.mean([a["residual"] for a in acc], axis=0).round(4).tolist()
        # Dead codes: share of each codebook restarted during this logging window (a code
        # restarted twice counts twice).
        size = self.model_cfg.codebook_size
        rec["restarted_pct"] = [round(100.0 * sum(r) / size, 1)
                                for r in zip(*[a["restarted"] for a in acc])]
        self.history.append({k: rec[k] for k in ("step", "loss", "mel", "stft", "complex", "distill", "adv", "fm",
                                                     "disc", "commit")
                             if k in rec})
        self.log(json.dumps(rec))


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def train(cfg: TrainConfig, model_cfg: ModelConfig | None = None,
          log: Callable[[str], None] | None = None) -> str:
    """Train (or resume) and return the path of the last checkpoint."""
    model_cfg = model_cfg or ModelConfig()
    os.makedirs(cfg.out, exist_ok=True)
    log_path = os.path.join(cfg.out, "train.log")

    def _log(msg: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        line = f"[{stamp}] {msg}"
        print(line, file=sys.stdout, flush=True)
        with open(log_path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")

    torch.set_num_threads(cfg.threads)
    corpus = load_corpus(cfg.datasets, model_cfg.sample_rate)
    trainer = Trainer(cfg, model_cfg, corpus, log or _log)
    trainer.run()
    return trainer.last_path


__all__ = ["TrainConfig", "TrainError", "Trainer", "load_corpus", "train"]
