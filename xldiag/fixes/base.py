"""What every fitted correction shares: the fix spec, the languages it was estimated on, its fitted
arrays, how many texts each language contributed, where the estimate came from, and the two
operations — `transform` (the correction itself) and `apply` (the correction, rows L2-normalised
again: what the cosine ranking reads).

A fix is estimated on, and applied to, the **unit** vectors the retrieval ranks with
(`Encoder.encode(texts, role)`), not the cached pre-normalisation vectors: the cosine ranking only
sees directions, so a correction estimated on directions removes exactly the language component the
ranking sees, and no text weighs on a mean or an SVD by its (model-dependent, length-dependent)
norm. docs/FIXES.md gives the measured difference.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import ClassVar, Mapping

import numpy as np

from xldiag.atomic import atomic_dir, read_json

FIX_FORMAT = 1  # bump when the saved layout (fix.json + arrays.npz) changes meaning
RECORD_FILE = "fix.json"
ARRAYS_FILE = "arrays.npz"
TINY = 1e-12  # a row shorter than this after the correction stays zero instead of dividing by ~0


@dataclass(frozen=True)
class FixSpec:
    """One correction and its parameter: `center`, `lir` (r), `lsar` (rank) or `shift` (alpha)."""

    method: str
    param: int | float | None = None

    @property
    def label(self) -> str:
        """The name used inside a variant name: `center`, `lir1`, `lsar2`, `shift0.5`."""
        return self.method + ("" if self.param is None else format_param(self.param))

    @property
    def text(self) -> str:
        """The spec as typed on the command line: `center`, `lir:1`, `shift:0.5`."""
        return self.method + ("" if self.param is None else f":{format_param(self.param)}")

    def __str__(self) -> str:
        return self.text


def format_param(value: int | float) -> str:
    """A parameter as the shortest text that reads back as the same number (1.0 → "1", 0.5 → "0.5")."""
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


@dataclass(frozen=True)
class Provenance:
    """Where an estimate came from (filled by `fit_fix`; None for a fit on arrays given directly)."""

    data: str  # the corpus name: "ntrex", "tatoeba", "mlqa-r", or a JSONL file's name
    data_hash: str  # sha1 over the language tags and texts the estimate read, in order
    limit: int | None  # the first `limit` pairs per language, or all
    model: str  # the model name as given to the Encoder ("default", a hub name, a path)
    fingerprint: str  # the Encoder's fingerprint (model files, prompts, dtype, ...)
    role: str = "passage"  # how the estimation texts were embedded
    vectors: str = "unit"  # the vectors estimated on and corrected: unit rows (see the module docstring)


@dataclass(frozen=True, eq=False)  # eq=False: arrays do not compare with ==; compare `arrays` explicitly
class FittedFix:
    """A fitted correction. Subclasses (one per method) define `correct(x, lang)`.

    `arrays` holds the fitted parameters, each with the embedding dimension d as its first axis,
    named `"<what>.<lang>"` for per-language ones (e.g. `mean.zh`) and plain `"<what>"` for shared
    ones; `n_texts` how many estimation texts (for shift: pairs) each language contributed;
    `summary` small JSON facts about the fit (norms, singular values, energy removed).
    """

    method: ClassVar[str] = ""

    spec: FixSpec
    langs: tuple[str, ...]
    arrays: Mapping[str, np.ndarray]
    n_texts: Mapping[str, int]
    provenance: Provenance | None = None
    encode_seconds: float = 0.0  # embedding the estimation texts (cache reads included)
    fit_seconds: float = 0.0  # estimating the parameters from those embeddings
    cached: bool = False  # loaded from the fix cache by this call (no encoding, no fitting)
    summary: Mapping[str, object] = field(default_factory=dict)  # small JSON facts about the fit

    # ------------------------------------------------------------------ the correction

    def transform(self, x: np.ndarray, lang: str) -> np.ndarray:
        """The correction of the rows of `x` (n × d, or one vector: 1 × d out) of texts in `lang`,
        before renormalisation; float32."""
        self.check_lang(lang)
        return self.correct(as_rows(x, self.dim), lang).astype(np.float32, copy=False)

    def apply(self, x: np.ndarray, lang: str) -> np.ndarray:
        """The corrected rows of `x` (texts in `lang`), L2-normalised again; float32."""
        return unit_rows(self.transform(x, lang))

    def correct(self, x: np.ndarray, lang: str) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def check_lang(self, lang: str) -> None:
        """A language the fix was not estimated on is an error, never a silent no-op."""
        if lang not in self.langs:
            raise ValueError(f"The {self.spec.label} fix was estimated on {', '.join(self.langs)}; it has no transform "
                             f"for {lang!r}. Fit it with {lang!r} among its languages.")

    @property
    def dim(self) -> int:
        return int(next(iter(self.arrays.values())).shape[0])

    # ------------------------------------------------------------------ names and records

    @property
    def data(self) -> str | None:
        return self.provenance.data if self.provenance else None

    def variant_name(self, model: str | None = None) -> str:
        """`"{model}+{fix}{param}@{data}"`, e.g. `default+lir1@ntrex` (model: the provenance's unless given)."""
        from xldiag.fixes.registry import variant_name

        if self.provenance is None and model is None:
            raise ValueError("This fix was fitted on arrays given directly; pass the model name for its variant name.")
        return variant_name(model or self.provenance.model, self.spec, self.data or "arrays")

    def with_param(self, value) -> "FittedFix":
        """The same estimate with another value of a parameter that is not part of it (shift's alpha)."""
        from xldiag.fixes.registry import method_of

        method = method_of(self.spec.method)
        if method.param_in_estimate:
            raise ValueError(f"The {method.name} fix's {method.param or 'estimate'} is part of its estimate; "
                             f"fit it again for {method.name}:{value}.")
        return replace(self, spec=method.spec(value))

    def record(self, arrays: bool = False) -> dict:
        """What a variant records (JSON-serialisable): the fix, its data, texts per language, the
        timings, a summary of the fitted parameters, and with `arrays=True` the arrays themselves."""
        out = {
            "format": FIX_FORMAT,
            "fix": self.spec.text,
            "method": self.spec.method,
            "param": self.spec.param,
            "label": self.spec.label,
            "langs": list(self.langs),
            "n_texts": {lang: int(n) for lang, n in self.n_texts.items()},
            "provenance": None if self.provenance is None else vars(self.provenance).copy(),
            "encode_seconds": round(float(self.encode_seconds), 4),
            "fit_seconds": round(float(self.fit_seconds), 4),
            "summary": dict(self.summary),
            "arrays": {name: list(value.shape) for name, value in self.arrays.items()},
        }
        if self.provenance is not None:
            out["variant"] = self.variant_name()
        if arrays:
            out["values"] = {name: np.asarray(value, np.float64).tolist() for name, value in self.arrays.items()}
        return out

    def save(self, folder: str | os.PathLike) -> Path:
        """Write `fix.json` and `arrays.npz` into `folder`, atomically (a crash leaves the old folder or none)."""
        folder = Path(folder)
        with atomic_dir(folder) as tmp:
            with open(tmp / ARRAYS_FILE, "wb") as fh:
                np.savez(fh, **{name: np.asarray(value) for name, value in self.arrays.items()})
            (tmp / RECORD_FILE).write_text(json.dumps(self.record(), indent=2, ensure_ascii=False) + "\n",
                                           encoding="utf-8")
        return folder

    @classmethod
    def from_saved(cls, record: dict, arrays: Mapping[str, np.ndarray]) -> "FittedFix":
        """Rebuild a fix of this class from its `fix.json` record and its arrays."""
        from xldiag.fixes.registry import method_of

        prov = record.get("provenance")
        return cls(
            spec=method_of(record["method"]).spec(record.get("param")),
            langs=tuple(record["langs"]),
            arrays=dict(arrays),
            n_texts=dict(record["n_texts"]),
            provenance=Provenance(**prov) if prov else None,
            encode_seconds=float(record.get("encode_seconds", 0.0)),
            fit_seconds=float(record.get("fit_seconds", 0.0)),
            summary=dict(record.get("summary", {})),
        )


def load_saved(folder: str | os.PathLike) -> tuple[dict, dict[str, np.ndarray]] | None:
    """(record, arrays) of a saved fix, or None when the folder is missing, half-written or of
    another format (the caller refits)."""
    folder = Path(folder)
    record = read_json(folder / RECORD_FILE)
    if record is None or record.get("format") != FIX_FORMAT:
        return None
    try:
        with np.load(folder / ARRAYS_FILE) as data:
            arrays = {name: data[name] for name in data.files}
    except (OSError, ValueError):
        return None
    if set(arrays) != set(record.get("arrays", {})):
        return None
    return record, arrays


# ---------------------------------------------------------------------------- row helpers


def as_rows(x: np.ndarray, dim: int | None = None) -> np.ndarray:
    """`x` as a 2-D float32 matrix (a single vector becomes one row), checked against `dim`."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2:
        raise ValueError(f"Expected embeddings of shape (n, d), got shape {x.shape}.")
    if dim is not None and x.shape[1] != dim:
        raise ValueError(f"The fix was estimated on {dim}-dimensional embeddings; got {x.shape[1]} dimensions. "
                         "Estimate it with the model that embeds these texts.")
    return x


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows divided by their L2 norm (float32); a row of norm ~0 stays zero."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norms, TINY)).astype(np.float32, copy=False)


def nonempty(embeddings_by_lang: Mapping[str, np.ndarray], what: str) -> dict[str, np.ndarray]:
    """The per-language matrices as float64, each checked to have at least one row."""
    if not embeddings_by_lang:
        raise ValueError(f"{what} needs embeddings of at least one language.")
    out = {}
    for lang, matrix in embeddings_by_lang.items():
        matrix = np.asarray(matrix, dtype=np.float64)
        if matrix.ndim != 2 or len(matrix) == 0:
            raise ValueError(f"{what}: no estimation texts for {lang!r} (got an array of shape {matrix.shape}).")
        out[lang] = matrix
    dims = {m.shape[1] for m in out.values()}
    if len(dims) != 1:
        raise ValueError(f"{what}: the languages' embeddings differ in dimension ({sorted(dims)}).")
    return out
