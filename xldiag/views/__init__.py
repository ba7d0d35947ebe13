"""Derived views: what the dashboard's Alignment, Embedding map and Language preference pages show
that is expensive to compute, written once when an evaluation finishes (and by `python -m xldiag
views DIR` for a folder from before them). A page visit only reads these files: it never loads a
model, encodes or fits a projection.

    files.py       the layout (DIR/views/…, vocab names), views.json, readers, ViewsMissingError
    preference.py  the language-preference heatmap's cells from per_query (vectorised)
    maps.py        2-D maps: a uniform passage sample, PCA / UMAP fitted on one or two models
    build.py       write_views (one evaluation) and write_joint_map (two models, cached per pair)

File formats and sizes: docs/ARCHITECTURE.md, "Views".
"""

from xldiag.views.build import write_joint_map, write_views
from xldiag.views.files import (
    VIEWS_FORMAT,
    ViewsMissingError,
    alignment_table,
    alignment_vectors,
    joint_map_dir,
    manifest,
    map_points,
    preference_table,
    views_busy,
    views_command,
    views_dir,
)
from xldiag.views.maps import MAP_POINTS, MAP_QUERIES, MAP_SEED, fit_map, sample_passages
from xldiag.views.preference import PREFERENCE_COLUMNS, language_preference

__all__ = [
    "MAP_POINTS", "MAP_QUERIES", "MAP_SEED", "PREFERENCE_COLUMNS", "VIEWS_FORMAT", "ViewsMissingError",
    "alignment_table", "alignment_vectors", "fit_map", "joint_map_dir", "language_preference", "manifest",
    "map_points", "preference_table", "sample_passages", "views_busy", "views_command", "views_dir",
    "write_joint_map", "write_views",
]
