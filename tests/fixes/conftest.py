"""Hand-made embeddings with a known language structure, and a stub encoder that counts its calls."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

DIM = 16


def orthonormal(n: int, dim: int = DIM, seed: int = 0) -> np.ndarray:
    """n orthonormal vectors (rows) of R^dim."""
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(dim, n)))
    return q.T


def semantic(n: int, avoid: np.ndarray, seed: int = 1) -> np.ndarray:
    """n centred rows orthogonal to every row of `avoid` (the planted directions), small spread."""
    x = np.random.default_rng(seed).normal(scale=0.3, size=(n, DIM))
    x -= x.mean(axis=0)
    x -= (x @ avoid.T) @ avoid
    return x


@pytest.fixture
def planted():
    """Directions u_0..u_3 and semantic rows S (n = 40) orthogonal to all of them and centred."""
    directions = orthonormal(4)
    return directions, semantic(40, directions)


class StubEncoder:
    """Deterministic unit vectors from each text's hash, shifted by a language-like offset taken
    from the text's first character class and a role offset; counts calls and remembers every
    text and role it embedded."""

    model_name = "stub"
    fingerprint = "stub-fingerprint"

    def __init__(self, dim: int = DIM):
        self.dim = dim
        self.calls = 0
        self.seen: list[str] = []
        self.roles: list[str] = []

    def encode(self, texts, role, normalized=True):
        self.calls += 1
        self.roles.append(role)
        texts = list(texts)
        self.seen += texts
        rows = []
        for text in texts:
            seed = int.from_bytes(hashlib.sha1(text.encode("utf-8")).digest()[:8], "little")
            v = np.random.default_rng(seed).normal(size=self.dim)
            v[0] += 3.0 if text[:1].isascii() else -3.0  # a "script" direction
            v[1] += 2.0 if role == "query" else 0.0  # a "prompt" direction
            rows.append(v / np.linalg.norm(v))
        return np.asarray(rows, dtype=np.float32).reshape(len(texts), self.dim)


@pytest.fixture
def stub_encoder():
    return StubEncoder()
