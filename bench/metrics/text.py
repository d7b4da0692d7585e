"""Text metrics of ASR transcripts: normalisation, word and character error counts, loops.

Pure functions of strings (the normaliser is loaded once, on first use).
"""

from __future__ import annotations

from typing import Any

from bench.codecs.base import require

#: A reference whose normalised form keeps fewer than this fraction of its words is flagged.
SHORTENED_REFERENCE = 0.5

_NORMALIZER = None


def normalize(text: str) -> str:
    """Whisper's English normaliser (``whisper-normalizer``), whitespace collapsed."""
    global _NORMALIZER
    if _NORMALIZER is None:
        english = require("whisper_normalizer.english", extra="asr", package="whisper-normalizer")
        _NORMALIZER = english.EnglishTextNormalizer()
    return " ".join(_NORMALIZER(text).split())


def error_counts(reference: str, hypothesis: str) -> dict[str, int]:
    """Word and character alignment counts of normalised texts (``jiwer`` 4.x).

    ``reference`` must be non-empty. Keys: ref_words, sub, del, ins, hits, ref_chars, char_err.
    """
    jiwer = require("jiwer", extra="asr")
    w = jiwer.process_words(reference, hypothesis)
    c = jiwer.process_characters(reference, hypothesis)
    return {
        "ref_words": w.hits + w.substitutions + w.deletions,
        "sub": w.substitutions, "del": w.deletions, "ins": w.insertions, "hits": w.hits,
        "ref_chars": c.hits + c.substitutions + c.deletions,
        "char_err": c.substitutions + c.deletions + c.insertions,
    }


def is_repetitive(text: str, threshold: float = 2.4) -> bool:
    """Whisper's own hallucination test: a transcript whose gzip compression ratio is above 2.4
    is a loop of repeated words (common on noise; it inflates WER through insertions)."""
    import zlib

    data = text.encode()
    return len(data) > 0 and len(data) / len(zlib.compress(data)) > threshold


def reference_words(text: str, normalized: str | None = None) -> dict[str, Any]:
    """How much of a reference the normaliser keeps: words before (whitespace tokens with a letter
    or digit) and after, their ratio, and ``shortened`` when under :data:`SHORTENED_REFERENCE`.
    The normaliser drops bracketed and parenthesised text, so "(a long aside) yes." is scored
    as the single word "yes"."""
    raw = sum(any(ch.isalnum() for ch in word) for word in str(text).split())
    kept = len((normalize(str(text)) if normalized is None else normalized).split())
    ratio = kept / raw if raw else None
    return {"raw": raw, "normalized": kept, "ratio": None if ratio is None else round(ratio, 4),
            "shortened": ratio is not None and ratio < SHORTENED_REFERENCE}


def errors(c: dict[str, int]) -> int:
    """Word errors of :func:`error_counts`: substitutions + deletions + insertions."""
    return c["sub"] + c["del"] + c["ins"]


def word_error_rate(counts: dict[str, int]) -> float:
    """WER in % from :func:`error_counts`: word errors over reference words."""
    return 100.0 * errors(counts) / counts["ref_words"]


def char_error_rate(counts: dict[str, int]) -> float:
    """CER in % from :func:`error_counts`: character errors over reference characters."""
    return 100.0 * counts["char_err"] / counts["ref_chars"]


__all__ = ["SHORTENED_REFERENCE", "char_error_rate", "error_counts", "errors", "is_repetitive", "normalize",
           "reference_words", "word_error_rate"]
