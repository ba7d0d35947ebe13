"""Language shift (as in SHIFT, Jang et al. 2026): move each language onto English by its mean
offset over parallel pairs.

The issue's description of the method (we could not read the paper itself):

    V_l = (1/n) Σ_i ( f(x_l,i) − f(x_en,i) )     over n parallel pairs (x_en,i, x_l,i)
    z′  = z − α V_l                              for a text z in language l     (then z′ / ‖z′‖)

V_en = 0, so English texts only pass through the renormalisation (unchanged unit rows). α (default
1.0, `shift:alpha`) scales the move: α = 1 removes the mean offset entirely, α = 0 is no
correction, and α is not part of the estimate — one fit serves a whole sweep over α
(`FittedFix.with_param(alpha)`; `fit_fix` caches V once for all α).

Unlike centering, the English side is not centred: the shift maps every language into English's
region of the space (the pooled en/l pairs then differ by their semantic part only), so an
English-only pool is untouched.
"""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np

from xldiag.fixes.base import FittedFix, FixSpec
from xldiag.vocab import PIVOT

DEFAULT_ALPHA = 1.0


class ShiftFix(FittedFix):
    """z − α V_lang; `arrays["shift.<lang>"]` is V_lang (zero for English), α is `spec.param`."""

    method = "shift"

    def correct(self, x: np.ndarray, lang: str) -> np.ndarray:
        return x - np.float32(self.spec.param) * self.arrays[f"shift.{lang}"].astype(np.float32)


def check_alpha(alpha) -> float:
    try:
        value = float(alpha)
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value) or isinstance(alpha, bool):
        raise ValueError(f"shift: alpha must be a finite number, got {alpha!r}.")
    return value


def mean_offset(lang: str, english: np.ndarray, target: np.ndarray) -> np.ndarray:
    """V_l = mean over pairs of (target − English), in float64."""
    english, target = np.asarray(english, np.float64), np.asarray(target, np.float64)
    if english.shape != target.shape or english.ndim != 2 or len(english) == 0:
        raise ValueError(f"shift: the English–{lang} pairs need two non-empty matrices of one shape, got "
                         f"{english.shape} and {target.shape}.")
    return (target - english).mean(axis=0)


def fit(embeddings_by_lang: Mapping[str, np.ndarray] | None,
        pairs_by_lang: Mapping[str, tuple[np.ndarray, np.ndarray]] | None,
        alpha: float = DEFAULT_ALPHA) -> ShiftFix:
    """V_l for every language of `pairs_by_lang` ({lang: (English rows, lang rows)}, aligned row
    by row); English is always included (V_en = 0). Monolingual embeddings are not used."""
    alpha = check_alpha(alpha)
    pairs = {lang: pair for lang, pair in (pairs_by_lang or {}).items() if lang != PIVOT}
    if not pairs:
        raise ValueError("shift needs parallel English–target pairs of at least one language other than English.")
    offsets = {lang: mean_offset(lang, english, target) for lang, (english, target) in pairs.items()}
    dim = next(iter(offsets.values())).shape[0]
    english_rows = {len(english) for english, _ in pairs.values()}
    return ShiftFix(
        spec=FixSpec("shift", alpha),
        langs=(PIVOT, *offsets),
        arrays={f"shift.{PIVOT}": np.zeros(dim, np.float32),
                **{f"shift.{lang}": v.astype(np.float32) for lang, v in offsets.items()}},
        n_texts={PIVOT: max(english_rows), **{lang: len(pair[0]) for lang, pair in pairs.items()}},
        summary={"shift_norm": {lang: round(float(np.linalg.norm(v)), 6) for lang, v in offsets.items()}},
    )
