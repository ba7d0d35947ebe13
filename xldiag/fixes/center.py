"""Language-mean centering (Libovický, Rosa & Fraser 2020).

J. Libovický, R. Rosa, A. Fraser. "On the Language Neutrality of Pre-trained Multilingual
Representations." Findings of EMNLP 2020 (arXiv:2004.05160), the unsupervised "centering of the
representation for each language".

Each language has a centroid in the embedding space; subtracting it removes what all texts of the
language share — the language-identity component — and keeps how texts differ within it:

    μ_l = (1/n_l) Σ_i x_i          over the n_l monolingual estimation texts of language l
    x'  = x − μ_l                  for a text x in language l          (then x' / ‖x'‖)

Two clusters that differ only by an offset v (x_l = s + v for the same s in English) come out
identical: x_l − μ_l = x_en − μ_en. The estimation texts need not be parallel.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from xldiag.fixes.base import FittedFix, FixSpec, nonempty


class CenterFix(FittedFix):
    """x − μ_lang; `arrays["mean.<lang>"]` is μ_lang."""

    method = "center"

    def correct(self, x: np.ndarray, lang: str) -> np.ndarray:
        return x - self.arrays[f"mean.{lang}"].astype(np.float32)


def fit(embeddings_by_lang: Mapping[str, np.ndarray], pairs_by_lang=None) -> CenterFix:
    """μ_l for every language of `embeddings_by_lang` ({lang: n_l × d}); pairs are not used."""
    matrices = nonempty(embeddings_by_lang, "center")
    means = {lang: m.mean(axis=0) for lang, m in matrices.items()}
    return CenterFix(
        spec=FixSpec("center"),
        langs=tuple(matrices),
        arrays={f"mean.{lang}": mean.astype(np.float32) for lang, mean in means.items()},
        n_texts={lang: len(m) for lang, m in matrices.items()},
        # ‖μ_l‖ for unit rows: 0 = no shared direction, 1 = every text the same vector.
        summary={"mean_norm": {lang: round(float(np.linalg.norm(mean)), 6) for lang, mean in means.items()}},
    )
