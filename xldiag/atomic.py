"""Atomic writes: a crash never leaves a half-written file or folder behind; and the one JSON
reader that tolerates a file being written by someone else."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


@contextmanager
def atomic_path(target: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary file path beside `target`; rename it onto `target` on success."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix or ".tmp", dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def atomic_dir(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder beside `target`; swap it into place on success.

    An existing `target` is replaced only once the new folder is complete.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        yield tmp
        if target.exists():
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_text(target: str | os.PathLike, text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(target: str | os.PathLike, obj) -> None:
    write_text(target, json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")


def read_json(path: str | os.PathLike) -> dict | None:
    """A JSON object file as a dict; None when it is missing, unreadable, not an object, or
    half-written (readers of another process's files must not fail on those)."""
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


class BackgroundFiles:
    """Files written on one background thread while the caller goes on computing.

    `submit(fn, *args)` queues a task; tasks run in order on the thread and open their files with
    `open(target, opener)`: a temporary file beside the target, passed to `opener` (which returns a
    writer closed at the end). `finish()` waits, closes every writer and renames each file onto its
    target; `abort()` drops the temporary files. A task's failure is raised by the next `submit` or
    by `finish` (which then aborts). Used while an evaluation runs (xldiag.evaluate, xldiag.trec):
    the C++ formatting and disk writes of large files overlap the ranking of the next pools."""

    def __init__(self, name: str):
        from concurrent.futures import ThreadPoolExecutor

        self._files = contextlib.ExitStack()
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"xldiag-{name}")
        self._tasks: list = []
        self._ended = False

    def submit(self, fn, *args) -> None:
        if self._ended:
            raise RuntimeError("These files are already finished or aborted.")
        for task in [t for t in self._tasks if t.done()]:
            task.result()  # raise a failure of the writing thread now
            self._tasks.remove(task)
        self._tasks.append(self._thread.submit(fn, *args))

    def open(self, target: str | os.PathLike, opener):
        """(On the thread.) The writer `opener(temporary path)` for `target`."""
        tmp = self._files.enter_context(atomic_path(target))
        return self._files.enter_context(opener(tmp))

    def finish(self) -> None:
        """Wait for every task, then put every file in place."""
        if self._ended:
            raise RuntimeError("These files are already finished or aborted.")
        try:
            for task in self._tasks:
                task.result()
            self._thread.submit(self._files.close).result()  # writers closed, then each file renamed
        except BaseException:
            self.abort()
            raise
        finally:
            self._ended = True
            self._thread.shutdown()

    def abort(self) -> None:
        """Stop and remove the temporary files; after `finish` or a first `abort`, nothing to do."""
        if self._ended:
            return
        self._ended = True
        for task in self._tasks:
            task.cancel()
        self._thread.submit(self._discard).result()
        self._thread.shutdown()

    def _discard(self) -> None:
        with contextlib.suppress(_Aborted):
            with self._files:
                raise _Aborted  # unwinding the stack closes the writers and removes the temporary files


class _Aborted(Exception):
    pass
