"""InfoNCE: the contrastive half of the seed paper's loss (§4, eq. 7, Appendix C).

For a batch of n anchors a_i with positives b_i, with cosine similarity s(a, b) = a·b / (|a| |b|)
and temperature τ (scale 1/τ),

    L_NCE = −(1/n) Σ_i log [ exp(s(a_i, b_i)/τ) / Σ_j exp(s(a_i, b_j)/τ) ]

i.e. a cross-entropy over the similarity matrix whose targets are its diagonal: every other
positive of the batch is a negative ("in-batch negatives").

In the paper's loss the anchor is the target-language passage p_tgt and the positive its English
query q_en (the other queries of the batch are the negatives) — this trains target-language
passages to be retrieved by English queries. The `nce-psg` ablation uses the same function
between p_en and p_tgt instead of the JSD term.

**Temperature: the paper's τ = 1 by default.** Eq. 7 of the paper has no temperature, i.e. τ = 1:
the logits are the cosines themselves. We used to default to τ = 0.05 (scale 20, the
sentence-transformers MultipleNegativesRankingLoss default). On the demo recipe, measured with two
seeds, τ = 1 gave clearly better Max@R and Complete@10 for English and target queries and a
slightly lower target-query NDCG@1 (docs/TRAINING.md), so the default follows the paper;
`--temperature 0.05` gives the old loss.

Precision: the similarity matrix, the softmax and the logsumexp run in float32 with autocast
switched off, whatever the caller's autocast state — under bf16 autocast a matmul would
otherwise round every cosine to ~0.004 before the 1/τ = 20 scale (`tests/test_losses.py`).

Batches must not repeat a query (or a passage), or a row's positive would also appear as one of
its negatives: the batch sampler (`xldiag.training.batching.make_batches`) guarantees that.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from xldiag.losses.modes import DEFAULT_TEMPERATURE

if TYPE_CHECKING:
    from torch import Tensor


def similarity_logits(anchors: Tensor, positives: Tensor, temperature: float) -> Tensor:
    """The n×n matrix cos(a_i, b_j)/τ in float32 (autocast off: see the module docstring)."""
    import torch
    import torch.nn.functional as F

    with torch.autocast(device_type=anchors.device.type, enabled=False):
        a = F.normalize(anchors.float(), dim=-1)
        b = F.normalize(positives.float(), dim=-1)
        return a @ b.T / temperature


def info_nce(anchors: Tensor, positives: Tensor, temperature: float = DEFAULT_TEMPERATURE) -> Tensor:
    """Mean InfoNCE of `anchors[i]` against `positives[i]`, the other rows of `positives` as negatives."""
    import torch
    import torch.nn.functional as F

    if anchors.shape != positives.shape:
        raise ValueError(
            f"InfoNCE needs anchors and positives of the same shape, got {tuple(anchors.shape)} and {tuple(positives.shape)}."
        )
    if temperature <= 0:
        raise ValueError(f"The InfoNCE temperature must be positive, got {temperature}.")
    logits = similarity_logits(anchors, positives, temperature)
    with torch.autocast(device_type=anchors.device.type, enabled=False):
        labels = torch.arange(logits.shape[0], device=logits.device)
        return F.cross_entropy(logits, labels)
