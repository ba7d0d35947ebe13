"""LIR — Language Information Removal (Yang, Yang, Cer & Darve 2021).

Z. Yang, Y. Yang, D. Cer, E. Darve. "A Simple and Effective Method To Eliminate the Self Language
Bias in Multilingual Representations." EMNLP 2021, pp. 5825–5832 (arXiv:2109.04727).

The paper's observation: in weakly aligned multilingual spaces, the principal directions of one
language's embedding matrix mostly encode *that the text is in this language*. LIR removes them,
per language, by orthogonal projection. With X_l ∈ R^{n_l × d} the (uncentred) embeddings of the
estimation texts of language l and X_l = U Σ Vᵀ its SVD, V_r = the top-r right singular vectors:

    x' = x − V_r V_rᵀ x            for a text x in language l          (then x' / ‖x'‖)

r (default 1, `lir:r`) is the number of directions removed. The matrix is not centred, as in the
paper: its top singular vector is then close to the language's mean direction, the part every
text of the language shares. We take V_r from the eigenvectors of the d × d Gram matrix X_lᵀ X_l
(computed in float64, only the top r), which are the right singular vectors of X_l: cheaper than
an SVD of the n_l × d matrix, and exact up to rounding.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from xldiag.fixes.base import FittedFix, FixSpec, nonempty

DEFAULT_R = 1


class LirFix(FittedFix):
    """x − V_r V_rᵀ x with the language's own V_r; `arrays["basis.<lang>"]` is V_r (d × r)."""

    method = "lir"

    def correct(self, x: np.ndarray, lang: str) -> np.ndarray:
        basis = self.arrays[f"basis.{lang}"].astype(np.float32)
        return x - (x @ basis) @ basis.T


def top_right_singular_vectors(matrix: np.ndarray, r: int) -> tuple[np.ndarray, np.ndarray]:
    """(V_r: d × r, their squared singular values σ², decreasing) of an n × d matrix: the top-r
    eigenpairs of its Gram matrix G = XᵀX.

    Lanczos (ARPACK, `eigsh`) to machine precision, from a fixed pseudo-random start so the result
    does not depend on a global seed: it needs only products G·v, where a dense symmetric
    eigensolver spends its time in many small BLAS-2 steps — measured 20–30× slower on two busy
    cores with a multi-threaded OpenBLAS. ARPACK needs r < d − 1; above that, the dense solver.
    """
    import scipy.linalg  # here: every command imports this module, few fit LIR
    import scipy.sparse.linalg

    gram = matrix.T @ matrix
    dim = gram.shape[0]
    if r < dim - 1:
        start = np.random.default_rng(0).standard_normal(dim)
        eigenvalues, eigenvectors = scipy.sparse.linalg.eigsh(gram, k=r, which="LA", v0=start)
    else:
        eigenvalues, eigenvectors = scipy.linalg.eigh(gram, subset_by_index=[dim - r, dim - 1])
    order = np.argsort(eigenvalues)[::-1]
    return eigenvectors[:, order], np.clip(eigenvalues[order], 0.0, None)


def fit(embeddings_by_lang: Mapping[str, np.ndarray], pairs_by_lang=None, r: int = DEFAULT_R) -> LirFix:
    """V_r for every language of `embeddings_by_lang` ({lang: n_l × d}); pairs are not used."""
    matrices = nonempty(embeddings_by_lang, "lir")
    dim = next(iter(matrices.values())).shape[1]
    if not (isinstance(r, (int, np.integer)) and 1 <= r <= dim):
        raise ValueError(f"lir: r must be an integer from 1 to the embedding dimension {dim}, got {r!r}.")
    arrays, energy = {}, {}
    for lang, matrix in matrices.items():
        basis, sigma2 = top_right_singular_vectors(matrix, int(r))
        arrays[f"basis.{lang}"] = basis.astype(np.float32)
        # The share of the language's squared norm in the removed directions: Σ_top σ² / ‖X_l‖_F².
        energy[lang] = round(float(sigma2.sum() / max(float(np.sum(matrix * matrix)), 1e-300)), 6)
    return LirFix(
        spec=FixSpec("lir", int(r)),
        langs=tuple(matrices),
        arrays=arrays,
        n_texts={lang: len(m) for lang, m in matrices.items()},
        summary={"energy_removed": energy},
    )
