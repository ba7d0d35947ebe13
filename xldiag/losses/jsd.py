"""√JSD: the Jensen–Shannon alignment loss of the seed paper (§4, Appendix C).

For a document embedding z ∈ R^d, P(z) = softmax(z) is a distribution over the d embedding
dimensions. For an English passage and its target-language counterpart,

    JSD(P ‖ Q) = ½ KL(P ‖ M) + ½ KL(Q ‖ M),   M = ½ (P + Q),   P = P(z_en), Q = P(z_tgt)

(natural logarithm, so 0 ≤ JSD ≤ ln 2), and the loss is the Jensen–Shannon *distance*

    L_JSD = mean over the batch of  √( JSD(P(z_en) ‖ P(z_tgt)) + ε ).

The paper writes √JSD + ε. We put ε **inside** the root: d√x/dx = 1/(2√x) is infinite at x = 0
(two identical passages), while with ε inside the gradient is bounded by 1/(2√ε). The root is
taken per pair and then averaged (a mean of distances, as the paper's per-document formula).

Which z? The softmax of a unit vector is nearly uniform: with |z| = 1 in d = 384 dimensions,
every z_i is about ±1/√d ≈ 0.05, so P(z) ≈ 1/d everywhere and the JSD between *any* two documents
is ~1e-4 of its range — the loss would carry almost no signal. We therefore take z **before** the
model's final L2 normalisation (the pooled vector; `jsd_on="pre-norm"`, the default), and keep the
normalised variant as an option (`"post-norm"`). `tests/test_losses.py` shows the effect.

All arithmetic is done in float32 with log-softmax and logsumexp, so it is stable for large z.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

DEFAULT_EPS = 1e-8
LN2 = math.log(2.0)


def jsd(z_p: Tensor, z_q: Tensor) -> Tensor:
    """Per-row JSD(softmax(z_p) ‖ softmax(z_q)) in nats, shape (n,), in [0, ln 2]."""
    if z_p.shape != z_q.shape:
        raise ValueError(f"JSD needs two embeddings of the same shape, got {tuple(z_p.shape)} and {tuple(z_q.shape)}.")
    log_p = F.log_softmax(z_p.float(), dim=-1)
    log_q = F.log_softmax(z_q.float(), dim=-1)
    # log M = log(½ (P + Q)) computed without leaving log space.
    log_m = torch.logsumexp(torch.stack([log_p, log_q]), dim=0) - LN2
    kl_pm = (log_p.exp() * (log_p - log_m)).sum(dim=-1)
    kl_qm = (log_q.exp() * (log_q - log_m)).sum(dim=-1)
    return 0.5 * (kl_pm + kl_qm)


def sqrt_jsd_loss(z_en: Tensor, z_tgt: Tensor, eps: float = DEFAULT_EPS) -> Tensor:
    """L_JSD = mean_i √(JSD(P(z_en_i) ‖ P(z_tgt_i)) + ε), ε inside the root (see the module docstring)."""
    # Rounding can leave a JSD a hair below 0 for identical rows; clamp before the root.
    return torch.sqrt(jsd(z_en, z_tgt).clamp_min(0.0) + eps).mean()
