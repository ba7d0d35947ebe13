"""One protocol for every background job (an evaluation, a training run): plain files in the
job's folder that anyone can read while it runs.

    status.json   {"kind", "state": queued|running|finished|failed|stopped, "phase", "message",
                   "fraction", "error", "stop_reason", "pid", "proc_start", "host", "command",
                   "queued", "started", "updated", "finished", ...job-specific fields (step, loss, ...)}
    job.log       stdout + stderr of a detached job (`launch`)
    lock          the owner's PID; an advisory `flock` on it is held while the job lives, so a
                  lock left by a dead process is stale by construction and is taken over
    STOP          a stop request (`request_stop`): the job ends cleanly at its next check

Two sides use it. The process doing the work wraps it in `Job(folder, kind)` (lock, state,
progress, stop checks, the final state even on a crash). Whoever starts or watches a job uses
`launch` (a detached `python -m xldiag <subcommand> ...`, exactly what a user would type),
`read_status` (a dead owner reads as failed), `request_stop`, `wait` and `tail_log`.

A stop is checked, never forced: `StopSignals` turns a STOP file or a signal into a reason that
the work reads at its safe points (an evaluation between its stages, a training run between
optimizer steps, so that it can save a checkpoint first).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from xldiag import config
from xldiag.atomic import read_json, write_json
from xldiag.vocab import LOCK_FILE, LOG_FILE, STATUS_FILE, STOP_FILE

STATES = ("queued", "running", "finished", "failed", "stopped")
ACTIVE_STATES = ("queued", "running")
PROGRESS_EVERY = 0.5  # seconds between progress writes (a phase change always writes)

# Popen objects of jobs launched by this process, so that finished children are reaped.
_CHILDREN: dict[str, subprocess.Popen] = {}


class JobLockedError(RuntimeError):
    """The folder belongs to another live job."""


class StopRequested(Exception):
    """A stop was asked for (STOP file or SIGTERM); the job ends as `stopped`."""


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# --- processes and the lock ----------------------------------------------------------------------


def proc_start_time(pid: int) -> str | None:
    """The kernel's start time of `pid` (field 22 of /proc/PID/stat), to detect PID reuse."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2:].split()
    return fields[19] if len(fields) > 19 else None


def pid_alive(pid: int | None, start_time: str | None = None) -> bool:
    """Whether `pid` is a live (not zombie) process, and the same one if `start_time` is given."""
    if not pid or int(pid) <= 0:
        return False
    pid = int(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat[stat.rfind(")") + 2:].startswith("Z"):
            return False
    except OSError:
        pass
    current = proc_start_time(pid) if start_time is not None else None
    return current is None or current == start_time


class Lock:
    """An exclusive lock on a job folder: a `lock` file holding the owner's PID, plus `flock`.

    The kernel drops the `flock` when its process dies, so a lock file left behind by a dead
    process is simply taken over; a live owner makes `acquire` raise JobLockedError.
    """

    def __init__(self, folder: str | os.PathLike):
        self.path = Path(folder) / LOCK_FILE
        self.fd: int | None = None
        self.took_over: dict | None = None  # the stale owner's record, if any

    def acquire(self) -> "Lock":
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            owner = read_json(self.path) or {}
            raise JobLockedError(
                f"{self.path.parent} is in use by PID {owner.get('pid', '?')} on {owner.get('host', '?')} "
                f"(since {owner.get('started', '?')}). Wait for it, or stop it with "
                f"`python -m xldiag runs stop {self.path.parent}`."
            ) from None
        previous = read_json(self.path)
        if previous and previous.get("pid") and previous.get("pid") != os.getpid():
            self.took_over = previous
        record = {"pid": os.getpid(), "host": socket.gethostname(), "started": now(),
                  "proc_start": proc_start_time(os.getpid())}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is None:
            return
        import fcntl

        try:
            os.ftruncate(self.fd, 0)
            fcntl.flock(self.fd, fcntl.LOCK_UN)
        finally:
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> "Lock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def lock_owner(folder: str | os.PathLike) -> dict | None:
    """The live owner's lock record ({pid, host, started}), or None when the folder is free."""
    import fcntl

    path = Path(folder) / LOCK_FILE
    if not path.exists():
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return read_json(path) or {"pid": None}
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


# --- status --------------------------------------------------------------------------------------


def write_status(folder: str | os.PathLike, status: dict) -> None:
    write_json(Path(folder) / STATUS_FILE, dict(status, updated=now()))


def update_status(folder: str | os.PathLike, **fields) -> dict:
    """Merge `fields` into status.json (atomically) and return the result."""
    status = {**(read_json(Path(folder) / STATUS_FILE) or {}), **fields}
    write_status(folder, status)
    return status


def read_status(folder: str | os.PathLike) -> dict:
    """status.json, with a dead owner detected: a queued/running job whose process is gone reads
    as `failed` (error: it exited without reporting) and `alive: False`. No status.json:
    `{"state": "unknown"}`."""
    folder = Path(folder)
    status = read_json(folder / STATUS_FILE)
    if status is None:
        return {"state": "unknown", "error": f"no {STATUS_FILE} in {folder}", "folder": str(folder)}
    status.setdefault("folder", str(folder))
    child = _CHILDREN.get(str(folder.resolve()))
    if child is not None:
        child.poll()  # reap a finished child so its PID does not linger as a zombie
    if status.get("state") not in ACTIVE_STATES:
        return status
    if status.get("state") == "queued" and status.get("pid") is None:
        status["alive"] = None  # being launched right now
    elif status.get("host", socket.gethostname()) != socket.gethostname():
        status["alive"] = None  # another machine's process: its PID means nothing here
    else:
        status["alive"] = pid_alive(status.get("pid"), status.get("proc_start")) or lock_owner(folder) is not None
        if not status["alive"]:
            status["state"] = "failed"
            status["error"] = status.get("error") or (
                f"the {status.get('kind', 'job')} process (PID {status.get('pid')}) exited without "
                f"reporting; see {folder / LOG_FILE}")
    return status


def tail_log(folder: str | os.PathLike, n_lines: int = 50) -> str:
    """The last lines of a detached job's job.log."""
    path = Path(folder) / LOG_FILE
    if not path.exists():
        return ""
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        f.seek(max(0, f.tell() - 64 * 1024))
        text = f.read().decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-n_lines:])


# --- the working side ----------------------------------------------------------------------------


class StopSignals:
    """Stop requests as a reason the work checks at its safe points: a STOP file in the folder, or
    one of `signals` (SIGTERM by default). A signal only records its name; a second SIGINT
    interrupts at once (KeyboardInterrupt: the user insists).

    With `immediate = True` a signal raises StopRequested wherever the work is — for a stretch
    whose outputs are all written atomically, so stopping there loses nothing but time. `notice`
    is printed to stderr when a signal arrives (e.g. "stopping after the current step").
    Handlers are installed only from the main thread; elsewhere the STOP file still works.
    """

    def __init__(self, folder: str | os.PathLike, signals=(signal.SIGTERM,), notice: str | None = None):
        self.folder = Path(folder)
        self.signals = tuple(signals)
        self.notice = notice
        self.reason: str | None = None
        self.signalled = False
        self.immediate = False
        self._previous: dict = {}

    def install(self) -> "StopSignals":
        if threading.current_thread() is threading.main_thread():
            for sig in self.signals:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def uninstall(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}

    def __enter__(self) -> "StopSignals":
        return self.install()

    def __exit__(self, *exc) -> None:
        self.uninstall()

    def _handle(self, signum, frame) -> None:
        if signum == signal.SIGINT and self.reason is not None:
            raise KeyboardInterrupt
        self.reason, self.signalled = signal.Signals(signum).name, True
        if self.immediate:
            raise StopRequested(self.reason)
        if self.notice:
            print(f"[xldiag] {self.reason}: {self.notice}", file=sys.stderr, flush=True)

    def requested(self) -> str | None:
        """Why the work should stop ("SIGTERM", "stop file", ...), or None."""
        if self.reason is None and (self.folder / STOP_FILE).exists():
            self.reason = "stop file"
        return self.reason

    def check(self) -> None:
        """Raise StopRequested when a stop was asked for."""
        if self.requested():
            raise StopRequested(self.reason)


class Job:
    """The process doing the work: `with Job(folder, "evaluation") as job: ...`.

    Entering takes the lock, runs `check()` (if given: a test that the folder may be used, e.g.
    that it does not already hold a finished run; when it raises, the lock is released and
    status.json is left as it was) and writes `running`; `job.progress(message, fraction)`
    records progress and raises StopRequested when a stop was asked for; `job.update(**fields)`
    records fields without a stop check. Leaving writes `finished`, `stopped` (StopRequested or a
    stop signal; `stop_reason` says which) or `failed` (with the error's one-line message) and
    releases the lock. The exception itself propagates, so callers still see what happened.

    A STOP file written before the job started is cleared (a stale request) unless the job was
    queued by `launch` (then it was asked for while the job waited, and stands) or
    `clear_stop=False`; `stop_signals` and `notice` go to `StopSignals`.
    """

    def __init__(self, folder: str | os.PathLike, kind: str, *, check=None, clear_stop: bool = True,
                 stop_signals=(signal.SIGTERM,), notice: str | None = None, **fields):
        self.folder = Path(folder)
        self.kind = kind
        self.fields = fields
        self.lock = Lock(self.folder)
        self.stop = StopSignals(self.folder, stop_signals, notice)
        self._check = check
        self._clear_stop = clear_stop
        self._last_write = 0.0
        self._phase = None
        self._pending: dict = {}

    def __enter__(self) -> "Job":
        self.lock.acquire()
        try:
            if self._check is not None:
                self._check()
        except BaseException:
            self.lock.release()
            raise
        status = read_json(self.folder / STATUS_FILE) or {}
        # A STOP older than this job is stale — unless `launch` queued the job: it cleared old
        # requests then, so a STOP written since was asked for while the job waited to start.
        if self._clear_stop and status.get("state") != "queued":
            clear_stop(self.folder)
        write_status(self.folder, {
            **status, **self.fields, "kind": self.kind, "state": "running", "error": None, "pid": os.getpid(),
            "proc_start": proc_start_time(os.getpid()), "host": socket.gethostname(),
            "command": [sys.executable, *sys.argv], "started": now(), "finished": None,
        })
        self.stop.install()
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        self.stop.uninstall()
        final = {**self._pending, **self._outcome(exc_type, exc), "finished": now()}  # throttled fields too
        try:
            update_status(self.folder, **final)
        finally:
            self.lock.release()
        return False

    def _outcome(self, exc_type, exc) -> dict:
        """The final state's fields for how the work ended."""
        if exc_type is None:
            return {"state": "finished", "fraction": 1.0, "message": "Done"}
        if issubclass(exc_type, (StopRequested, KeyboardInterrupt)) or self.stop.signalled:
            reason = self.stop.reason or (str(exc) if issubclass(exc_type, StopRequested) else exc_type.__name__)
            return {"state": "stopped", "error": "stopped by request", "stop_reason": reason}
        return {"state": "failed", "error": f"{exc_type.__name__}: {exc}"}

    def stop_requested(self) -> bool:
        return self.stop.requested() is not None

    def check_stop(self) -> None:
        self.stop.check()

    def update(self, throttle: bool = False, **fields) -> None:
        """Merge `fields` into status.json (no stop check). With `throttle`, write at most every
        PROGRESS_EVERY seconds; the fields of a skipped call go out with the next write."""
        self._pending.update(fields)
        moment = time.monotonic()
        if throttle and moment - self._last_write < PROGRESS_EVERY:
            return
        update_status(self.folder, **self._pending)
        self._pending, self._last_write = {}, moment

    def progress(self, message: str, fraction: float | None = None, phase: str | None = None, **fields) -> None:
        """Record progress (at most every PROGRESS_EVERY s, unless the phase changes or fields are
        given); stop if asked."""
        self.check_stop()
        values = {"message": str(message), **fields}
        if fraction is not None:
            values["fraction"] = float(fraction)
        if phase is not None:
            values["phase"] = phase
        changed = phase != self._phase or bool(fields)
        self._phase = phase
        self.update(throttle=not changed, **values)


# --- the controlling side ------------------------------------------------------------------------


def ensure_free(folder: str | os.PathLike) -> None:
    """Raise JobLockedError when a live job owns `folder` (checked before preparing a launch)."""
    owner = lock_owner(folder)
    if owner is not None:
        raise JobLockedError(f"{folder} is in use by PID {owner.get('pid', '?')}; stop it with "
                             f"`python -m xldiag runs stop {folder}` first.")


def clear_stop(folder: str | os.PathLike) -> None:
    (Path(folder) / STOP_FILE).unlink(missing_ok=True)


def request_stop(folder: str | os.PathLike, send_signal: bool = True) -> dict:
    """Ask a job to end cleanly at its next check (writes STOP; also SIGTERMs a live local owner)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"No job folder {folder}")
    (folder / STOP_FILE).write_text(now() + "\n", encoding="utf-8")
    status = read_status(folder)
    pid = status.get("pid")
    if (send_signal and status.get("state") == "running" and pid and pid != os.getpid()
            and status.get("host", socket.gethostname()) == socket.gethostname() and pid_alive(pid)):
        try:
            os.kill(int(pid), signal.SIGTERM)
        except OSError:
            pass
    return status


def wait(folder: str | os.PathLike, timeout: float = 600.0, poll: float = 0.5) -> dict:
    """Block until the job leaves queued/running (or `timeout` seconds pass); returns its status."""
    deadline = time.monotonic() + timeout
    while True:
        status = read_status(folder)
        if status.get("state") not in ACTIVE_STATES or time.monotonic() > deadline:
            return status
        time.sleep(poll)


def launch(folder: str | os.PathLike, argv: list[str], kind: str, **fields) -> Path:
    """Start `python -m xldiag <argv>` as a detached process (a new session) working in `folder`.

    Writes `queued` first (so watchers see the job at once), sends output to job.log in the
    folder and records the child's PID. Raises JobLockedError when a live job owns the folder.
    """
    folder = Path(folder).expanduser().resolve()
    ensure_free(folder)
    folder.mkdir(parents=True, exist_ok=True)
    clear_stop(folder)
    command = [sys.executable, "-m", "xldiag", *map(str, argv)]
    previous = read_json(folder / STATUS_FILE) or {}
    write_status(folder, {**previous, **fields, "kind": kind, "state": "queued", "phase": "starting",
                          "message": "starting", "fraction": 0.0, "error": None, "pid": None,
                          "host": socket.gethostname(), "command": command, "queued": now()})
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join([str(config.PROJECT_ROOT), *[p for p in [env.get("PYTHONPATH")] if p]])
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    with open(folder / LOG_FILE, "ab") as log:
        log.write(f"\n=== {now()} launch: {' '.join(command)}\n".encode())
        log.flush()
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                cwd=str(config.PROJECT_ROOT), env=env, start_new_session=True)
    _CHILDREN[str(folder)] = proc
    current = read_json(folder / STATUS_FILE) or {}
    if current.get("state") == "queued" and current.get("pid") is None:  # the child has not started yet
        write_status(folder, {**current, "pid": proc.pid, "proc_start": proc_start_time(proc.pid)})
    return folder
