"""Training run folders: status, live metrics, the lock, stop requests, detached launch, listing.

A run folder (`cache/runs/NAME/` by default; $XLDIAG_RUNS_DIR moves the root) is plain files anyone can read while the run goes on:

    config.json      {"kind": "training", "config": TrainConfig fields, "resolved": {...}, "data": {...}}
    status.json      {"state": queued|running|finished|failed|stopped, "phase", "error", "pid",
                      "step", "total_steps", "loss", "checkpoint", "started", "updated", "finished"}
    metrics.jsonl    one JSON line per optimizer step (step, epoch, loss, jsd, nce, nce_psg, norm_en,
                     norm_tgt, lr, grad_norm, examples_per_s, elapsed, cpu_time, batch_size), flushed
                     after every line
    train.log        stdout + stderr of a detached run (`launch_training`)
    lock             holds the owner's PID; an advisory `flock` on it is held while the run lives,
                     so a lock left by a dead process is stale by construction and is taken over
    STOP             a stop request (`request_stop`): the run ends cleanly after its current step
    checkpoints/step-N/   sentence-transformers folders + trainer_state.pt (for --resume)
    final/           the tuned model (a sentence-transformers folder)
    eval/base/, eval/tuned/, comparison.csv, comparison.md   the automatic evaluation

The dashboard uses: `launch_training(config) -> run_dir`, `read_status`, `read_metrics` (pandas),
`read_config`, `read_comparison`, `list_runs`, `request_stop`, `tail_log`.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from xldiag import config as settings
from xldiag.atomic import write_json

STATES = ("queued", "running", "finished", "failed", "stopped")
ACTIVE_STATES = ("queued", "running")
STATUS_FILE = "status.json"
CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"
LOG_FILE = "train.log"
LOCK_FILE = "lock"
STOP_FILE = "STOP"
METRIC_COLUMNS = ["step", "epoch", "loss", "jsd", "nce", "nce_psg", "norm_en", "norm_tgt", "lr", "grad_norm",
                  "examples_per_s", "elapsed", "cpu_time"]

# Popen objects of runs launched by this process, so that finished children are reaped.
_CHILDREN: dict[str, subprocess.Popen] = {}


class RunLockedError(RuntimeError):
    """The run folder is in use by another live process."""


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


RUNS_DIR_ENV = "XLDIAG_RUNS_DIR"


def runs_root() -> Path:
    """Where run folders go by default: $XLDIAG_RUNS_DIR, else `<cache>/runs`."""
    raw = os.environ.get(RUNS_DIR_ENV)
    return Path(raw).expanduser().resolve() if raw else settings.cache_dir() / "runs"


# ---------------------------------------------------------------------------------------------
# Processes and the lock

def _proc_start_time(pid: int) -> str | None:
    """The kernel's start time of `pid` (field 22 of /proc/PID/stat), to detect PID reuse."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2:].split()
    return fields[19] if len(fields) > 19 else None


def pid_alive(pid: int | None, start_time: str | None = None) -> bool:
    """Whether `pid` is a live (not zombie) process, and the same one if `start_time` is given."""
    if not pid or pid <= 0:
        return False
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
    if start_time is not None:
        current = _proc_start_time(pid)
        if current is not None and current != start_time:
            return False
    return True


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


class RunLock:
    """An exclusive lock on a run folder: a `lock` file holding the owner's PID, plus `flock`.

    The kernel drops the `flock` when its process dies, so a lock file left behind by a dead
    process is simply taken over; a live owner makes `acquire` raise RunLockedError.
    """

    def __init__(self, run_dir: str | os.PathLike):
        self.path = Path(run_dir) / LOCK_FILE
        self.fd: int | None = None
        self.took_over: dict | None = None  # the stale owner's record, if any

    def acquire(self) -> "RunLock":
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            owner = _read_json(self.path) or {}
            raise RunLockedError(
                f"Run folder {self.path.parent} is in use by PID {owner.get('pid', '?')} "
                f"on {owner.get('host', '?')} (since {owner.get('started', '?')}). Wait for it, or stop it with "
                f"`python -m xldiag runs stop {self.path.parent}`."
            ) from None
        previous = _read_json(self.path)
        if previous and previous.get("pid") and previous.get("pid") != os.getpid():
            self.took_over = previous
        record = {"pid": os.getpid(), "host": socket.gethostname(), "started": now(),
                  "proc_start": _proc_start_time(os.getpid())}
        data = (json.dumps(record) + "\n").encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
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

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def lock_owner(run_dir: str | os.PathLike) -> dict | None:
    """The live owner's lock record ({pid, host, started}), or None when the folder is free."""
    import fcntl

    path = Path(run_dir) / LOCK_FILE
    if not path.exists():
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return _read_json(path) or {"pid": None}
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------------------
# Reading a run folder

def read_config(run_dir: str | os.PathLike) -> dict:
    """The run's config.json ({} when missing)."""
    return _read_json(Path(run_dir) / CONFIG_FILE) or {}


def write_status(run_dir: str | os.PathLike, status: dict) -> None:
    status = dict(status, updated=now())
    write_json(Path(run_dir) / STATUS_FILE, status)


def read_status(run_dir: str | os.PathLike) -> dict:
    """status.json, with a dead owner detected: a queued/running run whose process is gone reads
    as `failed` (error: it exited without reporting) and `alive: False`."""
    run_dir = Path(run_dir)
    status = _read_json(run_dir / STATUS_FILE)
    if status is None:
        return {"state": "unknown", "error": f"no {STATUS_FILE} in {run_dir}", "run_dir": str(run_dir)}
    status.setdefault("run_dir", str(run_dir))
    child = _CHILDREN.get(str(run_dir.resolve()))
    if child is not None:
        child.poll()  # reap a finished child so its PID does not linger as a zombie
    if status.get("state") == "queued" and status.get("pid") is None:
        status["alive"] = None  # being launched right now
    elif status.get("state") in ACTIVE_STATES and status.get("host", socket.gethostname()) != socket.gethostname():
        status["alive"] = None  # another machine's process: its PID means nothing here
    elif status.get("state") in ACTIVE_STATES:
        alive = pid_alive(status.get("pid"), status.get("proc_start"))
        if not alive and lock_owner(run_dir) is not None:
            alive = True  # e.g. a rank-0 process that has not written its PID yet
        status["alive"] = alive
        if not alive:
            status["state"] = "failed"
            status["error"] = (status.get("error") or
                               f"the training process (PID {status.get('pid')}) exited without reporting; "
                               f"see {run_dir / LOG_FILE}")
    return status


def read_metrics(run_dir: str | os.PathLike) -> pd.DataFrame:
    """metrics.jsonl as a DataFrame (one row per step); a half-written last line is ignored."""
    path = Path(run_dir) / METRICS_FILE
    rows = []
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if not line.endswith("\n"):
                    break  # being written right now
                try:
                    rows.append(json.loads(line))
                except ValueError:
                    continue
    except FileNotFoundError:
        pass
    frame = pd.DataFrame(rows)
    for column in METRIC_COLUMNS:
        if column not in frame.columns:
            frame[column] = pd.Series(dtype="float64")
    extra = [c for c in frame.columns if c not in METRIC_COLUMNS]
    return frame[METRIC_COLUMNS + extra]


def read_comparison(run_dir: str | os.PathLike) -> pd.DataFrame | None:
    """comparison.csv (base vs tuned, one row per pair × query language × scenario × metric)."""
    path = Path(run_dir) / "comparison.csv"
    return pd.read_csv(path) if path.exists() else None


def tail_log(run_dir: str | os.PathLike, n_lines: int = 50) -> str:
    """The last lines of train.log (a detached run's output)."""
    path = Path(run_dir) / LOG_FILE
    if not path.exists():
        return ""
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        f.seek(max(0, f.tell() - 64 * 1024))
        text = f.read().decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-n_lines:])


def is_run_dir(path: Path) -> bool:
    return (path / STATUS_FILE).exists() or (read_config(path).get("kind") == "training")


def list_runs(root: str | os.PathLike | None = None) -> pd.DataFrame:
    """One row per training run folder under `root` (default `<cache>/runs`), newest first."""
    root = Path(root) if root is not None else runs_root()
    rows = []
    if root.is_dir():
        for path in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            if not is_run_dir(path):
                continue
            cfg = read_config(path)
            conf = cfg.get("config", {})
            status = read_status(path)
            rows.append({
                "name": path.name, "run_dir": str(path), "state": status.get("state"),
                "phase": status.get("phase"), "model": conf.get("model"), "data": conf.get("data"),
                "langs": ",".join(conf.get("langs") or []), "loss_mode": conf.get("loss"),
                "step": status.get("step"), "total_steps": status.get("total_steps"),
                "loss": status.get("loss"), "error": status.get("error"),
                "created": cfg.get("created") or status.get("started"), "updated": status.get("updated"),
                "has_comparison": (path / "comparison.csv").exists(),
            })
    columns = ["name", "run_dir", "state", "phase", "model", "data", "langs", "loss_mode", "step",
               "total_steps", "loss", "error", "created", "updated", "has_comparison"]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.sort_values("created", ascending=False, na_position="last", ignore_index=True)


# ---------------------------------------------------------------------------------------------
# Controlling runs

def stop_requested(run_dir: str | os.PathLike) -> bool:
    return (Path(run_dir) / STOP_FILE).exists()


def clear_stop(run_dir: str | os.PathLike) -> None:
    (Path(run_dir) / STOP_FILE).unlink(missing_ok=True)


def request_stop(run_dir: str | os.PathLike, send_signal: bool = True) -> dict:
    """Ask a run to end cleanly after its current step (writes STOP; also SIGTERMs a live local
    owner). A checkpoint is saved and the state becomes `stopped`; `--resume` continues it."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"No run folder {run_dir}")
    (run_dir / STOP_FILE).write_text(now() + "\n", encoding="utf-8")
    status = read_status(run_dir)
    pid = status.get("pid")
    if send_signal and status.get("state") == "running" and pid and pid != os.getpid() \
            and status.get("host", socket.gethostname()) == socket.gethostname() and pid_alive(pid):
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
    return status


def wait(run_dir: str | os.PathLike, timeout: float = 600.0, poll: float = 0.5) -> dict:
    """Block until the run leaves queued/running (or `timeout` seconds pass); returns its status."""
    deadline = time.monotonic() + timeout
    while True:
        status = read_status(run_dir)
        if status.get("state") not in ACTIVE_STATES or time.monotonic() > deadline:
            return status
        time.sleep(poll)


def launch_training(config, resume: bool = False, python: str | None = None) -> Path:
    """Start `python -m xldiag train` as a detached process (new session) and return its run folder.

    `config`: a `xldiag.train.TrainConfig` or a dict of its fields. Output goes to `train.log` in
    the run folder; progress is read back with `read_status` / `read_metrics`. Raises
    RunLockedError if the folder is in use and FileExistsError if it already holds a run
    (unless `resume=True`).
    """
    from xldiag.train import TrainConfig, check_fresh_run_dir, write_run_config

    cfg = config if isinstance(config, TrainConfig) else TrainConfig.from_dict(dict(config))
    run_dir = cfg.resolve_out()
    cfg.out = str(run_dir)
    owner = lock_owner(run_dir)
    if owner is not None:
        raise RunLockedError(f"Run folder {run_dir} is in use by PID {owner.get('pid', '?')}; "
                             f"stop it with `python -m xldiag runs stop {run_dir}` first.")
    if resume:
        if not (run_dir / CONFIG_FILE).exists():
            raise FileNotFoundError(f"Nothing to resume in {run_dir}: no {CONFIG_FILE}.")
    else:
        check_fresh_run_dir(run_dir)
        write_run_config(run_dir, cfg)
    clear_stop(run_dir)
    previous = (_read_json(run_dir / STATUS_FILE) or {}) if resume else {}
    queued = {**previous, "state": "queued", "phase": "starting", "error": None, "pid": None,
              "host": socket.gethostname(), "run_dir": str(run_dir), "queued": now()}
    write_status(run_dir, queued)
    config_path = run_dir / CONFIG_FILE
    command = [python or sys.executable, "-m", "xldiag", "train", "--config", str(config_path),
               "--out", str(run_dir), "--keep-stop-request"]
    if resume:
        command.append("--resume")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(settings.PROJECT_ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    with open(run_dir / LOG_FILE, "ab") as log:
        log.write(f"\n=== {now()} launch: {' '.join(command)}\n".encode())
        log.flush()
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                cwd=str(settings.PROJECT_ROOT), env=env, start_new_session=True)
    _CHILDREN[str(run_dir.resolve())] = proc
    current = _read_json(run_dir / STATUS_FILE) or {}
    if current.get("state") == "queued" and current.get("pid") is None:  # the child has not reported yet
        write_status(run_dir, {**current, "pid": proc.pid, "proc_start": _proc_start_time(proc.pid)})
    return run_dir
