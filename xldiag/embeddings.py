"""Embeddings with a disk cache: each unique text is embedded once per model and role.

One encode serves everything: the cache keeps each text's *pre-normalisation* pooled vector
(for a sentence-transformers model ending in a Normalize module, the output of the module
before it; otherwise the model's output — for use-m3, whose package normalises internally, that
is already the unit vector). Ranking reads the unit vector derived from it,
u = v / ‖v‖; Alignment and JSD read v itself (`normalized=False`); the fix transforms (xldiag/fixes)
read the unit rows u, what the cosine ranking sees (docs/FIXES.md).

Layout (cache format 2): `<cache>/embeddings/<fingerprint>/<role>/shard-*.npz`, each shard
holding `format` (the cache format, a scalar), `keys` (sha1 of the UTF-8 text, n×20 bytes),
`vectors` (n×d float32, pre-normalisation), `n_tokens` (n int32: the text's length in tokens as
the model tokenises it — prompt and special tokens included — before truncation) and
`max_tokens` (n int32: the model's max_seq_length when it was encoded; a text is cut when
n_tokens > max_tokens; -1 in both where the model cannot say; `vocab.NO_TOKEN_LIMIT` for a model
that embeds every token, such as use-m3). Shards are append-only and
written via temp file + rename, every few batches, so a crash loses at most the batch in flight
and never leaves a partial shard. On open, all shards of a role are read into one matrix plus a
dict from key to row; lookups hash each text once and gather rows at once. Several processes
may share a cache: each writes its own shards and picks up the others'.

Vectors are checked when the model returns them: a NaN, inf or all-zero vector is never
cached (NonFiniteEmbeddingError names the text; the batch's good texts are kept).

The fingerprint covers the cache format, the model's files (see `xldiag.models.model_identity`),
the prompts or tasks per role, an explicit max_seq_length and the effective dtype, so changing
any of them starts a fresh cache. Format-1 folders (unit vectors only, no token counts) cannot
be upgraded — the pre-normalisation vector is gone — so they are left alone, named in a one-line
warning and re-encoded; a shard of another format found inside a folder is skipped, never read
as this format. The model itself is loaded only when something is missing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from xldiag import config
from xldiag.atomic import atomic_path, write_json
from xldiag.models.loading import load_model, model_identity, normalize_dtype
from xldiag.models import use_m3
from xldiag.models.registry import ROLES, family_of
from xldiag.vocab import NO_TOKEN_LIMIT

log = logging.getLogger(__name__)

# Bump when what is stored changes meaning. 1: unit vectors only. 2: pre-normalisation vectors
# plus token counts (n_tokens, max_tokens) per text.
CACHE_VERSION = 2
KEY_BYTES = 20  # sha1
BATCHES_PER_SHARD = 8  # a crash loses at most this many batches of work
MAX_SHARDS = 64  # above this, a role's shards are merged into one
STALE_TEMP_SECONDS = 3600  # temp files this old belong to a crashed writer
UNKNOWN = -1  # token count the model could not report

Progress = Callable[[int, int], None]


def text_key(text: str) -> bytes:
    """The cache key of one text: sha1 of its UTF-8 bytes."""
    return hashlib.sha1(text.encode("utf-8")).digest()


class NonFiniteEmbeddingError(ValueError):
    """The model returned a NaN, inf or all-zero vector for some texts; none of them was cached.

    `texts` are the offending texts found (the encode stops at the first chunk holding one), in
    input order; `positions` their indices in the list given to `Encoder.encode` and `position`
    the first (the evaluation turns it into a question or passage id)."""

    def __init__(self, model: str, role: str, texts: list[str], positions: list[int] | None = None):
        self.model, self.role, self.texts = model, role, list(texts)
        self.positions = list(positions or [])
        self.position = self.positions[0] if self.positions else None
        where = f" at position {self.position}" if self.position is not None else ""
        preview = texts[0][:60] + ("…" if len(texts[0]) > 60 else "")
        super().__init__(
            f"model {model!r} returned a non-finite (NaN/inf) or zero embedding for {len(texts)} {role} "
            f"text(s), first{where}: {preview!r}; not cached. Check the model's weights and dtype "
            "(half precision can overflow; float32 is safe)."
        )


@dataclass(frozen=True)
class TokenCounts:
    """Per text: its length in tokens before truncation and the model's max_seq_length (-1: unknown)."""

    n_tokens: np.ndarray  # int32
    max_tokens: np.ndarray  # int32

    @property
    def known(self) -> np.ndarray:
        return (self.n_tokens >= 0) & (self.max_tokens >= 0)

    @property
    def cut(self) -> np.ndarray:
        """True where the model saw only the first max_tokens tokens of the text."""
        return self.known & (self.n_tokens > self.max_tokens)


class Encoder:
    """Embeds texts as queries or passages, through an on-disk cache shared across runs.

    `encode(texts, role)` returns float32 (n × d), rows L2-normalised, in input order;
    `encode(texts, role, normalized=False)` the stored pre-normalisation vectors;
    `token_counts(texts, role)` how long each text was and whether the model cut it.
    `prompts` overrides the family's {"query": ..., "passage": ...} prefixes.
    """

    def __init__(
        self,
        model_name_or_path: str | os.PathLike = "default",
        device: str | None = None,
        batch_size: int = 32,
        prompts: dict[str, str] | None = None,
        trust_remote_code: bool = False,
        cache_root: str | os.PathLike | None = None,
        dtype=None,
        max_seq_length: int | None = None,
        show_progress: bool = True,
        *,
        model: str | os.PathLike | None = None,  # alias of model_name_or_path
    ):
        self.model_name = str(model if model is not None else model_name_or_path)
        self.family = family_of(self.model_name, prompts)
        self.device = device
        self.batch_size = int(batch_size)
        self.trust_remote_code = trust_remote_code
        self.dtype = normalize_dtype(dtype)
        self.max_seq_length = max_seq_length
        self.show_progress = show_progress
        self.cache_root = Path(cache_root) if cache_root else config.cache_dir() / "embeddings"
        self.encoded_count = 0  # texts actually sent to the model by this instance
        # text -> cache key: a warm evaluation asks for the same texts many times (English in every
        # language pair, token counts after the vectors); a str caches its own hash, sha1 does not.
        self._text_keys: dict[str, bytes] = {}
        self._model = None
        self._body = None
        self._fingerprint: str | None = None
        self._identity: dict | None = None
        self._stores: dict[str, ShardStore] = {}

    # ---------------------------------------------------------------- model and identity

    @property
    def model(self):
        """The SentenceTransformer, loaded on first use."""
        if self._model is None:
            self._model = load_model(
                self.model_name,
                device=self.device,
                dtype=self.dtype,
                trust_remote_code=self.trust_remote_code,
                max_seq_length=self.max_seq_length,
            )
        return self._model

    @property
    def fingerprint(self) -> str:
        """A stable hash of (cache format, model files, prompts/tasks, max_seq_length, dtype)."""
        if self._fingerprint is None:
            identity = model_identity(self.model_name)
            if identity is None:  # a hub model not cached yet: loading downloads it
                self.model
                identity = model_identity(self.model_name)
            if identity is None:
                log.warning("Cannot identify %s from its files; the cache is keyed by name only", self.model_name)
                identity = {"name": self.model_name, "unresolved": True}
            self._identity = identity
            self._fingerprint = hashlib.sha1(_canonical(self.describe(identity))).hexdigest()[:20]
        return self._fingerprint

    def describe(self, identity: dict | None = None) -> dict:
        """What the fingerprint is computed from (also written to the cache folder's info.json)."""
        return {
            "cache_version": CACHE_VERSION,
            "model": identity if identity is not None else model_identity(self.model_name),
            "prompts": self.family.prompts(),
            "tasks": {role: self.family.task(role) for role in ROLES},
            "max_seq_length": self.max_seq_length,
            "dtype": self._effective_dtype(),
        }

    def _effective_dtype(self) -> str:
        if self.dtype in (None, "float32") or use_m3.is_use_m3(self.model_name):  # use-m3: numpy float32 only
            return "float32"
        # Half precision applies on CUDA only (load_model keeps CPU in fp32).
        return self.dtype if config.device(self.device).startswith("cuda") else "float32"

    @property
    def cache_dir(self) -> Path:
        """This model's cache folder."""
        return self.cache_root / self.fingerprint

    # ------------------------------------------------------------------------- encoding

    def encode(self, texts: Iterable[str], role: str, progress: Progress | None = None,
               normalized: bool = True) -> np.ndarray:
        """Embeddings of `texts` as `role` ("query" or "passage"); float32, n × d.

        Rows are unit length (u = v / ‖v‖), or with `normalized=False` the stored
        pre-normalisation vectors v. Cached texts come from disk; the rest (each unique text
        once) go to the model in chunks, each chunk saved as a shard before the next starts.
        `progress(done, total)` counts unique texts, cached ones included. Raises
        NonFiniteEmbeddingError (nothing cached for those texts) if the model returns NaN/inf.
        """
        keys, store = self._ensure(texts, role, progress)
        if not keys:
            return np.zeros((0, store.dim or self.model.get_embedding_dimension()), np.float32)
        return store.gather(keys, normalized=normalized)

    def token_counts(self, texts: Iterable[str], role: str) -> TokenCounts:
        """Each text's length in tokens (prompt and special tokens included, before truncation)
        and the max_seq_length it was encoded with; read from the cache (texts not yet cached
        are encoded first)."""
        keys, store = self._ensure(texts, role, None)
        return store.token_counts(keys)

    def _ensure(self, texts: Iterable[str], role: str, progress: Progress | None) -> tuple[list[bytes], "ShardStore"]:
        """Keys of `texts`, every one of them in the store (encoding the missing ones)."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, got {role!r}")
        texts = list(texts)
        for text in texts:
            if not isinstance(text, str):
                raise TypeError(f"texts must be strings, got {type(text).__name__}")
        memo = self._text_keys
        keys = [memo.get(text) or memo.setdefault(text, text_key(text)) for text in texts]
        store = self._store(role)
        missing = _unique_missing(texts, keys, store)
        if missing:
            store.refresh()  # another process may have embedded them meanwhile
            missing = _unique_missing(texts, keys, store)
        n_unique = len(set(keys))
        if progress:
            progress(n_unique - len(missing), n_unique)
        if missing:
            try:
                self._embed_missing(missing, role, store, progress, n_unique)
            except NonFiniteEmbeddingError as err:  # name the texts by their place in the input
                bad = {text_key(text) for text in err.texts}
                first: dict[bytes, int] = {}
                for i, key in enumerate(keys):
                    if key in bad:
                        first.setdefault(key, i)
                positions = sorted(first.values())
                raise NonFiniteEmbeddingError(self.model_name, role, [texts[i] for i in positions], positions) from None
            store.compact_if_needed()
        return keys, store

    def _embed_missing(self, missing: list[tuple[str, bytes]], role: str, store: "ShardStore",
                       progress: Progress | None, n_unique: int) -> None:
        from tqdm.auto import tqdm

        # Longest first, so each chunk pads to similar lengths.
        missing = sorted(missing, key=lambda item: -len(item[0]))
        chunk = self.batch_size * BATCHES_PER_SHARD
        done = n_unique - len(missing)
        with tqdm(total=len(missing), desc=f"embedding {role} texts", unit="text", disable=not self.show_progress) as bar:
            for start in range(0, len(missing), chunk):
                part = missing[start : start + chunk]
                texts = [text for text, _ in part]
                vectors, counts = self._embed_batch(texts, role)
                good = _usable_rows(vectors)
                if good.any():  # the batch's good texts are kept even when some fail
                    store.write_shard([key for (_, key), ok in zip(part, good) if ok], vectors[good],
                                      counts.n_tokens[good], counts.max_tokens[good])
                    self.encoded_count += int(good.sum())
                if not good.all():
                    raise NonFiniteEmbeddingError(self.model_name, role, [t for t, ok in zip(texts, good) if not ok])
                done += len(part)
                bar.update(len(part))
                if progress:
                    progress(done, n_unique)

    def _embed_batch(self, texts: list[str], role: str) -> tuple[np.ndarray, TokenCounts]:
        """One model call: pre-normalisation float32 rows, and each text's token counts."""
        model = self.model
        kwargs = self._encode_kwargs(model, role)
        if self._body is None:
            self._body = pre_norm_model(model)
        vectors = self._body.encode(
            texts,
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=False,
            show_progress_bar=False,
            **kwargs,
        )
        return np.asarray(vectors, dtype=np.float32), count_tokens(model, texts, kwargs)

    def _encode_kwargs(self, model, role: str) -> dict:
        """The prompt text and task `model.encode` would apply for `role` (`ModelFamily.inputs`:
        the one resolution training uses too), passed explicitly: the body model that yields
        pre-normalisation vectors has no prompts or default prompt of its own."""
        prompt, task = self.family.inputs(role, model)
        return {**({"prompt": prompt} if prompt else {}), **({"task": task} if task else {})}

    def _store(self, role: str) -> "ShardStore":
        if role not in self._stores:
            folder = self.cache_dir
            if not (folder / "info.json").exists():
                info = self.describe(self._identity)
                _announce_older_caches(self.cache_root, folder, info)
                write_json(folder / "info.json", {"model_name": self.model_name, **info})
            self._stores[role] = ShardStore(folder / role)
        return self._stores[role]


# ------------------------------------------------------------------------ model helpers


def pre_norm_model(st_model):
    """A model whose encode() returns `st_model`'s vectors before its trailing Normalize module.

    Shares the modules (no copy of the weights); a model without a trailing Normalize (or a
    stand-in that is not a SentenceTransformer) is returned as it is."""
    children = list(st_model.children()) if hasattr(st_model, "children") else []
    if not children or type(children[-1]).__name__ != "Normalize":
        return st_model
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(modules=children[:-1], device=str(st_model.device))


def count_tokens(model, texts: list[str], encode_kwargs: dict) -> TokenCounts:
    """Each text's length in tokens as `model` tokenises it for encode(**encode_kwargs) — prompt
    and special tokens included — without truncation, and the model's max_seq_length.

    Tokenisation only (no forward pass). -1 where the model cannot say (no `preprocess`, or a
    processor that yields no attention mask)."""
    n = len(texts)
    max_len = getattr(model, "max_seq_length", None)
    try:
        features = model.preprocess(texts, **encode_kwargs, processing_kwargs={"text": {"truncation": False, "verbose": False}})
        mask = features["attention_mask"]
        lengths = np.asarray(mask.sum(1) if hasattr(mask, "sum") else [sum(m) for m in mask], dtype=np.int32)
    except Exception as err:  # noqa: BLE001 - counting is a diagnostic; encoding goes on without it
        if type(model).__name__ not in _UNCOUNTABLE:
            _UNCOUNTABLE.add(type(model).__name__)
            log.warning("Cannot count tokens with %s (%s: %s); truncation is not recorded",
                        type(model).__name__, type(err).__name__, err)
        lengths = np.full(n, UNKNOWN, np.int32)
    # A model that embeds every token says so with NO_TOKEN_LIMIT (use-m3) or math.inf
    # (sentence-transformers' StaticEmbedding); both are stored as NO_TOKEN_LIMIT.
    limit = min(max_len, NO_TOKEN_LIMIT) if max_len else UNKNOWN
    max_tokens = np.full(n, int(limit), np.int32)
    return TokenCounts(lengths.reshape(n), max_tokens)


_UNCOUNTABLE: set[str] = set()  # model types already warned about


def _usable_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows that are finite and not all zero (a zero vector has no direction to rank by)."""
    return np.isfinite(vectors).all(axis=1) & (np.abs(vectors).max(axis=1, initial=0.0) > 0)


def inverse_norms(vectors: np.ndarray) -> np.ndarray:
    """1 / ‖v‖ per row, float32 (the squares summed in float64)."""
    return (1.0 / np.sqrt(np.einsum("ij,ij->i", vectors, vectors, dtype=np.float64))).astype(np.float32)


def _unique_missing(texts: list[str], keys: list[bytes], store: "ShardStore") -> list[tuple[str, bytes]]:
    """(text, key) of texts not in the store, each once, in first-occurrence order."""
    seen, out = set(), []
    for text, key in zip(texts, keys):
        if key not in store.index and key not in seen:
            seen.add(key)
            out.append((text, key))
    return out


def _canonical(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, ensure_ascii=True, default=str).encode()


def _announce_older_caches(root: Path, folder: Path, info: dict) -> None:
    """Warn, once per new cache folder, about folders of the same model in an older cache format
    (they cannot be upgraded: format 1 kept only unit vectors)."""
    same = {k: v for k, v in info.items() if k != "cache_version"}
    for other in sorted(root.glob("*/info.json")):
        try:
            old = json.loads(other.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if old.get("cache_version") != CACHE_VERSION and {k: old.get(k) for k in same} == same:
            log.warning("Embedding cache %s is in cache format %s (unit vectors only), which this version cannot "
                        "use; re-encoding into %s (delete the old folder to free its space).",
                        other.parent, old.get("cache_version"), folder)


class ShardStore:
    """The vectors and token counts of one (model, role): shard files on disk, one matrix + key
    index in memory."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.index: dict[bytes, int] = {}
        self.matrix = np.zeros((0, 0), np.float32)
        self.inv_norms = np.zeros(0, np.float32)  # per row 1/‖v‖: unit rows are one multiply away
        self.counts = np.zeros((0, 2), np.int32)  # per row: n_tokens, max_tokens
        self.size = 0
        self.loaded: set[str] = set()  # shard names read
        self.skipped: set[str] = set()  # shards of another cache format: never read, never merged
        self._remove_stale_temps()
        self.refresh()

    @property
    def dim(self) -> int | None:
        return self.matrix.shape[1] if self.size else None

    def shard_paths(self) -> list[Path]:
        return sorted(self.folder.glob("shard-*.npz"))

    def refresh(self) -> None:
        """Read shards written since the last refresh (by us or by other processes)."""
        for path in self.shard_paths():
            if path.name in self.loaded or path.name in self.skipped:
                continue
            try:
                with np.load(path) as data:
                    version = int(data["format"]) if "format" in data.files else 1
                    if version != CACHE_VERSION:
                        log.warning("Skipping embedding shard %s: cache format %s, expected %s; its texts are "
                                    "re-encoded.", path, version, CACHE_VERSION)
                        self.skipped.add(path.name)
                        continue
                    keys, vectors = data["keys"], data["vectors"]
                    counts = np.stack([data["n_tokens"], data["max_tokens"]], axis=1)
            except FileNotFoundError:  # merged away by another process meanwhile
                continue
            self.loaded.add(path.name)
            self._add(keys, vectors, counts)

    def gather(self, keys: list[bytes], normalized: bool = True) -> np.ndarray:
        """Rows for `keys` (all must be present), as a new float32 array; unit rows if `normalized`."""
        rows = self._rows(keys)
        out = self.matrix[rows]
        if normalized:
            out *= self.inv_norms[rows][:, None]
        return out

    def token_counts(self, keys: list[bytes]) -> TokenCounts:
        counts = self.counts[self._rows(keys)]
        return TokenCounts(counts[:, 0].copy(), counts[:, 1].copy())

    def _rows(self, keys: list[bytes]) -> np.ndarray:
        return np.fromiter((self.index[key] for key in keys), dtype=np.int64, count=len(keys))

    def write_shard(self, keys: list[bytes], vectors: np.ndarray, n_tokens=None, max_tokens=None) -> Path:
        """Save one shard atomically, then add it to memory. Token counts default to unknown (-1)."""
        key_array = np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(len(keys), KEY_BYTES)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        counts = np.full((len(keys), 2), UNKNOWN, np.int32)
        if n_tokens is not None:
            counts[:, 0] = n_tokens
        if max_tokens is not None:
            counts[:, 1] = max_tokens
        path = self.folder / f"shard-{time.time_ns()}-{os.getpid()}-{uuid.uuid4().hex[:8]}.npz"
        _save_npz(path, key_array, vectors, counts)
        self.loaded.add(path.name)
        self._add(key_array, vectors, counts)
        return path

    def compact_if_needed(self, max_shards: int | None = None) -> None:
        """Merge this role's shards into one when there are many (keeps opening fast)."""
        self.refresh()
        paths = [p for p in self.shard_paths() if p.name in self.loaded]
        if len(paths) <= (max_shards or MAX_SHARDS):
            return
        keys = np.zeros((self.size, KEY_BYTES), np.uint8)
        for key, row in self.index.items():
            keys[row] = np.frombuffer(key, np.uint8)
        merged = self.folder / f"shard-{time.time_ns()}-{os.getpid()}-merged.npz"
        _save_npz(merged, keys, self.matrix[: self.size], self.counts[: self.size])
        self.loaded.add(merged.name)
        for path in paths:  # only after the merged shard is safely in place
            path.unlink(missing_ok=True)
            self.loaded.discard(path.name)

    def _add(self, keys: np.ndarray, vectors: np.ndarray, counts: np.ndarray) -> None:
        raw = np.ascontiguousarray(keys, dtype=np.uint8).tobytes()
        all_keys = (raw[i * KEY_BYTES : (i + 1) * KEY_BYTES] for i in range(len(keys)))
        fresh = [(key, i) for i, key in enumerate(all_keys) if key not in self.index]
        if not fresh:
            return
        if self.size == 0 and self.matrix.shape[1] != vectors.shape[1]:
            self.matrix = np.zeros((0, vectors.shape[1]), np.float32)
        if vectors.shape[1] != self.matrix.shape[1]:
            raise ValueError(f"shard in {self.folder} has dimension {vectors.shape[1]}, expected {self.matrix.shape[1]}")
        self._reserve(self.size + len(fresh))
        rows = np.array([i for _, i in fresh], dtype=np.int64)
        self.matrix[self.size : self.size + len(fresh)] = vectors[rows]
        self.inv_norms[self.size : self.size + len(fresh)] = inverse_norms(vectors[rows])
        self.counts[self.size : self.size + len(fresh)] = counts[rows]
        for offset, (key, _) in enumerate(fresh):
            self.index[key] = self.size + offset
        self.size += len(fresh)

    def _reserve(self, needed: int) -> None:
        if needed <= self.matrix.shape[0]:
            return
        capacity = max(needed, 2 * self.matrix.shape[0], 1024)
        grown = np.zeros((capacity, self.matrix.shape[1]), np.float32)
        grown[: self.size] = self.matrix[: self.size]
        inv_norms = np.zeros(capacity, np.float32)
        inv_norms[: self.size] = self.inv_norms[: self.size]
        counts = np.full((capacity, 2), UNKNOWN, np.int32)
        counts[: self.size] = self.counts[: self.size]
        self.matrix, self.inv_norms, self.counts = grown, inv_norms, counts

    def _remove_stale_temps(self) -> None:
        now = time.time()
        for path in self.folder.glob(".shard-*"):
            try:
                if now - path.stat().st_mtime > STALE_TEMP_SECONDS:
                    path.unlink()
            except FileNotFoundError:
                pass


def _save_npz(path: Path, keys: np.ndarray, vectors: np.ndarray, counts: np.ndarray) -> None:
    """Write one shard to `path` via a temp file, fsynced before the rename."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:  # a file object: np.savez would append ".npz" to a name
            np.savez(fh, format=np.int32(CACHE_VERSION), keys=keys, vectors=vectors,
                     n_tokens=np.ascontiguousarray(counts[:, 0]), max_tokens=np.ascontiguousarray(counts[:, 1]))
            fh.flush()
            os.fsync(fh.fileno())
