"""InfoNCE: the contrastive half of the seed paper's loss (§4, Appendix C).

For a batch of n anchors a_i with positives b_i, with cosine similarity s(a, b) = a·b / (|a| |b|)
and temperature τ (scale 1/τ),

    L_NCE = −(1/n) Σ_i log [ exp(s(a_i, b_i)/τ) / Σ_j exp(s(a_i, b_j)/τ) ]

i.e. a cross-entropy over the similarity matrix whose targets are its diagonal: every other
positive of the batch is a negative ("in-batch negatives").

In the paper's loss the anchor is the target-language passage p_tgt and the positive its English
query q_en (the other queries of the batch are the negatives) — this trains target-language
passages to be retrieved by English queries. The `nce-psg` ablation uses the same function
between p_en and p_tgt instead of the JSD term.

Default τ = 0.05 (scale 20, the sentence-transformers MultipleNegativesRankingLoss default);
`python -m xldiag train --temperature` changes it. Batches must not repeat a query (or a
passage), or a row's positive would also appear as one of its negatives: the batch sampler in
`xldiag.train` guarantees that.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

DEFAULT_TEMPERATURE = 0.05


def info_nce(anchors: Tensor, positives: Tensor, temperature: float = DEFAULT_TEMPERATURE) -> Tensor:
    """Mean InfoNCE of `anchors[i]` against `positives[i]`, the other rows of `positives` as negatives."""
    if anchors.shape != positives.shape:
        raise ValueError(
            f"InfoNCE needs anchors and positives of the same shape, got {tuple(anchors.shape)} and {tuple(positives.shape)}."
        )
    if temperature <= 0:
        raise ValueError(f"The InfoNCE temperature must be positive, got {temperature}.")
    a = F.normalize(anchors.float(), dim=-1)
    b = F.normalize(positives.float(), dim=-1)
    logits = a @ b.T / temperature
    labels = torch.arange(a.shape[0], device=a.device)
    return F.cross_entropy(logits, labels)
