"""Where things live: the data folder (a setting) and the project's cache folder.

Data is never part of the project: it is found through `--data-dir`, else the environment
variable XLDIAG_DATA_DIR. The cache (converted models, embeddings, runs) defaults to
`<project>/cache` and can be moved with XLDIAG_CACHE_DIR.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from xldiag.vocab import CACHE_DIR_ENV, DATA_DIR_ENV, MAP_METHODS, MAP_METHODS_ENV

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class DataDirError(FileNotFoundError):
    """The data folder is not set or does not exist."""


def data_dir(explicit: str | os.PathLike | None = None) -> Path:
    """The data folder: the explicit argument, else $XLDIAG_DATA_DIR; checked to exist."""
    raw = explicit if explicit is not None else os.environ.get(DATA_DIR_ENV)
    if not raw:
        raise DataDirError(
            f"No data folder set: pass --data-dir DIR or set {DATA_DIR_ENV}=DIR "
            f"(for example {DATA_DIR_ENV}=../shared/data), or download a dataset with "
            "`python -m xldiag data fetch xquad --data-dir DIR`."
        )
    path = Path(raw).expanduser().resolve()
    if not path.is_dir():
        source = "--data-dir" if explicit is not None else f"${DATA_DIR_ENV}"
        raise DataDirError(f"Data folder {path} (from {source}) does not exist.")
    return path


def cache_dir() -> Path:
    """The cache folder (created on demand)."""
    path = Path(os.environ.get(CACHE_DIR_ENV) or PROJECT_ROOT / "cache").expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def device(prefer: str | None = None) -> str:
    """CUDA when present, CPU otherwise; an explicit choice wins. Without an NVIDIA driver on the
    machine CUDA cannot be present, and the answer needs no torch: importing it takes seconds,
    longer than a warm evaluation that reads every vector from the cache."""
    if prefer:
        return prefer
    if "torch" not in sys.modules and not _nvidia_driver():
        return "cpu"
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _nvidia_driver() -> bool:
    """An NVIDIA driver is installed: its Linux kernel module, or nvidia-smi (Windows, others)."""
    return Path("/proc/driver/nvidia/version").exists() or shutil.which("nvidia-smi") is not None


def map_methods() -> tuple[str, ...]:
    """The 2-D projections an evaluation fits for the Embedding map: $XLDIAG_MAP_METHODS (comma
    separated, e.g. "pca" to skip the slow UMAP) or both; PCA always comes first."""
    raw = os.environ.get(MAP_METHODS_ENV)
    chosen = [m.strip().lower() for m in raw.split(",") if m.strip()] if raw else list(MAP_METHODS)
    bad = [m for m in chosen if m not in MAP_METHODS]
    if bad:
        raise ValueError(f"${MAP_METHODS_ENV}={raw!r}: unknown projection(s) {bad}; choose from {','.join(MAP_METHODS)}.")
    return tuple(m for m in MAP_METHODS if m in chosen or m == "pca")
