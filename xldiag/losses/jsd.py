"""√JSD: the Jensen–Shannon alignment loss of the seed paper (§4, Appendix C).

For a document embedding z ∈ R^d, P(z) = softmax(z / T) (T = 1 in the paper) is a distribution over the d embedding
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

**The norm shortcut.** softmax(z) of a *short* vector is nearly uniform, so the JSD between two
pre-norm vectors can fall just because the encoder shrinks ‖z‖, without the two passages getting
any closer in direction. The training loop therefore logs the mean pre-norm ‖z‖ of the English
and the target passages at every step (`norm_en`, `norm_tgt` in metrics.jsonl) — a JSD that falls
while those norms fall is the shortcut, not alignment.

**Temperature** (`--jsd-temperature T`): P(z) = softmax(z / T). T = 1 is the paper's (the
default). T < 1 sharpens the distributions (the JSD reacts more to the large coordinates), T > 1
flattens them. `xldiag.alignment` computes the same JSD at any T, so the Alignment page can show
the chosen T beside T = 1.

All arithmetic is done in float32 with log-softmax and logsumexp, with autocast switched off
whatever the caller's autocast state, so it is stable for large z and not rounded to bf16.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from xldiag.losses.modes import DEFAULT_EPS, DEFAULT_JSD_TEMPERATURE

if TYPE_CHECKING:
    from torch import Tensor

LN2 = math.log(2.0)


def jsd(z_p: Tensor, z_q: Tensor, temperature: float = DEFAULT_JSD_TEMPERATURE) -> Tensor:
    """Per-row JSD(softmax(z_p / T) ‖ softmax(z_q / T)) in nats, shape (n,), in [0, ln 2]."""
    import torch
    import torch.nn.functional as F

    if z_p.shape != z_q.shape:
        raise ValueError(f"JSD needs two embeddings of the same shape, got {tuple(z_p.shape)} and {tuple(z_q.shape)}.")
    if temperature <= 0:
        raise ValueError(f"The JSD temperature must be positive, got {temperature}.")
    with torch.autocast(device_type=z_p.device.type, enabled=False):
        log_p = F.log_softmax(z_p.float() / temperature, dim=-1)
        log_q = F.log_softmax(z_q.float() / temperature, dim=-1)
        # log M = log(½ (P + Q)) computed without leaving log space.
        log_m = torch.logsumexp(torch.stack([log_p, log_q]), dim=0) - LN2
        kl_pm = (log_p.exp() * (log_p - log_m)).sum(dim=-1)
        kl_qm = (log_q.exp() * (log_q - log_m)).sum(dim=-1)
        return 0.5 * (kl_pm + kl_qm)


def sqrt_jsd_loss(z_en: Tensor, z_tgt: Tensor, eps: float = DEFAULT_EPS,
                  temperature: float = DEFAULT_JSD_TEMPERATURE) -> Tensor:
    """L_JSD = mean_i √(JSD(P(z_en_i) ‖ P(z_tgt_i)) + ε), P(z) = softmax(z / T), ε inside the root
    (see the module docstring)."""
    import torch

    # Rounding can leave a JSD a hair below 0 for identical rows; clamp before the root.
    with torch.autocast(device_type=z_en.device.type, enabled=False):
        return torch.sqrt(jsd(z_en, z_tgt, temperature).clamp_min(0.0) + eps).mean()
