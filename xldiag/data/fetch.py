"""Download registered datasets from their public sources into the data folder.

Each file is streamed into a temporary file beside its target, checked (complete, valid
JSON / JSONL), and only then renamed into place: an interrupted or failed download never
leaves a partial file. Files already present and valid are skipped unless `force`.
"""

from __future__ import annotations

import http.client
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from tqdm import tqdm

from xldiag import __version__, config
from xldiag.atomic import atomic_path
from xldiag.data.dataset import DataFormatError, DatasetError
from xldiag.data.files import read_json, read_jsonl
from xldiag.data.registry import DATASETS, DatasetSpec, normalize_langs


class FetchError(RuntimeError):
    """A download failed; the message names the URL."""


@dataclass
class FetchResult:
    lang: str
    url: str
    path: Path
    status: str  # "downloaded", "present" or "failed"
    size: int = 0
    error: str | None = None


def fetchable() -> list[str]:
    """Registered datasets with a public download source."""
    return [name for name, spec in DATASETS.items() if spec.fetch_base]


def check_file(path: Path, kind: str | None = None) -> None:
    """Raise DataFormatError unless `path` is non-empty, valid JSON (.json) or JSONL (.jsonl).

    `kind` is the target's suffix when checking a temporary file with another name.
    """
    kind = kind or "".join(Path(path).suffixes[-1:])
    if Path(path).stat().st_size == 0:
        raise DataFormatError(f"{path}: empty file")
    if kind == ".jsonl":
        if not read_jsonl(Path(path)):
            raise DataFormatError(f"{path}: no JSON lines")
    else:
        read_json(Path(path))


def is_valid(path: Path) -> bool:
    """True when `path` exists and passes `check_file`."""
    try:
        check_file(path)
        return True
    except (OSError, DataFormatError, UnicodeDecodeError):
        return False


def download(url: str, target: Path, progress: bool = True, timeout: float = 60.0) -> int:
    """Stream `url` into `target` atomically (temp file + rename); return the size in bytes."""
    request = urllib.request.Request(url, headers={"User-Agent": f"xldiag/{__version__}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response, atomic_path(target) as tmp:
            total = int(response.headers.get("Content-Length") or 0) or None
            size = _copy(response, tmp, total, target.name, progress)
            if total is not None and size != total:
                raise FetchError(f"{url}: incomplete download ({size} of {total} bytes)")
            check_file(tmp, kind=target.suffix)
    except urllib.error.HTTPError as err:
        raise FetchError(f"{url}: HTTP {err.code} {err.reason}") from None
    except urllib.error.URLError as err:
        raise FetchError(f"{url}: {err.reason}") from None
    except DataFormatError as err:
        raise FetchError(f"{url}: the downloaded file is not valid ({err})") from None
    except (TimeoutError, ConnectionError, http.client.HTTPException) as err:
        raise FetchError(f"{url}: {err}") from None
    return size


def _copy(response, tmp: Path, total: int | None, label: str, progress: bool) -> int:
    size = 0
    # disable=None: tqdm shows the bar only on a terminal, so logs and tests stay clean.
    with open(tmp, "wb") as out, tqdm(
        total=total, unit="B", unit_scale=True, desc=label, leave=False, disable=None if progress else True
    ) as bar:
        while chunk := response.read(1 << 16):
            out.write(chunk)
            size += len(chunk)
            bar.update(len(chunk))
    return size


def target_dir(data_dir: str | os.PathLike | None) -> Path:
    """The data folder for downloads: like config.data_dir, but created when missing."""
    raw = data_dir if data_dir is not None else os.environ.get(config.DATA_DIR_ENV)
    if raw:
        Path(raw).expanduser().mkdir(parents=True, exist_ok=True)
    return config.data_dir(data_dir)


def fetch_dataset(
    name: str,
    langs: list[str] | str | None = None,
    data_dir: str | os.PathLike | None = None,
    base_url: str | None = None,
    force: bool = False,
    progress: bool = True,
    timeout: float = 60.0,
    on_result: Callable[[FetchResult], None] | None = None,
) -> list[FetchResult]:
    """Download `name`'s files for `langs` (None: every supported language) into the data folder.

    `base_url` replaces the public base URL (a mirror, or a local server in tests); file names
    stay the same. Every language is attempted; afterwards a FetchError names each failed URL.
    `on_result` is called once per file as it completes (for progress lines in the CLI).
    """
    spec = _fetch_spec(name)
    root = target_dir(data_dir)
    langs = normalize_langs(spec, list(spec.languages) if langs is None else langs, root)
    results = []
    for lang in langs:
        result = _fetch_one(spec, lang, root, base_url, force, progress, timeout)
        results.append(result)
        if on_result:
            on_result(result)
    failed = [r for r in results if r.status == "failed"]
    if failed:
        raise FetchError(f"{len(failed)} of {len(results)} downloads failed: " + "; ".join(r.error for r in failed))
    return results


def _fetch_spec(name: str) -> DatasetSpec:
    if name not in DATASETS or not DATASETS[name].fetch_base:
        raise DatasetError(f"Cannot fetch {name!r}; datasets with a download source: {', '.join(fetchable())}")
    return DATASETS[name]


def _fetch_one(spec: DatasetSpec, lang: str, root: Path, base_url, force, progress, timeout) -> FetchResult:
    path, url = spec.path(root, lang), spec.url(lang, base_url)
    if not force and is_valid(path):
        return FetchResult(lang, url, path, "present", path.stat().st_size)
    try:
        size = download(url, path, progress=progress, timeout=timeout)
    except FetchError as err:
        return FetchResult(lang, url, path, "failed", error=str(err))
    return FetchResult(lang, url, path, "downloaded", size)
