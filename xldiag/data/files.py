"""Reading data files: JSON / JSONL with errors naming file and line, and an mtime-keyed cache.

Parsers are wrapped with `cached_by_file`, so a file is parsed once per process for as long as
its modification time and size stay the same. Cached parsers must return immutable values
(tuples, frozen dataclasses) so that callers cannot corrupt the cache.
"""

from __future__ import annotations

import functools
import gzip
import json
import os
from pathlib import Path
from typing import Callable, Iterator, TypeVar

from xldiag.data.dataset import DataFormatError

T = TypeVar("T")


def file_key(path: str | os.PathLike) -> tuple[str, int, int]:
    """(resolved path, mtime_ns, size): changes whenever the file is rewritten."""
    path = Path(path).resolve()
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise FileNotFoundError(f"Data file {path} does not exist.") from None
    return str(path), stat.st_mtime_ns, stat.st_size


def cached_by_file(parse: Callable[[Path], T]) -> Callable[[str | os.PathLike], T]:
    """Cache `parse(path)` by path + mtime + size (a rewritten file is parsed again)."""

    @functools.lru_cache(maxsize=64)
    def cached(key: tuple[str, int, int]) -> T:
        return parse(Path(key[0]))

    @functools.wraps(parse)
    def wrapper(path: str | os.PathLike) -> T:
        return cached(file_key(path))

    wrapper.cache_clear = cached.cache_clear  # type: ignore[attr-defined]
    wrapper.cache_info = cached.cache_info  # type: ignore[attr-defined]
    return wrapper


def open_text(path: Path):
    """Open a text file, transparently gunzipping `*.gz`."""
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def read_json(path: Path):
    """Parse one JSON document; malformed JSON raises DataFormatError with file:line:column."""
    try:
        with open_text(path) as handle:
            return json.load(handle)
    except json.JSONDecodeError as err:
        raise DataFormatError(f"{path}:{err.lineno}:{err.colno}: invalid JSON: {err.msg}") from None
    except UnicodeDecodeError as err:
        raise DataFormatError(f"{path}: not UTF-8 text ({err})") from None


def iter_jsonl(path: Path) -> Iterator[tuple[int, object | None, str | None]]:
    """Yield (line number, parsed object, error) for each non-blank line of a JSONL file.

    Blank lines are skipped. A malformed line yields (n, None, message) so that callers decide
    whether to raise (strict) or to count and report it.
    """
    with open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line), None
            except json.JSONDecodeError as err:
                yield number, None, f"invalid JSON: {err.msg} (column {err.colno})"


def read_jsonl(path: Path) -> list[tuple[int, object]]:
    """All (line number, object) pairs; the first malformed line raises DataFormatError naming it."""
    rows = []
    for number, obj, error in iter_jsonl(path):
        if error:
            raise DataFormatError(f"{path}:{number}: {error}")
        rows.append((number, obj))
    return rows


def first_jsonl_object(path: Path) -> dict:
    """The first non-blank line parsed (used to detect a file's layout)."""
    for number, obj, error in iter_jsonl(path):
        if error:
            raise DataFormatError(f"{path}:{number}: {error}")
        if not isinstance(obj, dict):
            raise DataFormatError(f"{path}:{number}: expected a JSON object, got {type(obj).__name__}")
        return obj
    raise DataFormatError(f"{path}: empty file")
