"""``bench train rvq``: train, resume or ship the RVQ codec (thin wrapper over train.py).

Registered lazily by ``bench/cli.py``: this module is imported only when ``bench train`` is parsed."""

from __future__ import annotations

import argparse

EXAMPLES = """\
examples:
  bench train rvq --dataset synth-speech:subset=train --threads 2 --out runs/rvq
      train (or resume from runs/rvq/last.pt); Ctrl-C saves; logs to runs/rvq/train.log
  bench train rvq --dataset synth-speech:subset=train \\
      --dataset manifest:path=../shared/realspeech/manifest.jsonl --out runs/rvq
      add more training data (never a test split)
  bench train rvq --export runs/rvq/last.pt
      write bench/data/rvq/rvq.pt (float16) and rvq.json (SHA-256, recipe, data hash)
  bench train rvq --report bench/data/rvq/rvq.pt --dataset synth-speech:subset=test
      parameters, real-time factor, per-level codebook perplexity and dead codes
  bench run -c rvq-1q -c rvq-8q --dataset synth-speech:subset=test --out runs/eval
"""


def add_train_command(sub) -> None:
    p = sub.add_parser(
        "train", help="train one of our own codecs (rvq)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train the EnCodec-style RVQ codec on CPU: deterministic for a seed, "
                    "resumable from OUT/last.pt, saves on Ctrl-C.",
        epilog=EXAMPLES,
    )
    p.add_argument("model", choices=["rvq"], help="which model to train")
    p.add_argument("--dataset", "-d", action="append", dest="datasets",
                   help="training data, repeatable (default: synth-speech:subset=train)")
    p.add_argument("--steps", type=int, default=20_000, help="total optimizer steps (default 20000)")
    p.add_argument("--out", "-o", default="runs/rvq", help="run folder (default runs/rvq)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--segment", type=float, default=0.64, help="crop length in seconds")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1: shared CPU)")
    p.add_argument("--log-every", type=int, default=25)
    p.add_argument("--checkpoint-minutes", type=float, default=3.0)
    p.add_argument("--ema-decay", type=float, default=0.99, help="codebook EMA decay")
    p.add_argument("--dead-fraction", type=float, default=0.25,
                   help="restart codes whose EMA usage is below this share of the mean")
    p.add_argument("--quantizer-dropout", type=float, default=1.0,
                   help="share of examples trained at a random depth 1..N (default 1.0)")
    p.add_argument("--speed", type=float, default=0.1, help="augmentation: resampling 1 +- speed")
    p.add_argument("--gain-db", type=float, default=6.0, help="augmentation: random gain range")
    p.add_argument("--eq-db", type=float, default=None,
                   help="augmentation: three random peaking filters of gain +- EQ_DB dB (timbre)")
    p.add_argument("--wave-weight", type=float, default=None,
                   help="weight of the time-domain L1 loss term (default: TrainConfig)")
    p.add_argument("--complex-weight", type=float, default=None,
                   help="weight of the compressed complex STFT loss (default: TrainConfig)")
    p.add_argument("--magnitude-weight", type=float, default=None,
                   help="weight of the compressed magnitude STFT loss |S|^0.3 (default: TrainConfig)")
    p.add_argument("--betas", default=None, help="Adam's beta1,beta2 (default 0.5,0.9 as in EnCodec)")
    p.add_argument("--lr-decay", type=float, default=None,
                   help="share of the final steps over which the learning rate falls linearly "
                        "to 5%% of --lr (default 0.3; 0 keeps it constant)")
    p.add_argument("--scale-weight", type=float, default=None,
                   help="> 0: penalise the squared log of the encoder's pre-norm variance, to "
                        "hold that scale near 1 (default 0: off, see docs/rvq.md)")
    p.add_argument("--distill-weight", type=float, default=None,
                   help="> 0: distil Whisper tiny.en encoder features into RVQ level 1 "
                        "(Mimi-style; needs the asr extra)")
    p.add_argument("--distill-model", default=None, metavar="DIR",
                   help="CTranslate2 Whisper directory for --distill-weight (default: bundled tiny.en)")
    p.add_argument("--adversarial-weight", type=float, default=None,
                   help="> 0: train against multi-period and multi-resolution STFT "
                        "discriminators (LSGAN) with this weight (default 0: off)")
    p.add_argument("--feature-weight", type=float, default=None,
                   help="weight of discriminator feature matching with --adversarial-weight (default 2)")
    p.add_argument("--freeze-encoder", action="store_true", default=None,
                   help="train the decoder only: the encoder and codebooks, hence the tokens, "
                        "stay as they are (fine-tuning a trained model)")
    p.add_argument("--channels", type=int, default=None, help="width of the first stage, doubled by each stride (default 128)")
    p.add_argument("--strides", default=None,
                   help="encoder strides after the STFT, comma-separated (default 4; with "
                        "--spectral-hop 0 the waveform model, e.g. 2,4,5,8)")
    p.add_argument("--spectral-hop", type=int, default=None,
                   help="hop of the STFT that is the outer stage of the spectral model "
                        "(default 80; 0: EnCodec's waveform-convolutional model)")
    p.add_argument("--block", choices=("residual", "convnext"), default=None,
                   help="block type of each stage (default convnext)")
    p.add_argument("--dilations", default=None,
                   help="one block per dilation in each stage, comma-separated (default 1,3,9)")
    p.add_argument("--n-q", type=int, default=None, help="RVQ levels (default 8)")
    p.add_argument("--codebook-size", type=int, default=None, help="codes per level (default 1024)")
    p.add_argument("--export", metavar="CKPT", default=None,
                   help="ship a training checkpoint instead of training")
    p.add_argument("--report", metavar="CKPT", default=None,
                   help="print parameters, real-time factor and per-level codebook usage of a "
                        "checkpoint (training last.pt or shipped rvq.pt) on --dataset")
    p.add_argument("--note", default=None, help="with --export: a remark kept in the sidecar JSON")
    p.add_argument("--to", default=None, help="with --export: destination .pt "
                   "(default bench/data/rvq/rvq.pt)")
    p.set_defaults(func=cmd_train)


def _numbers(text: str, kind: type) -> tuple:
    """``"2,4,5,8"`` -> ``(2, 4, 5, 8)``; an empty string gives ``()``."""
    return tuple(kind(part) for part in text.split(",") if part.strip())


def cmd_train(args) -> int:
    import json

    from bench.codecs.base import require

    require("torch", "torch")
    from bench.codecs.rvq import checkpoint
    from recipes.rvq.export import export

    if args.export:
        meta = export(args.export, args.to or checkpoint.SHIPPED_CHECKPOINT, note=args.note)
        print(json.dumps({k: meta[k] for k in ("file", "sha256", "bytes", "steps", "data_hash")}, indent=2))
        return 0
    if args.report:
        return _report(args)
    import dataclasses

    from bench.codecs.rvq.config import ModelConfig
    from recipes.rvq.train import TrainConfig, train

    shape = {k: v for k, v in {"channels": args.channels, "n_q": args.n_q,
                                "codebook_size": args.codebook_size, "block": args.block,
                                "spectral_hop": args.spectral_hop}.items() if v is not None}
    if args.strides is not None:
        shape["strides"] = _numbers(args.strides, int)
    if args.dilations:
        shape["res_dilations"] = _numbers(args.dilations, int)
    loss_options = ("wave_weight", "complex_weight", "magnitude_weight", "lr_decay", "scale_weight",
                    "distill_weight", "distill_model", "eq_db", "adversarial_weight", "feature_weight",
                    "freeze_encoder")
    optional = {k: getattr(args, k) for k in loss_options
                if getattr(args, k) is not None}  # unset: TrainConfig's default
    if args.betas:
        optional["betas"] = _numbers(args.betas, float)
    cfg = TrainConfig(
        datasets=tuple(args.datasets or TrainConfig.datasets), steps=args.steps, out=args.out,
        seed=args.seed, batch_size=args.batch_size, segment=args.segment, lr=args.lr,
        threads=args.threads, log_every=args.log_every, checkpoint_minutes=args.checkpoint_minutes,
        ema_decay=args.ema_decay, dead_fraction=args.dead_fraction, speed=args.speed,
        gain_db=args.gain_db, quantizer_dropout=args.quantizer_dropout, **optional,
    )
    path = train(cfg, dataclasses.replace(ModelConfig(), **shape))
    print(f"checkpoint: {path}  (ship it with: bench train rvq --export {path})")
    return 0


def _report(args) -> int:
    import json

    import torch

    from bench.codecs.rvq import checkpoint
    from bench.codecs.rvq.config import ModelConfig
    from bench.codecs.rvq.model import RVQAutoencoder
    from recipes.rvq import stats
    from recipes.rvq.train import load_corpus

    torch.set_num_threads(args.threads)
    blob = torch.load(args.report, map_location="cpu", weights_only=True)
    if "weights" in blob:  # shipped: verify its SHA-256 first
        model = checkpoint.build_model(args.report)
    else:
        model = RVQAutoencoder(ModelConfig.from_dict(blob["model_config"]))
        model.load_state_dict(blob["model"])
    specs = args.datasets or ["synth-speech:subset=train"]
    corpus = load_corpus(specs, model.cfg.sample_rate, allow_test=True)
    out = {"checkpoint": args.report, "steps": blob.get("step"), "datasets": specs,
           **stats.report(model, corpus.waves)}
    print(json.dumps(out, indent=1))
    return 0
