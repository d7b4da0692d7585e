"""F0 (fundamental frequency) tracking and the errors between two F0 tracks.

:func:`praat_f0` is Praat's autocorrelation tracker (Boersma, 1993; via ``praat-parselmouth``).
The error functions take two tracks of the same frames (Hz, 0 = unvoiced) and return floats or
:class:`~bench.types.Failed`: pure, no tracker inside.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.audio import METRIC_SR
from bench.types import Failed


def praat_f0(wave: np.ndarray, floor: float, ceiling: float, hop: float) -> tuple[np.ndarray, np.ndarray]:
    """Praat's autocorrelation pitch (Boersma, 1993): frame times (s) and F0 in Hz (0 = unvoiced)."""
    from bench.codecs.base import require

    parselmouth = require("parselmouth", "probe", "praat-parselmouth")
    snd = parselmouth.Sound(np.asarray(wave, dtype=np.float64), sampling_frequency=METRIC_SR)
    pitch = snd.to_pitch_ac(time_step=hop, pitch_floor=floor, pitch_ceiling=ceiling)
    return np.asarray(pitch.xs(), dtype=np.float64), np.asarray(pitch.selected_array["frequency"], dtype=np.float64)


def voicing_decision_error(f_ref: np.ndarray, f_rec: np.ndarray) -> float:
    """VDE: the fraction of frames whose voiced/unvoiced decision differs (Nakatani et al., 2008);
    two tracks of the same frames, 0 = unvoiced."""
    return float(np.mean((np.asarray(f_ref) > 0) != (np.asarray(f_rec) > 0)))


def f0_errors(f_ref: np.ndarray, f_rec: np.ndarray, gross_error: float = 0.2,
              fine_limit: float = 0.5) -> dict[str, float | Failed]:
    """F0 deviation metrics of two tracks of the same frames (Hz, 0 = unvoiced) voiced in both.

    ``f0_rmse_cents`` over all frames voiced in both; ``f0_rmse_fine`` over those whose ratio is
    within ``[1 / (1 + fine_limit), 1 + fine_limit]`` (symmetric in log F0, so an octave drop is
    as gross as an octave jump); ``f0_gross_rate`` the fraction outside it; ``gpe`` the fraction
    with ``|F0_rec / F0_ref - 1| > gross_error``; ``f0_corr`` the Pearson correlation of log F0.
    """
    f_ref, f_rec = np.asarray(f_ref, dtype=np.float64), np.asarray(f_rec, dtype=np.float64)
    both = (f_ref > 0) & (f_rec > 0)
    names = ("f0_rmse_cents", "f0_rmse_fine", "f0_gross_rate", "gpe", "f0_corr")
    if both.sum() < 2:
        reason = Failed("fewer than 2 frames voiced in both original and reconstruction")
        return {m: reason for m in names}
    a, b = f_ref[both], f_rec[both]
    cents = 1200.0 * np.log2(b / a)
    gross = np.abs(cents) > 1200.0 * np.log2(1.0 + fine_limit)
    out: dict[str, float | Failed] = {
        "f0_rmse_cents": float(np.sqrt(np.mean(cents**2))),
        "f0_rmse_fine": (float(np.sqrt(np.mean(cents[~gross] ** 2))) if (~gross).any()
                         else Failed(f"every frame voiced in both is more than {fine_limit:.0%} off")),
        "f0_gross_rate": float(np.mean(gross)),
        "gpe": float(np.mean(np.abs(b / a - 1.0) > gross_error)),
    }
    la, lb = np.log2(a), np.log2(b)
    if la.std() < 1e-9 or lb.std() < 1e-9:
        out["f0_corr"] = Failed("F0 is constant on the frames voiced in both")
    else:
        out["f0_corr"] = float(np.corrcoef(la, lb)[0, 1])
    return out


def tracker_provenance(floor: float, ceiling: float, hop: float) -> dict[str, Any]:
    """How F0 is tracked: Praat's method, its settings and the library versions."""
    import importlib.metadata

    try:
        version = importlib.metadata.version("praat-parselmouth")
    except importlib.metadata.PackageNotFoundError:
        version = None
    praat = None
    if version is not None:
        try:
            import parselmouth

            praat = parselmouth.PRAAT_VERSION
        except Exception:  # noqa: BLE001 - provenance must not fail a run
            praat = None
    return {"tracker": "Praat Sound: To Pitch (ac) via parselmouth", "parselmouth": version, "praat": praat,
            "floor_hz": floor, "ceiling_hz": ceiling, "time_step_s": hop,
            "other_settings": "Praat defaults: 15 candidates, not very accurate (3 periods of the floor), "
                              "silence 0.03, voicing 0.45, octave cost 0.01, octave-jump cost 0.35, "
                              "voiced/unvoiced cost 0.14"}


__all__ = ["f0_errors", "praat_f0", "tracker_provenance", "voicing_decision_error"]
