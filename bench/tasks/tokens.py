"""Tokens as a language model sees them: rate, vocabulary use, LM cost, stability (docs/tokens.md).

Per item, ``measure`` records the rates (tokens per second, declared, measured and payload
bitrate), keeps the tokens in the row's extras (typed arrays of the store: the n-gram model
trains on them in ``summarize``) and, on the items of the scoring split, measures stability:
the normalised token edit distance and the positional mismatch rate between the tokens of the
item and those of the item shifted by 1, 5 and 10 ms, at -6 dB, with white noise at 30 and
20 dB SNR (seeded by the item's hash), re-encoded from its own decoding (tandem), encoded in
1-s chunks, and inside a zero-padded batch (codecs with ``supports_batch``); ``repeat`` is a
second encode of the same input (determinism).

``summarize`` pools unigram counts over every measured item (entropy, perplexity, codebook
utilisation, dead codes, the unigram entropy-coded rate), trains one interpolated Kneser-Ney
model per token stream (:class:`bench.metrics.tokens.KneserNey`, orders 1..``order``) on the
``train_split`` items and scores the ``test_split`` items: bits per token and bits per second of
audio (the sum over streams), with percentile bootstrap intervals over test items (ratio of
sums). The optional tiny transformer LM (``transformer_lm=true``, torch) is scored the same
way. Changing any of this moves numbers: bump ``Tokens.version``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from typing import Any

import numpy as np

from bench.audio import METRIC_SR, resample
from bench.metrics.stats import percentile_interval, ratio_interval
from bench.metrics.tokens import (KneserNey, entropy_bits, mismatch_rate, normalized_edit_distance,
                                  symbol_counts)
from bench.tasks.base import Failed, ItemContext, Measurement, MetricSpec, MetricValue, Row, Task, summarize_metric

#: Stability conditions, in table order: metric suffix -> description.
CONDITIONS: dict[str, str] = {
    "repeat": "the same input encoded again (determinism)",
    "shift_1ms": "input delayed by 1 ms (zeros in front, same length)",
    "shift_5ms": "input delayed by 5 ms",
    "shift_10ms": "input delayed by 10 ms",
    "gain_m6db": "input at -6 dB",
    "noise_30db": "white noise added at 30 dB SNR (seeded)",
    "noise_20db": "white noise added at 20 dB SNR (seeded)",
    "tandem": "the codec's own decoding re-encoded",
    "chunked_1s": "encoded in 1-s chunks, tokens concatenated",
    "batch_padded": "encoded in a zero-padded batch with a 1.5x longer input (codecs with supports_batch)",
}


@dataclasses.dataclass(frozen=True)
class TokensConfig:
    order: int = 4  # the n-gram order of the headline figures (orders 1..order in the report)
    train_split: str = "train"  # items whose 'split' label is this train the LMs
    test_split: str = "test"  # ...and these are scored, and measured for stability
    stability: bool = True
    chunk_s: float = 1.0
    seed: int = 0  # the noise conditions' generator (with the item's hash)
    n_boot: int = 200  # bootstrap replicates of the pooled unigram statistics
    transformer_lm: bool = False  # the tiny causal transformer LM (torch; minutes per codec)

    def __post_init__(self) -> None:
        if not 1 <= self.order <= 6:
            raise ValueError(f"order must be 1..6, got {self.order}")


def _specs() -> tuple[MetricSpec, ...]:
    s = [
        MetricSpec("tokens_per_s", "tok/s", None, "tokens per second of audio, all streams (K x frames / s)"),
        MetricSpec("declared_kbps", "kbps", None, "nominal bitrate: frame rate x sum of log2 vocabulary sizes"),
        MetricSpec("measured_kbps", "kbps", None, "frames actually emitted x bits per frame / duration"),
        MetricSpec("payload_rate_kbps", "kbps", None, "the codec's true compressed payload (codecs that have one)"),
        MetricSpec("unigram_entropy", "bits/token", None, "empirical unigram entropy, pooled over items, mean over streams"),
        MetricSpec("unigram_perplexity", "", None, "2 ** unigram_entropy"),
        MetricSpec("unigram_kbps", "kbps", False, "rate of an ideal unigram entropy coder: sum over streams of entropy x frame rate"),
        MetricSpec("codebook_utilisation", "", None, "fraction of each stream's vocabulary seen in the corpus, mean over streams"),
        MetricSpec("dead_codes", "codes", None, "vocabulary entries never seen in the corpus, summed over streams"),
        MetricSpec("ngram_bits_per_token", "bits/token", False, "interpolated Kneser-Ney n-gram (per stream, trained on the train split) on test items"),
        MetricSpec("ngram_kbps", "kbps", False, "the same model's cost per second of audio (sum over streams): an entropy-coded rate"),
        MetricSpec("transformer_bits_per_token", "bits/token", False, "tiny causal transformer LM (transformer_lm=true) on test items"),
        MetricSpec("transformer_kbps", "kbps", False, "the same per second of audio"),
    ]
    for cond, text in CONDITIONS.items():
        s.append(MetricSpec(f"ned_{cond}", "", False, f"normalised token edit distance: {text}"))
    for cond, text in CONDITIONS.items():
        s.append(MetricSpec(f"mismatch_{cond}", "", False, f"positional token mismatch rate: {text}"))
    return tuple(s)


def _token_dtype(vocab_sizes: tuple[int, ...]) -> Any:
    top = max(vocab_sizes)
    for dt in (np.uint8, np.uint16, np.uint32):
        if top <= np.iinfo(dt).max + 1:
            return dt
    return np.int64


def _item_seed(item: ItemContext, seed: int) -> int:
    key = (item.item_hash or item.item_id).encode()
    return int(hashlib.sha256(key).hexdigest()[:8], 16) ^ seed


def _mv(value: float | None, lo: float | None, hi: float | None, n: int, n_failed: int, spec: MetricSpec,
        failures: dict[str, int] | None = None) -> MetricValue:
    return MetricValue(value, lo, hi, n, n_failed, spec.higher_is_better, spec.unit, failures or {})


def _none(spec: MetricSpec, n: int, reason: str) -> MetricValue:
    return MetricValue(None, None, None, 0, n, spec.higher_is_better, spec.unit, {reason: n})


class Tokens(Task):
    name = "tokens"
    version = "1"
    description = ("tokens per second, bitrates, unigram entropy, codebook use, Kneser-Ney n-gram LM cost "
                   "(train/test split), token stability under shift, gain, noise, tandem, chunking, batching")
    requires = frozenset({"reference", "tokens"})
    extra = "tokens"
    needs_modules = ("rapidfuzz",)
    default_dataset = "synth-speech"  # the whole corpus: the LM trains on the train split, scores the test split
    Config = TokensConfig
    metrics = _specs()
    #: Leaderboard sections (one table each), in order: [title, metric names].
    metric_sections = [
        ["rate and vocabulary", ["tokens_per_s", "declared_kbps", "measured_kbps", "payload_rate_kbps",
                                 "unigram_entropy", "unigram_perplexity", "unigram_kbps", "codebook_utilisation",
                                 "dead_codes"]],
        ["language-model cost", ["ngram_bits_per_token", "ngram_kbps", "transformer_bits_per_token",
                                 "transformer_kbps"]],
        ["stability: edit distance", [f"ned_{c}" for c in CONDITIONS]],
        ["stability: mismatch rate", [f"mismatch_{c}" for c in CONDITIONS]],
    ]

    def __init__(self, config: Any = None, *, name: str | None = None):
        super().__init__(config, name=name)
        self._memo: dict[tuple, dict[str, Any]] = {}

    def _load(self) -> None:
        from bench.codecs.base import require

        require("rapidfuzz", "tokens")

    # -- per item ------------------------------------------------------------------------------
    def measure(self, item: ItemContext) -> Measurement:
        tokens = np.asarray(item.tokens, dtype=np.int64)
        codec = item.codec
        duration = len(item.reference) / METRIC_SR
        values: dict[str, float | Failed] = {}
        if tokens.ndim != 2 or tokens.shape[1] == 0 or duration <= 0:
            reason = Failed("no tokens")
            return Measurement({"tokens_per_s": reason})
        K, T = tokens.shape
        values["tokens_per_s"] = K * T / duration
        split = item.labels.get("split")
        extras: dict[str, Any] = {"dur": duration, "split": split if isinstance(split, str) else None}
        if codec is None:
            no_codec = Failed("no codec object in the item context")
            for spec in self.metrics:
                if spec.name not in ("tokens_per_s", "measured_kbps"):
                    values.setdefault(spec.name, no_codec)
            extras["tok"] = tokens
            return Measurement(values, extras)
        vocab = tuple(int(v) for v in codec.vocab_sizes)
        extras["tok"] = tokens.astype(_token_dtype(vocab))
        extras["vocab"] = [float(v) for v in vocab]  # floats: 2**32 and beyond stay exact in JSON
        values["declared_kbps"] = codec.nominal_bitrate / 1000.0
        values["measured_kbps"] = T * codec.bits_per_frame / duration / 1000.0
        x = resample(np.asarray(item.reference, dtype=np.float32), METRIC_SR, codec.sample_rate)
        try:
            base = codec.encode(x)
        except Exception as exc:  # noqa: BLE001 - recorded, never scored
            base = None
            values["payload_rate_kbps"] = Failed(f"re-encode failed: {type(exc).__name__}: {exc}")
        if base is not None:
            values["payload_rate_kbps"] = (Failed("the codec reports no payload size") if base.payload_bytes is None
                                      else 8.0 * base.payload_bytes / (len(x) / codec.sample_rate) / 1000.0)
        if not self.config.stability or split is not None and split != self.config.test_split:
            return Measurement(values, extras)
        if base is None:
            for cond in CONDITIONS:
                values[f"ned_{cond}"] = values[f"mismatch_{cond}"] = values["payload_rate_kbps"]
            return Measurement(values, extras)
        ref = np.asarray(base.tokens, dtype=np.int64)
        for cond in CONDITIONS:
            try:
                other = self._condition(codec, cond, x, ref, _item_seed(item, self.config.seed))
            except Exception as exc:  # noqa: BLE001
                other = Failed(f"{cond} failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
            if isinstance(other, Failed):
                values[f"ned_{cond}"] = values[f"mismatch_{cond}"] = other
                continue
            other = np.asarray(other, dtype=np.int64)
            if other.ndim != 2 or other.shape[0] != K:
                bad = Failed(f"{cond}: tokens of shape {other.shape}, expected [{K}, T]")
                values[f"ned_{cond}"] = values[f"mismatch_{cond}"] = bad
                continue
            values[f"ned_{cond}"] = normalized_edit_distance(ref, other)
            values[f"mismatch_{cond}"] = mismatch_rate(ref, other)
        return Measurement(values, extras)

    def _condition(self, codec: Any, cond: str, x: np.ndarray, ref: np.ndarray, seed: int) -> np.ndarray | Failed:
        sr = codec.sample_rate
        if cond == "repeat":
            return codec.encode(x.copy()).tokens
        if cond.startswith("shift_"):
            n = int(round(float(cond[6:-2]) / 1000.0 * sr))
            y = np.concatenate([np.zeros(n, np.float32), x[: len(x) - n]]) if n < len(x) else np.zeros_like(x)
            return codec.encode(y.astype(np.float32)).tokens
        if cond == "gain_m6db":
            return codec.encode((x * 10 ** (-6 / 20)).astype(np.float32)).tokens
        if cond.startswith("noise_"):
            snr = float(cond[6:-2])
            power = float(np.mean(np.asarray(x, np.float64) ** 2))
            if power <= 0:
                return Failed("silent input: SNR undefined")
            rng = np.random.default_rng([seed, int(snr)])
            noise = rng.standard_normal(len(x)) * math.sqrt(power / 10 ** (snr / 10))
            return codec.encode(np.clip(x + noise, -1.0, 1.0).astype(np.float32)).tokens
        if cond == "tandem":
            y = np.asarray(codec.decode(ref), dtype=np.float32)
            y = y[: len(x)] if len(y) >= len(x) else np.concatenate([y, np.zeros(len(x) - len(y), np.float32)])
            return codec.encode(y).tokens
        if cond == "chunked_1s":
            step = max(1, int(round(self.config.chunk_s * sr)))
            parts = [codec.encode(x[i : i + step].copy()).tokens for i in range(0, len(x), step)]
            return np.concatenate([np.asarray(p, dtype=np.int64) for p in parts], axis=1)
        if cond == "batch_padded":
            if not getattr(codec, "supports_batch", False):
                return Failed("not applicable: the codec does not encode batches")
            longer = np.concatenate([x, x[: len(x) // 2]])
            return codec.encode_batch([x.copy(), longer])[0].tokens
        raise ValueError(f"unknown condition {cond}")

    # -- corpus level -------------------------------------------------------------------------
    def _usable(self, rows: list[Row]) -> list[Row]:
        return [r for r in rows if r.failure is None and isinstance(r.extras.get("tok"), np.ndarray)
                and r.extras.get("vocab")]

    def _splits(self, usable: list[Row]) -> tuple[list[Row], list[Row], str]:
        cfg = self.config
        train = [r for r in usable if r.extras.get("split") == cfg.train_split]
        test = [r for r in usable if r.extras.get("split") == cfg.test_split]
        if train and test:
            return train, test, f"'split' label: {cfg.train_split} / {cfg.test_split}"
        ordered = sorted(usable, key=lambda r: r.item_id)
        return ordered[0::2], ordered[1::2], "no split labels: items sorted by id, alternately train / test"

    def evaluate(self, rows: list[Row], seed: int) -> dict[str, Any]:
        key = (id(rows), len(rows), seed)
        if key not in self._memo:
            self._memo = {key: self._evaluate(rows, seed)}
        return self._memo[key]

    def _evaluate(self, rows: list[Row], seed: int) -> dict[str, Any]:
        usable = self._usable(rows)
        out: dict[str, Any] = {"n_usable": len(usable)}
        if not usable:
            return out
        vocab = [int(v) for v in usable[0].extras["vocab"]]
        usable = [r for r in usable if [int(v) for v in r.extras["vocab"]] == vocab
                  and r.extras["tok"].shape[0] == len(vocab)]
        out["vocab"] = vocab
        out["unigram"] = self._unigram(usable, vocab, seed)
        train, test, how = self._splits(usable)
        out["split"] = {"how": how, "train_items": len(train), "test_items": len(test)}
        if not train or not test:
            out["lm_error"] = f"need train and test items (have {len(train)} and {len(test)})"
            return out
        dur = np.array([float(r.extras["dur"]) for r in test])
        ntok = np.array([float(r.extras["tok"].size) for r in test])
        ngram = {}
        frames = float(sum(r.extras["tok"].shape[1] for r in test))
        for n in range(1, self.config.order + 1):
            bits = np.zeros(len(test))
            per_stream = []
            for k, v in enumerate(vocab):
                model = KneserNey(n, v).fit([r.extras["tok"][k].astype(np.int64) for r in train])
                b = np.array([model.bits(r.extras["tok"][k].astype(np.int64)).sum() for r in test])
                bits += b
                per_stream.append(round(float(b.sum() / frames), 4))
            ngram[n] = {**self._lm_figures(bits, ntok, dur, seed), "per_stream_bits_per_token": per_stream}
        out["ngram"] = ngram
        if self.config.transformer_lm:
            from bench.metrics.token_lm import RECIPE, transformer_bits

            res = transformer_bits([r.extras["tok"].astype(np.int64) for r in train],
                                   [r.extras["tok"].astype(np.int64) for r in test], vocab, seed)
            if isinstance(res, str):
                out["transformer"] = {"error": res}
            else:
                out["transformer"] = {**self._lm_figures(res["bits"], ntok, dur, seed), "recipe": RECIPE,
                                      "train_seconds": res["train_seconds"], "final_train_loss": res["final_loss"]}
        return out

    @staticmethod
    def _lm_figures(bits: np.ndarray, ntok: np.ndarray, dur: np.ndarray, seed: int) -> dict[str, Any]:
        bpt = float(bits.sum() / ntok.sum())
        kbps = float(bits.sum() / dur.sum() / 1000.0)
        if len(bits) > 1:
            bpt_ci = ratio_interval(bits, ntok, seed)
            kbps_ci = ratio_interval(bits, dur, seed, scale=1e-3)
        else:
            bpt_ci, kbps_ci = (bpt, bpt), (kbps, kbps)
        return {"bits_per_token": bpt, "bits_per_token_ci": list(bpt_ci), "kbps": kbps, "kbps_ci": list(kbps_ci),
                "n_items": int(len(bits))}

    def _unigram(self, usable: list[Row], vocab: list[int], seed: int) -> dict[str, Any]:
        """Pooled per-stream entropy, utilisation and the unigram-coder rate, with bootstrap
        intervals over items (``n_boot`` replicates: each resample's pooled counts)."""
        from scipy import sparse

        n = len(usable)
        dur = np.array([float(r.extras["dur"]) for r in usable])
        frames = np.array([float(r.extras["tok"].shape[1]) for r in usable])
        n_boot = self.config.n_boot
        rng_idx = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))
        W = np.zeros((n_boot, n))
        for b in range(n_boot):
            W[b] = np.bincount(rng_idx[b], minlength=n)
        H = np.zeros(len(vocab))
        H_rep = np.zeros((n_boot, len(vocab)))
        used = np.zeros(len(vocab))
        for k in range(len(vocab)):
            parts = [symbol_counts(r.extras["tok"][k]) for r in usable]
            sym = np.concatenate([p[0] for p in parts])
            cnt = np.concatenate([p[1] for p in parts]).astype(np.float64)
            rows_of = np.concatenate([np.full(len(p[0]), i) for i, p in enumerate(parts)])
            uniq, col = np.unique(sym, return_inverse=True)
            M = sparse.csr_matrix((cnt, (rows_of, col.ravel())), shape=(n, len(uniq)))
            total = np.asarray(M.sum(axis=0)).ravel()
            H[k] = entropy_bits(total)
            used[k] = len(uniq)
            chunk = max(1, int(4e6 // max(len(uniq), 1)))
            MT = M.T.tocsr()
            for s in range(0, n_boot, chunk):
                C = np.asarray(MT @ W[s : s + chunk].T)  # [U, chunk] pooled counts per replicate
                tot = C.sum(axis=0)
                with np.errstate(divide="ignore", invalid="ignore"):
                    P = C / tot
                    H_rep[s : s + chunk, k] = -np.nansum(np.where(P > 0, P * np.log2(P), 0.0), axis=0)
        rate = frames.sum() / dur.sum()
        rate_rep = (W @ frames) / (W @ dur)
        sumH_rep = H_rep.sum(axis=1)
        def q(est: float, reps: np.ndarray) -> tuple[float, float]:
            # plug-in entropy of a resample is biased low (a resample repeats items, so it sees
            # fewer distinct codes): the percentile interval is shifted by the bootstrap's bias
            # estimate (mean of the replicates minus the estimate) so that it brackets the estimate
            lo, hi = percentile_interval(reps)
            bias = float(np.mean(reps)) - est
            return (lo - bias, hi - bias)

        vocab_arr = np.asarray(vocab, dtype=np.float64)
        Hm = float(H.mean())
        return {
            "entropy": Hm, "entropy_ci": q(Hm, H_rep.mean(axis=1)),
            "perplexity": float(2 ** Hm), "perplexity_ci": q(2 ** Hm, 2 ** H_rep.mean(axis=1)),
            "kbps": float(H.sum() * rate / 1000.0), "kbps_ci": q(H.sum() * rate / 1000.0, sumH_rep * rate_rep / 1000.0),
            "utilisation": float(np.mean(used / vocab_arr)), "dead_codes": float((vocab_arr - used).sum()),
            "per_stream_entropy": [round(float(h), 4) for h in H], "per_stream_used": [int(u) for u in used],
            "frames_per_s": float(rate), "n_items": n,
        }

    def summarize(self, rows: list[Row], seed: int) -> dict[str, MetricValue]:
        res = self.evaluate(rows, seed)
        spec = {m.name: m for m in self.metrics}
        n = len(rows)
        out: dict[str, MetricValue] = {}
        for name in ("tokens_per_s", "declared_kbps", "measured_kbps", "payload_rate_kbps"):
            out[name] = summarize_metric(spec[name], rows, seed)
        for cond in CONDITIONS:
            for prefix in ("ned_", "mismatch_"):
                name = prefix + cond
                scored = [r for r in rows if r.failure is not None or name in r.values]
                out[name] = summarize_metric(spec[name], scored, seed)
        uni = res.get("unigram")
        if uni is None:
            for name in ("unigram_entropy", "unigram_perplexity", "unigram_kbps", "codebook_utilisation", "dead_codes"):
                out[name] = _none(spec[name], n, "no usable rows")
        else:
            m = uni["n_items"]
            out["unigram_entropy"] = _mv(uni["entropy"], *uni["entropy_ci"], m, n - m, spec["unigram_entropy"])
            out["unigram_perplexity"] = _mv(uni["perplexity"], *uni["perplexity_ci"], m, n - m, spec["unigram_perplexity"])
            out["unigram_kbps"] = _mv(uni["kbps"], *uni["kbps_ci"], m, n - m, spec["unigram_kbps"])
            out["codebook_utilisation"] = _mv(uni["utilisation"], None, None, m, n - m, spec["codebook_utilisation"])
            out["dead_codes"] = _mv(uni["dead_codes"], None, None, m, n - m, spec["dead_codes"])
        lm_error = res.get("lm_error") or ("no usable rows" if "ngram" not in res else None)
        if lm_error:
            out["ngram_bits_per_token"] = _none(spec["ngram_bits_per_token"], n, lm_error)
            out["ngram_kbps"] = _none(spec["ngram_kbps"], n, lm_error)
        else:
            g = res["ngram"][self.config.order]
            m = g["n_items"]
            out["ngram_bits_per_token"] = _mv(g["bits_per_token"], *g["bits_per_token_ci"], m, 0, spec["ngram_bits_per_token"])
            out["ngram_kbps"] = _mv(g["kbps"], *g["kbps_ci"], m, 0, spec["ngram_kbps"])
        tr = res.get("transformer")
        if not self.config.transformer_lm or lm_error or tr is None or "error" in tr:
            why = ("not run: transformer_lm=false" if not self.config.transformer_lm
                   else lm_error or (tr or {}).get("error", "not run"))
            out["transformer_bits_per_token"] = _none(spec["transformer_bits_per_token"], n, why)
            out["transformer_kbps"] = _none(spec["transformer_kbps"], n, why)
        else:
            m = tr["n_items"]
            out["transformer_bits_per_token"] = _mv(tr["bits_per_token"], *tr["bits_per_token_ci"], m, 0,
                                                    spec["transformer_bits_per_token"])
            out["transformer_kbps"] = _mv(tr["kbps"], *tr["kbps_ci"], m, 0, spec["transformer_kbps"])
        return out

    def corpus_report(self, rows: list[Row], seed: int, out_dir: str | None = None) -> dict[str, Any]:
        res = self.evaluate(rows, seed)
        report: dict[str, Any] = {
            "recipe": {
                "ngram": (f"interpolated Kneser-Ney, one model per token stream, one absolute discount per order "
                          f"(n1 / (n1 + 2 n2), clipped to [0.05, 0.95]), lowest order interpolated with the uniform "
                          f"distribution over the declared vocabulary; orders 1..{self.config.order}"),
                "unigram": f"pooled counts over all measured items; intervals: {self.config.n_boot} bootstrap replicates over items",
                "lm_interval": "2000 bootstrap replicates over test items of the ratio of sums",
                "stability": "test-split items; edit distance / longer length and positional mismatch, mean over streams",
            },
            "split": res.get("split"),
        }
        if "unigram" in res:
            u = res["unigram"]
            report["unigram"] = {k: u[k] for k in ("per_stream_entropy", "per_stream_used", "frames_per_s")}
            report["vocab_sizes"] = res.get("vocab")
        if "ngram" in res:
            report["ngram_by_order"] = {str(n): g for n, g in res["ngram"].items()}
        if res.get("lm_error"):
            report["lm_error"] = res["lm_error"]
        if "transformer" in res:
            report["transformer"] = res["transformer"]
        return report
