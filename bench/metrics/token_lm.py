"""A tiny causal transformer LM over token frames, with one fixed CPU recipe (the tokens task's
``transformer_lm=true``; docs/tokens.md).

One model per codec. A frame's K tokens are embedded (one table per stream) and summed, plus a
learned position embedding; K output heads predict the next frame's tokens, each stream from all
streams of the earlier frames (not from the other streams of the same frame). Trained on random
windows of the train items, scored on the test items in consecutive windows of ``context``
frames, each window starting from a begin frame (so a window's first frames see less context).
Early stopping: the last tenth of the train items is held out, its loss measured every 25 steps,
and the state with the lowest held-out loss is the one scored (the first recipe, 300 steps without
it, overfit rvq-8q's 15,000 train frames to 13.2 bits/token, worse than a uniform code). Seeded; one torch thread; deterministic on one machine.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

#: The fixed recipe (changing it moves numbers: bump the tokens task's version).
RECIPE: dict[str, Any] = {
    "layers": 2, "d_model": 128, "heads": 4, "d_ff": 256, "context": 128, "steps": 300, "batch": 32,
    "lr": 3e-3, "weight_decay": 0.01, "warmup": 30, "schedule": "linear warm-up, cosine decay", "optimizer": "AdamW",
    "max_vocab_per_stream": 4096, "threads": 1,
    # early stopping: every `eval_every` steps the loss on a held-out share of the train items (the
    # last `valid_share` of them, at least one) is measured, and the best state is the one scored
    "valid_share": 0.1, "eval_every": 25, "dropout": 0.1,
}


def transformer_bits(train: list[np.ndarray], test: list[np.ndarray], vocab: list[int], seed: int,
                     recipe: dict[str, Any] | None = None) -> dict[str, Any] | str:
    """Train on ``train`` (each ``[K, T]``), return ``{"bits": per test item total bits, ...}``,
    or a reason (str) why the recipe does not apply."""
    r = {**RECIPE, **(recipe or {})}
    if max(vocab) > r["max_vocab_per_stream"]:
        return f"vocabulary too large for the transformer recipe ({max(vocab)} > {r['max_vocab_per_stream']} per stream)"
    from bench.codecs.base import require

    torch = require("torch", "torch")
    nn = torch.nn
    K, C = len(vocab), int(r["context"])
    prev_threads = torch.get_num_threads()
    torch.set_num_threads(int(r["threads"]))
    try:
        g = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)

        class LM(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                d = r["d_model"]
                self.emb = nn.ModuleList([nn.Embedding(v + 1, d) for v in vocab])  # + begin symbol
                self.pos = nn.Embedding(C, d)
                layer = nn.TransformerEncoderLayer(d, r["heads"], r["d_ff"], dropout=float(r["dropout"]), batch_first=True,
                                                   norm_first=True)
                self.body = nn.TransformerEncoder(layer, r["layers"], enable_nested_tensor=False)
                self.norm = nn.LayerNorm(d)
                self.heads = nn.ModuleList([nn.Linear(d, v) for v in vocab])
                self.register_buffer("mask", torch.triu(torch.full((C, C), float("-inf")), diagonal=1))

            def forward(self, x):  # x [B, K, L] inputs (begin-shifted) -> list of K logits [B, L, V_k]
                L = x.shape[-1]
                h = sum(self.emb[k](x[:, k]) for k in range(K)) + self.pos.weight[:L]
                h = self.norm(self.body(h, mask=self.mask[:L, :L], is_causal=True))
                return [head(h) for head in self.heads]

        def shifted(y):  # targets [B, K, L] -> inputs: a begin frame, then y without its last frame
            bos = torch.tensor(vocab, dtype=torch.long).view(1, K, 1).expand(y.shape[0], K, 1)
            return torch.cat([bos, y[:, :, :-1]], dim=2)

        model = LM()

        def score(seqs):  # total bits of each [K, T] tensor, in consecutive windows of C frames
            bits = np.zeros(len(seqs))
            with torch.no_grad():
                for n, t in enumerate(seqs):
                    T, total = t.shape[1], 0.0
                    for s in range(0, T, C * 64):  # 64 windows per forward pass
                        wins = [t[:, a : a + C] for a in range(s, min(T, s + C * 64), C)]
                        lens = [w.shape[1] for w in wins]
                        y = torch.stack([torch.cat([w, w[:, -1:].expand(K, C - w.shape[1])], 1)
                                         if w.shape[1] < C else w for w in wins])
                        valid = torch.stack([torch.arange(C) < L for L in lens])
                        logits = model(shifted(y))
                        for k in range(K):
                            nll = nn.functional.cross_entropy(logits[k][valid], y[:, k][valid], reduction="sum")
                            total += float(nll) / math.log(2)
                    bits[n] = total
            return bits

        opt = torch.optim.AdamW(model.parameters(), lr=r["lr"], weight_decay=r["weight_decay"])
        steps, warm = int(r["steps"]), int(r["warmup"])
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warm) * 0.5 * (
            1 + math.cos(math.pi * min(1.0, s / steps))))
        items = [torch.from_numpy(np.ascontiguousarray(t, dtype=np.int64)) for t in train if t.shape[1] >= 2]
        if len(items) < 2:
            return "fewer than 2 train items with at least 2 frames (one is held out for early stopping)"
        n_valid = max(1, int(round(len(items) * float(r["valid_share"]))))
        items, held = items[:-n_valid], items[-n_valid:]
        lengths = np.array([t.shape[1] for t in items], dtype=np.float64)
        t0 = time.perf_counter()
        loss_v = math.nan
        best = (math.inf, -1, None)  # held-out bits per frame, step, state
        for step in range(steps):
            pick = torch.multinomial(torch.from_numpy(lengths), int(r["batch"]), replacement=True, generator=g)
            batch = []
            for i in pick.tolist():
                t = items[i]
                L = min(C, t.shape[1])
                start = int(torch.randint(0, t.shape[1] - L + 1, (1,), generator=g))
                w = t[:, start : start + L]
                if L < C:  # pad short items with their last frame, masked out of the loss below
                    w = torch.cat([w, w[:, -1:].expand(K, C - L)], dim=1)
                batch.append((w, L))
            y = torch.stack([b[0] for b in batch])
            valid = torch.stack([torch.arange(C) < b[1] for b in batch])
            logits = model(shifted(y))
            loss = sum(nn.functional.cross_entropy(logits[k][valid], y[:, k][valid]) for k in range(K))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            loss_v = float(loss.detach())
            if (step + 1) % int(r["eval_every"]) == 0 or step + 1 == steps:
                model.eval()
                held_bits = score(held)
                model.train()
                per_frame = float(held_bits.sum()) / sum(t.shape[1] for t in held)
                if per_frame < best[0]:
                    best = (per_frame, step + 1, {k: v.clone() for k, v in model.state_dict().items()})
        train_s = time.perf_counter() - t0
        model.load_state_dict(best[2])
        model.eval()
        bits = score([torch.from_numpy(np.ascontiguousarray(t, dtype=np.int64)) for t in test])
        return {"bits": bits, "train_seconds": round(train_s, 1), "final_loss": loss_v,
                "best_step": best[1], "held_out_bits_per_frame": round(best[0], 4)}
    finally:
        torch.set_num_threads(prev_threads)

