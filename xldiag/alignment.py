"""How two languages' embedding spaces line up: softmax-over-dimensions distributions, per-pair
cosine and Jensen–Shannon divergence, and 2-D projections of one or several models.

An embedding e ∈ R^d is read as a distribution over its d dimensions, p = softmax(e / T). Two
parallel texts are aligned when their distributions match: JSD(p_en, p_tgt) → 0. The training
loss (√JSD + InfoNCE) uses the same reading, so these numbers are comparable with its JSD curve.
JSD here uses natural logarithms (0 ≤ JSD ≤ ln 2), like torch's KL divergence.

T = 1 is the paper's softmax(z). A run trained with `--jsd-temperature T` records T in its
checkpoint's manifest (`trained_jsd_temperature`); `alignment_frame(..., chosen_temperature=T)`
then adds the JSD at that T beside the JSD at T = 1, and `jsd_summary` tabulates both.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from xldiag.atomic import read_json
from xldiag.vocab import MANIFEST_FILE, TRAINED_BY

DEFAULT_TEMPERATURE = 1.0


def softmax_dims(emb: np.ndarray, temperature: float = DEFAULT_TEMPERATURE) -> np.ndarray:
    """Row-wise softmax over the embedding dimensions (numerically stable, float64)."""
    x = np.atleast_2d(np.asarray(emb, dtype=np.float64)) / float(temperature)
    x = x - x.max(axis=1, keepdims=True)
    np.exp(x, out=x)
    x /= x.sum(axis=1, keepdims=True)
    return x


def jsd(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Row-wise Jensen–Shannon divergence (natural log) between distributions p and q."""
    p = np.atleast_2d(np.asarray(p, dtype=np.float64))
    q = np.atleast_2d(np.asarray(q, dtype=np.float64))
    m = 0.5 * (p + q)

    def kl(a, b):
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(a > 0, a * (np.log(a) - np.log(b)), 0.0)
        return terms.sum(axis=1)

    return np.maximum(0.5 * kl(p, m) + 0.5 * kl(q, m), 0.0)


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity."""
    a = np.atleast_2d(np.asarray(a, dtype=np.float64))
    b = np.atleast_2d(np.asarray(b, dtype=np.float64))
    na = np.linalg.norm(a, axis=1)
    nb = np.linalg.norm(b, axis=1)
    return (a * b).sum(axis=1) / np.maximum(na * nb, 1e-12)


def pair_stats(en: np.ndarray, tgt: np.ndarray, temperature: float = DEFAULT_TEMPERATURE) -> pd.DataFrame:
    """Cosine and JSD for each parallel pair (row i of `en` with row i of `tgt`)."""
    en = np.atleast_2d(en)
    tgt = np.atleast_2d(tgt)
    if en.shape != tgt.shape:
        raise ValueError(f"Parallel embeddings must have the same shape, got {en.shape} and {tgt.shape}.")
    return pd.DataFrame({
        "index": np.arange(len(en)),
        "cosine": cosine(en, tgt),
        "jsd": jsd(softmax_dims(en, temperature), softmax_dims(tgt, temperature)),
    })


def pair_jsd(en: np.ndarray, tgt: np.ndarray, temperature: float = DEFAULT_TEMPERATURE,
             chunk_rows: int = 4096) -> np.ndarray:
    """JSD(softmax(en_i / T), softmax(tgt_i / T)) per parallel row, in chunks of rows (memory stays
    bounded on a 100,000-pair table; the rows may be memory-mapped)."""
    if len(en) != len(tgt):
        raise ValueError(f"Parallel embeddings must have the same number of rows, got {len(en)} and {len(tgt)}.")
    out = np.empty(len(en), dtype=np.float64)
    for start in range(0, len(en), chunk_rows):
        stop = start + chunk_rows
        out[start:stop] = jsd(softmax_dims(en[start:stop], temperature), softmax_dims(tgt[start:stop], temperature))
    return out


def alignment_frame(embeddings: dict[str, dict[str, np.ndarray]], pivot: str = "en",
                    temperature: float = DEFAULT_TEMPERATURE,
                    chosen_temperature: float | None = None) -> pd.DataFrame:
    """Cosine/JSD over all parallel pairs for several models and languages.

    `embeddings[model][lang]` is an n×d matrix, row i parallel across languages. Returns rows
    (model, lang, index, cosine, jsd) for every non-pivot language paired with the pivot, `jsd`
    at `temperature`; with `chosen_temperature` also `jsd_chosen`, the JSD at that T."""
    frames = []
    for model, by_lang in embeddings.items():
        for lang, mat in by_lang.items():
            if lang == pivot:
                continue
            stats = pair_stats(by_lang[pivot], mat, temperature)
            if chosen_temperature is not None:
                stats["jsd_chosen"] = pair_stats(by_lang[pivot], mat, chosen_temperature)["jsd"]
            stats.insert(0, "lang", lang)
            stats.insert(0, "model", model)
            frames.append(stats)
    if not frames:
        extra = ["jsd_chosen"] if chosen_temperature is not None else []
        return pd.DataFrame(columns=["model", "lang", "index", "cosine", "jsd", *extra])
    return pd.concat(frames, ignore_index=True)


def jsd_summary(frame: pd.DataFrame, temperature: float = DEFAULT_TEMPERATURE,
                chosen_temperature: float | None = None) -> pd.DataFrame:
    """Per (model, lang): mean and median cosine and JSD (an `alignment_frame`), the JSD at
    `temperature` and — when the frame has `jsd_chosen` — at `chosen_temperature`, side by side
    with the temperature in the column names ("JSD mean (T=1)", "JSD mean (T=0.5)")."""
    columns = {"cosine": "cosine", "jsd": f"JSD (T={temperature:g})"}
    if "jsd_chosen" in frame.columns and chosen_temperature not in (None, temperature):
        columns["jsd_chosen"] = f"JSD (T={chosen_temperature:g})"
    table = frame.groupby(["model", "lang"], sort=False)[list(columns)].agg(["mean", "median"])
    table.columns = [columns[col].replace(" (", f" {stat} (") if "(" in columns[col] else f"{columns[col]} {stat}"
                     for col, stat in table.columns]
    return table.reset_index()


def trained_jsd_temperature(model: str | Path) -> float | None:
    """The `--jsd-temperature` a model folder written by `xldiag train` was trained with (from its
    xldiag_manifest.json), or None for any other model."""
    manifest = read_json(Path(model).expanduser() / MANIFEST_FILE) or {}
    if manifest.get("trained_by") != TRAINED_BY:
        return None
    value = manifest.get("jsd_temperature", DEFAULT_TEMPERATURE)  # runs before the option: softmax(z), T = 1
    return float(value) if isinstance(value, (int, float)) and value > 0 else None


@dataclass
class Projection:
    """A 2-D projection fitted once on the rows of several matrices; can place new points."""

    method: str
    model: object
    coords: dict[str, np.ndarray]

    def transform(self, x: np.ndarray) -> np.ndarray:
        x = np.atleast_2d(np.asarray(x, dtype=np.float32))
        return np.asarray(self.model.transform(x), dtype=np.float64)


def project(matrices: dict[str, np.ndarray], method: str = "umap", seed: int = 0,
            n_neighbors: int = 15, min_dist: float = 0.1) -> Projection:
    """Fit one 2-D projection (UMAP or PCA) on all matrices stacked; return each one's coordinates.

    UMAP falls back to PCA when there are too few points for a neighbourhood graph. A map of
    several models does not stack them (UMAP's neighbourhood graph would join their points, PCA's
    axes follow the model that varies most): it fits each alone and turns them onto one another
    (views.maps.fitted_coordinates, `similarity_fit`)."""
    names = list(matrices)
    mats = [np.atleast_2d(np.asarray(matrices[k], dtype=np.float32)) for k in names]
    stacked = np.concatenate(mats, axis=0)
    n = stacked.shape[0]
    method = method.lower()
    if method == "umap" and n >= 8:
        import umap

        model = umap.UMAP(n_components=2, n_neighbors=max(2, min(n_neighbors, n - 1)), min_dist=min_dist,
                          metric="cosine", random_state=seed, init="spectral" if n > 20 else "random",
                          transform_seed=seed, n_jobs=1)
        with warnings.catch_warnings():  # a seeded UMAP is single-threaded by design; umap says so on every fit
            warnings.filterwarnings("ignore", message="n_jobs value", category=UserWarning)
            out = model.fit_transform(stacked)
    else:
        from sklearn.decomposition import PCA

        method = "pca"
        model = PCA(n_components=2, random_state=seed)
        out = model.fit_transform(stacked)
    coords, start = {}, 0
    for name, mat in zip(names, mats):
        coords[name] = np.asarray(out[start:start + len(mat)], dtype=np.float64)
        start += len(mat)
    return Projection(method=method, model=model, coords=coords)


@dataclass(frozen=True)
class SimilarityFit:
    """z ↦ scale · (z − source_mean) · rotation + target_mean: a rotation (or reflection), one
    scale and a shift of the plane, which keep a map's shape (every distance × scale)."""

    rotation: np.ndarray
    scale: float
    source_mean: np.ndarray
    target_mean: np.ndarray

    def __call__(self, z: np.ndarray) -> np.ndarray:
        z = np.asarray(z, dtype=np.float64).reshape(-1, 2)
        return self.scale * (z - self.source_mean) @ self.rotation + self.target_mean


def similarity_fit(source: np.ndarray, target: np.ndarray) -> SimilarityFit:
    """The similarity transform that brings the points `source` (n × 2) closest to their
    counterparts `target` (n × 2) in squared distance (orthogonal Procrustes with scaling, Gower 1975):

        X = source − mean, Y = target − mean, XᵀY = U S Vᵀ  →  rotation = U Vᵀ, scale = tr S / ‖X‖²_F

    (reflections allowed: a map's handedness means nothing). With fewer than 2 distinct points,
    the identity shift only."""
    x, y = np.asarray(source, dtype=np.float64), np.asarray(target, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"similarity_fit needs two n × 2 arrays of counterparts, got {x.shape} and {y.shape}.")
    mx, my = x.mean(axis=0), y.mean(axis=0)
    xc, yc = x - mx, y - my
    norm = float((xc ** 2).sum())
    if len(x) < 2 or norm == 0.0:
        return SimilarityFit(np.eye(2), 1.0, mx, my)
    u, s, vt = np.linalg.svd(xc.T @ yc)
    return SimilarityFit(u @ vt, float(s.sum()) / norm, mx, my)


# --------------------------------------------------------------------------------------------
# Vectors before the final L2 normalisation (what the √JSD loss sees by default)


def _body_modules(st_model) -> list:
    children = list(st_model.children())
    if children and type(children[-1]).__name__ == "Normalize":
        return children[:-1]
    return children


def encode_pre_norm(st_model, texts: list[str], encode_kwargs: dict | None = None, batch_size: int = 32,
                    progress=None) -> np.ndarray:
    """The pooled sentence vectors *before* a trailing Normalize module (float32, n × d).

    `encode_kwargs` are the family's prompt/task arguments (ModelFamily.encode_kwargs). The
    modules are shared with `st_model` (no copy of the weights). A `prompt_name` is resolved
    against `st_model`'s own prompts here and passed on as the prompt text: the body model is a
    new SentenceTransformer that has no prompts, and sentence-transformers raises on a
    prompt_name it does not know."""
    from sentence_transformers import SentenceTransformer

    kwargs = dict(encode_kwargs or {})
    prompts = dict(getattr(st_model, "prompts", None) or {})
    name = kwargs.pop("prompt_name", None)
    if name is not None and "prompt" not in kwargs:
        if name not in prompts:
            raise ValueError(f"The model has no prompt named {name!r} (its prompts: {sorted(prompts) or 'none'}).")
        kwargs["prompt"] = prompts[name]
    if "prompt" not in kwargs:  # what encode() would fall back to on the full model
        default = getattr(st_model, "default_prompt_name", None)
        kwargs["prompt"] = prompts.get(default, "") if default else ""
    body = SentenceTransformer(modules=_body_modules(st_model), device=str(st_model.device))
    texts = list(texts)
    out = []
    for start in range(0, len(texts), batch_size * 4):
        part = texts[start:start + batch_size * 4]
        vecs = body.encode(part, batch_size=batch_size, convert_to_numpy=True, normalize_embeddings=False,
                           show_progress_bar=False, **kwargs)
        out.append(np.asarray(vecs, dtype=np.float32))
        if progress:
            progress(min(len(texts), start + len(part)), len(texts))
    if not out:
        return np.zeros((0, st_model.get_sentence_embedding_dimension()), np.float32)
    return np.concatenate(out, axis=0)


def vectors(encoder, texts: list[str], role: str = "passage", pre_norm: bool = True, progress=None) -> np.ndarray:
    """Embeddings for the alignment views, from the Encoder's disk cache (one encode serves
    everything: the cache stores the pre-normalisation vector and derives the unit one).

    `pre_norm=True`: the vectors before the final normalisation (`encode(..., normalized=False)`);
    `pre_norm=False`: the unit vectors the ranking uses."""
    kwargs = {"progress": progress} if progress else {}
    return encoder.encode(list(texts), role, normalized=not pre_norm, **kwargs)
