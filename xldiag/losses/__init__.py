"""Training losses for cross-lingual alignment (the seed paper, §4 and Appendix C).

    L = λ_jsd · L_JSD(p_en, p_tgt) + λ_nce · L_NCE(p_tgt, q_en)        (λ = 1 in the paper)

- `jsd.sqrt_jsd_loss` — √(JSD + ε) between the softmax-over-dimensions softmax(z / T) of the
  English and the target-language passage embeddings (taken before the final L2 normalisation by
  default; T = 1, the paper's, unless `--jsd-temperature`);
- `infonce.info_nce` — InfoNCE between each target-language passage and its English query, the
  other queries of the batch being the negatives (τ = 1 by default, as in the paper's eq. 7;
  τ = 0.05 measured worse on the demo recipe, see infonce.py).

Every term is computed in float32 with autocast switched off, even when the encoder's forward
ran under bf16 autocast.

Importing this package does not load torch (the tensor functions import it when called), so a
training configuration, the CLI or a page can read the modes and defaults (`modes.py`) cheaply.

Ablations (`LOSS_MODES`, `--loss`):
- `full`    — L_JSD + L_NCE (the paper's method);
- `no-jsd`  — L_NCE alone;
- `no-nce`  — L_JSD alone;
- `nce-psg` — InfoNCE(p_tgt, p_en) in place of L_JSD (the paper's comparison), plus L_NCE;
  λ_jsd weighs the passage InfoNCE term here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from xldiag.losses.infonce import info_nce, similarity_logits
from xldiag.losses.jsd import jsd, sqrt_jsd_loss
from xldiag.losses.modes import (DEFAULT_EPS, DEFAULT_JSD_TEMPERATURE, DEFAULT_TEMPERATURE, LOSS_MODES,
                                 MNRL_TEMPERATURE, NEEDED_INPUTS, PAPER_TEMPERATURE, check_mode)

if TYPE_CHECKING:
    from torch import Tensor


def alignment_loss(
    mode: str,
    query: Tensor | None,
    passage_en: Tensor | None,
    passage_tgt: Tensor | None,
    *,
    temperature: float = DEFAULT_TEMPERATURE,
    jsd_eps: float = DEFAULT_EPS,
    jsd_temperature: float = DEFAULT_JSD_TEMPERATURE,
    lambda_jsd: float = 1.0,
    lambda_nce: float = 1.0,
) -> dict[str, Tensor | None]:
    """The batch loss for one ablation; returns {"loss", "jsd", "nce", "nce_psg"} (None where unused).

    `passage_en` / `passage_tgt` are the vectors the JSD is computed on (pre- or post-normalisation,
    the caller decides); InfoNCE normalises its inputs itself, so either works for it.
    `temperature` is InfoNCE's τ, `jsd_temperature` the T of the JSD's softmax(z / T). Every term
    is computed in float32 with autocast off, whatever the caller's autocast state.
    """
    check_mode(mode)
    out: dict[str, Tensor | None] = {"loss": None, "jsd": None, "nce": None, "nce_psg": None}
    terms = []
    if mode in ("full", "no-nce"):
        out["jsd"] = sqrt_jsd_loss(passage_en, passage_tgt, eps=jsd_eps, temperature=jsd_temperature)
        terms.append(lambda_jsd * out["jsd"])
    if mode == "nce-psg":
        out["nce_psg"] = info_nce(passage_tgt, passage_en, temperature=temperature)
        terms.append(lambda_jsd * out["nce_psg"])
    if mode in ("full", "no-jsd", "nce-psg"):
        out["nce"] = info_nce(passage_tgt, query, temperature=temperature)
        terms.append(lambda_nce * out["nce"])
    out["loss"] = terms[0] if len(terms) == 1 else terms[0] + terms[1]
    return out


__all__ = [
    "DEFAULT_EPS", "DEFAULT_JSD_TEMPERATURE", "DEFAULT_TEMPERATURE", "LOSS_MODES", "NEEDED_INPUTS",
    "MNRL_TEMPERATURE", "PAPER_TEMPERATURE", "alignment_loss", "check_mode", "info_nce", "jsd", "similarity_logits", "sqrt_jsd_loss",
]
