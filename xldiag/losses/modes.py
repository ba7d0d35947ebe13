"""The ablation modes, the embeddings each needs, and the losses' default settings — plain
Python, so a training configuration, the CLI or a page can name them without loading torch.

Why each default is what it is: `jsd.py` (ε inside the root, T = 1) and `infonce.py` (τ = 1).
"""

from __future__ import annotations

LOSS_MODES = ("full", "no-jsd", "no-nce", "nce-psg")

# Which embeddings each mode needs: "query" (q_en), "passage_en", "passage_tgt".
NEEDED_INPUTS = {
    "full": ("query", "passage_en", "passage_tgt"),
    "no-jsd": ("query", "passage_tgt"),
    "no-nce": ("passage_en", "passage_tgt"),
    "nce-psg": ("query", "passage_en", "passage_tgt"),
}

DEFAULT_EPS = 1e-8  # ε inside √(JSD + ε)
DEFAULT_JSD_TEMPERATURE = 1.0  # the paper's softmax(z)
PAPER_TEMPERATURE = 1.0  # InfoNCE: eq. 7 has no temperature
DEFAULT_TEMPERATURE = PAPER_TEMPERATURE  # measured better than 0.05 on the demo recipe (docs/TRAINING.md)
MNRL_TEMPERATURE = 0.05  # sentence-transformers MultipleNegativesRankingLoss (scale 20); our old default


def check_mode(mode: str) -> str:
    if mode not in LOSS_MODES:
        raise ValueError(f"Unknown loss {mode!r}; choose from {', '.join(LOSS_MODES)}.")
    return mode
