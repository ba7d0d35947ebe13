"""LSAR — Language-agnostic representation by low-rank Subspace removal (Xie, Zhao, Yu & Li 2022).

Z. Xie, H. Zhao, T. Yu, S. Li. "Discovering Low-rank Subspaces for Language-agnostic Multilingual
Representations." EMNLP 2022 (arXiv:2401.05792), Algorithm 1.

One subspace for all languages, found from the languages' mean embeddings only (no parallel
data). With m_l the mean embedding of language l and M = [m_1 … m_L] ∈ R^{d × L}, the means are
modelled as a shared, language-agnostic vector μ plus a rank-r language-specific part:
M ≈ μ 1ᵀ + M_s Γᵀ, M_s ∈ R^{d × r} orthonormal. Algorithm 1:

    m̄   = M 1 / L                                          the mean of the means
    M_s′ Σ′ Γ′ᵀ = top-r SVD of (M − m̄ 1ᵀ)                  the best rank-r fit of the deviations
    M′  = m̄ 1ᵀ + M_s′ Σ′ Γ′ᵀ
    μ   = (M′⁺)ᵀ 1 / ‖(M′⁺)ᵀ 1‖²                           the point of the means' affine hull
                                                           closest to 0: μᵀ(m′_l − μ) = 0 for all l
    M_s = top-r left singular vectors of (M′ − μ 1ᵀ)
    x′  = (I − M_s M_sᵀ) x          for every text, in any of the L languages  (then x′ / ‖x′‖)

The rank r (`lsar:rank`) is at most L − 1: L means deviate from their centre in at most L − 1
directions. Default 1 — see `DEFAULT_RANK`. Note that span(M_s) = span(M_s′) (every column of
M′ − μ 1ᵀ lies in the affine hull's direction space span(M_s′)), so the projection removes the
top-r principal directions of the centred language means; μ is recorded, not used by the
projection.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from xldiag.fixes.base import FittedFix, FixSpec, nonempty

# Rank 1 by default: the project's pools are mostly English + one language, and two means span a
# single deviation direction (L − 1 = 1), so rank 1 is the only rank such a fit has; over more
# languages it removes one direction for all of them, the same budget as lir1 per language.
DEFAULT_RANK = 1


class LsarFix(FittedFix):
    """(I − M_s M_sᵀ) x for texts of every fitted language; `arrays["subspace"]` is M_s (d × r),
    `arrays["agnostic"]` μ (d)."""

    method = "lsar"

    def correct(self, x: np.ndarray, lang: str) -> np.ndarray:
        basis = self.arrays["subspace"].astype(np.float32)
        return x - (x @ basis) @ basis.T


def language_subspace(means: np.ndarray, rank: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Algorithm 1 on the d × L matrix of language means: (M_s: d × r, μ: d, singular values of
    the centred means M − m̄ 1ᵀ)."""
    n_langs = means.shape[1]
    centre = means.mean(axis=1, keepdims=True)
    u, s, wt = np.linalg.svd(means - centre, full_matrices=False)
    low_rank = centre + (u[:, :rank] * s[:rank]) @ wt[:rank]
    a = np.linalg.pinv(low_rank).T @ np.ones(n_langs)
    agnostic = a / (a @ a)
    u2, _, _ = np.linalg.svd(low_rank - agnostic[:, None], full_matrices=False)
    return u2[:, :rank], agnostic, s


def fit(embeddings_by_lang: Mapping[str, np.ndarray], pairs_by_lang=None, rank: int = DEFAULT_RANK) -> LsarFix:
    """M_s from the means of the languages of `embeddings_by_lang` ({lang: n_l × d}); pairs are not used."""
    matrices = nonempty(embeddings_by_lang, "lsar")
    n_langs = len(matrices)
    if not (isinstance(rank, (int, np.integer)) and 1 <= rank <= n_langs - 1):
        raise ValueError(f"lsar: the rank must be an integer from 1 to the number of languages − 1 "
                         f"({n_langs} − 1 = {n_langs - 1}: {', '.join(matrices)}), got {rank!r}."
                         + (" Fit it on two languages or more." if n_langs < 2 else ""))
    means = np.stack([m.mean(axis=0) for m in matrices.values()], axis=1)
    subspace, agnostic, singular = language_subspace(means, int(rank))
    return LsarFix(
        spec=FixSpec("lsar", int(rank)),
        langs=tuple(matrices),
        arrays={"subspace": subspace.astype(np.float32), "agnostic": agnostic.astype(np.float32)},
        n_texts={lang: len(m) for lang, m in matrices.items()},
        summary={
            "singular_values": [round(float(v), 6) for v in singular[: n_langs - 1]],
            # The share of the means' spread around their centre that the removed subspace holds.
            "spread_removed": round(float((singular[:rank] ** 2).sum() / max((singular ** 2).sum(), 1e-300)), 6),
            "agnostic_norm": round(float(np.linalg.norm(agnostic)), 6),
        },
    )
