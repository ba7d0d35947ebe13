"""Where the views live and how they are read back.

An evaluation folder DIR holds DIR/views/ (vocab.VIEWS_DIR); a joint map of two models holds the
same map files in <cache>/maps/<key>/ (`joint_map_dir`). In both, views.json (written after the
files it names) says the format, which map projections are done and which are still being fitted,
and how each pool's map was sampled. A folder without views.json, or with another format, raises
ViewsMissingError naming the command that computes them.
"""

from __future__ import annotations

import hashlib
import json
import shlex
from pathlib import Path

import numpy as np
import pandas as pd

from xldiag import config, jobs
from xldiag.atomic import read_json
from xldiag.vocab import (ALIGNMENT_VECTORS_FILE, ALIGNMENT_VIEW_FILE, JOINT_MAPS_DIR, MAP_VIEW_FILE,
                          PREFERENCE_VIEW_FILE, STATUS_FILE, VIEWS_DIR, VIEWS_FILE, VIEWS_KIND)

VIEWS_FORMAT = 1  # bump when a view file changes meaning; older views are recomputed, never misread
# How a joint map is fitted, in its folder's key: 1 = one projection of both models' documents
# stacked; 2 = each model's own projection turned onto the first's (views.maps.fitted_coordinates). A new way is a new
# folder: a joint map fitted the old way is never shown as the new one.
JOINT_FIT = 2


class ViewsMissingError(FileNotFoundError):
    """An evaluation (or model pair) has no views of this format yet; `command` computes them."""

    def __init__(self, message: str, command: str):
        super().__init__(f"{message} Compute them with `{command}`.")
        self.command = command


def views_dir(folder: str | Path) -> Path:
    """DIR/views for an evaluation folder; a joint map folder is its own views folder."""
    folder = Path(folder)
    return folder if folder.parent.name == JOINT_MAPS_DIR else folder / VIEWS_DIR


def views_command(folder: str | Path, other: str | Path | None = None) -> str:
    """The command line that writes the views of `folder` (and the joint map with `other`)."""
    parts = ["python", "-m", "xldiag", "views", str(folder), *(["--with", str(other)] if other else [])]
    return shlex.join(parts)


def joint_map_dir(fingerprints: list[str], dataset: str, limit: int | None) -> Path:
    """<cache>/maps/<key>: the joint map of two models (their cache fingerprints, in any order)
    on one dataset and question limit — fitted once per pair, whichever evaluation asks."""
    key = json.dumps([sorted(map(str, fingerprints)), str(dataset), int(limit) if limit else None]
                     + [JOINT_FIT])
    return config.cache_dir() / JOINT_MAPS_DIR / hashlib.sha1(key.encode()).hexdigest()[:20]


def manifest(root: str | Path, command: str | None = None) -> dict:
    """views.json of an evaluation folder or a joint-map folder; ViewsMissingError when absent or
    of another format."""
    folder = views_dir(root)
    data = read_json(folder / VIEWS_FILE)
    command = command or views_command(root)
    if data is None and folder == Path(root):
        raise ViewsMissingError("The joint map of these two models on this data has not been fitted yet.", command)
    if data is None:
        raise ViewsMissingError(f"{root} has no precomputed views (it predates them, or they are being written).",
                                command)
    if data.get("format") != VIEWS_FORMAT:
        raise ViewsMissingError(f"The views in {folder} are in format {data.get('format')}; this xldiag reads "
                                f"format {VIEWS_FORMAT}.", command)
    return data


def views_busy(root: str | Path) -> dict | None:
    """The status of a live job computing views in `root` (its message says what it is doing), else None."""
    folder = Path(root)
    if not (folder / STATUS_FILE).exists():
        return None
    status = jobs.read_status(folder)
    active = status.get("state") in jobs.ACTIVE_STATES
    return status if active and VIEWS_KIND in (status.get("kind"), status.get("phase")) else None


def alignment_table(root: str | Path) -> pd.DataFrame:
    """One row per parallel pair: pair, role, lang (target), index, cosine, jsd (pre-norm vectors,
    T = 1), jsd_unit (unit vectors, T = 1), en_text, tgt_text (the first 400 characters)."""
    manifest(root)
    return pd.read_parquet(views_dir(root) / ALIGNMENT_VIEW_FILE)


def alignment_vectors(root: str | Path, pair: str, role: str, lang: str) -> np.ndarray:
    """The pre-normalisation vectors of one language's parallel texts (memory-mapped: reading one
    row reads one row)."""
    path = views_dir(root) / ALIGNMENT_VECTORS_FILE.format(pair=pair, role=role, lang=lang)
    return np.load(path, mmap_mode="r")


def map_points(root: str | Path, method: str) -> pd.DataFrame | None:
    """The map's points for `method` (None while it is still being fitted): model (cache
    fingerprint), pair, kind (doc / query), lang, id (doc id, or qid|query_lang), passage, x, y, text,
    max_r (queries)."""
    data = manifest(root)
    if method not in data.get("methods", []):
        return None
    return pd.read_parquet(views_dir(root) / MAP_VIEW_FILE.format(method=method))


def preference_table(root: str | Path) -> pd.DataFrame | None:
    """The language-preference cells (views.language_preference), or None without views."""
    path = views_dir(root) / PREFERENCE_VIEW_FILE
    return pd.read_parquet(path) if path.exists() else None
