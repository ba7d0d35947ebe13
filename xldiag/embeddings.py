"""Embeddings with a disk cache: each unique text is embedded once per model and role.

Layout: `<cache>/embeddings/<fingerprint>/<role>/shard-*.npz`, each shard holding `keys`
(sha1 of the UTF-8 text, n×20 bytes) and `vectors` (n×d float32, L2-normalised). Shards are
append-only and written via temp file + rename, every few batches, so a crash loses at most the
batch in flight and never leaves a partial shard. On open, all shards of a role are read into
one matrix plus a dict from key to row; lookups hash each text once and gather rows at once.
Several processes may share a cache: each writes its own shards and picks up the others'.

The fingerprint covers the model's files (see `xldiag.models.model_identity`), the prompts or
tasks per role, an explicit max_seq_length and the effective dtype, so changing any of them
starts a fresh cache. The model itself is loaded only when something is missing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
import uuid
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from xldiag import config
from xldiag.atomic import atomic_path, write_json
from xldiag.models.loading import load_model, model_identity, normalize_dtype
from xldiag.models.registry import ROLES, family_of

log = logging.getLogger(__name__)

# Bump when what is stored changes meaning (e.g. a different normalisation).
CACHE_VERSION = 1
KEY_BYTES = 20  # sha1
BATCHES_PER_SHARD = 8  # a crash loses at most this many batches of work
MAX_SHARDS = 64  # above this, a role's shards are merged into one
STALE_TEMP_SECONDS = 3600  # temp files this old belong to a crashed writer

Progress = Callable[[int, int], None]


def text_key(text: str) -> bytes:
    """The cache key of one text: sha1 of its UTF-8 bytes."""
    return hashlib.sha1(text.encode("utf-8")).digest()


class Encoder:
    """Embeds texts as queries or passages, through an on-disk cache shared across runs.

    `encode(texts, role)` returns float32 (n × d), rows L2-normalised, in input order.
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
        self._model = None
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
        """A stable hash of (model files, prompts/tasks, max_seq_length, dtype)."""
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
        if self.dtype in (None, "float32"):
            return "float32"
        # Half precision applies on CUDA only (load_model keeps CPU in fp32).
        return self.dtype if config.device(self.device).startswith("cuda") else "float32"

    @property
    def cache_dir(self) -> Path:
        """This model's cache folder."""
        return self.cache_root / self.fingerprint

    # ------------------------------------------------------------------------- encoding

    def encode(self, texts: Iterable[str], role: str, progress: Progress | None = None) -> np.ndarray:
        """Embeddings of `texts` as `role` ("query" or "passage"); float32, n × d, unit rows.

        Cached texts come from disk; the rest (each unique text once) go to the model in
        chunks, each chunk saved as a shard before the next starts. `progress(done, total)`
        counts unique texts, cached ones included.
        """
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, got {role!r}")
        texts = list(texts)
        for text in texts:
            if not isinstance(text, str):
                raise TypeError(f"texts must be strings, got {type(text).__name__}")
        keys = [text_key(text) for text in texts]
        store = self._store(role)
        missing = _unique_missing(texts, keys, store)
        if missing:
            store.refresh()  # another process may have embedded them meanwhile
            missing = _unique_missing(texts, keys, store)
        n_unique = len(set(keys))
        if progress:
            progress(n_unique - len(missing), n_unique)
        if missing:
            self._embed_missing(missing, role, store, progress, n_unique)
            store.compact_if_needed()
        if not texts:
            return np.zeros((0, store.dim or self.model.get_embedding_dimension()), np.float32)
        return store.gather(keys)

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
                vectors = self._embed_batch([text for text, _ in part], role)
                store.write_shard([key for _, key in part], vectors)
                self.encoded_count += len(part)
                done += len(part)
                bar.update(len(part))
                if progress:
                    progress(done, n_unique)

    def _embed_batch(self, texts: list[str], role: str) -> np.ndarray:
        """One model call: unit-length float32 rows."""
        model = self.model
        kwargs = self.family.encode_kwargs(role, getattr(model, "prompts", None))
        vectors = model.encode(
            texts,
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
            **kwargs,
        )
        return np.asarray(vectors, dtype=np.float32)

    def _store(self, role: str) -> "ShardStore":
        if role not in self._stores:
            folder = self.cache_dir
            if not (folder / "info.json").exists():
                info = self.describe(self._identity)
                write_json(folder / "info.json", {"model_name": self.model_name, **info})
            self._stores[role] = ShardStore(folder / role)
        return self._stores[role]


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


class ShardStore:
    """The vectors of one (model, role): shard files on disk, one matrix + key index in memory."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.index: dict[bytes, int] = {}
        self.matrix = np.zeros((0, 0), np.float32)
        self.size = 0
        self.loaded: set[str] = set()
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
            if path.name in self.loaded:
                continue
            try:
                with np.load(path) as data:
                    keys, vectors = data["keys"], data["vectors"]
            except FileNotFoundError:  # merged away by another process meanwhile
                continue
            self.loaded.add(path.name)
            self._add(keys, vectors)

    def gather(self, keys: list[bytes]) -> np.ndarray:
        """Rows for `keys` (all must be present), as a new float32 array."""
        rows = np.fromiter((self.index[key] for key in keys), dtype=np.int64, count=len(keys))
        return self.matrix[rows]

    def write_shard(self, keys: list[bytes], vectors: np.ndarray) -> Path:
        """Save one shard atomically, then add it to memory."""
        key_array = np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(len(keys), KEY_BYTES)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        path = self.folder / f"shard-{time.time_ns()}-{os.getpid()}-{uuid.uuid4().hex[:8]}.npz"
        _save_npz(path, key_array, vectors)
        self.loaded.add(path.name)
        self._add(key_array, vectors)
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
        _save_npz(merged, keys, self.matrix[: self.size])
        self.loaded.add(merged.name)
        for path in paths:  # only after the merged shard is safely in place
            path.unlink(missing_ok=True)
            self.loaded.discard(path.name)

    def _add(self, keys: np.ndarray, vectors: np.ndarray) -> None:
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
        for offset, (key, _) in enumerate(fresh):
            self.index[key] = self.size + offset
        self.size += len(fresh)

    def _reserve(self, needed: int) -> None:
        if needed <= self.matrix.shape[0]:
            return
        grown = np.zeros((max(needed, 2 * self.matrix.shape[0], 1024), self.matrix.shape[1]), np.float32)
        grown[: self.size] = self.matrix[: self.size]
        self.matrix = grown

    def _remove_stale_temps(self) -> None:
        now = time.time()
        for path in self.folder.glob(".shard-*"):
            try:
                if now - path.stat().st_mtime > STALE_TEMP_SECONDS:
                    path.unlink()
            except FileNotFoundError:
                pass


def _save_npz(path: Path, keys: np.ndarray, vectors: np.ndarray) -> None:
    """Write keys + vectors to `path` via a temp file, fsynced before the rename."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:  # a file object: np.savez would append ".npz" to a name
            np.savez(fh, keys=keys, vectors=vectors)
            fh.flush()
            os.fsync(fh.fileno())
