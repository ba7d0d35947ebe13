"""The job protocol: states, progress, stop requests, the lock, dead owners."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from xldiag import jobs
from xldiag.vocab import LOCK_FILE, STATUS_FILE, STOP_FILE


def status(folder) -> dict:
    return json.loads((folder / STATUS_FILE).read_text())


def test_a_job_runs_reports_progress_and_finishes(tmp_path):
    with jobs.Job(tmp_path, "evaluation", model="default") as job:
        s = status(tmp_path)
        assert s["state"] == "running" and s["pid"] == os.getpid() and s["model"] == "default"
        job.progress("Embedding", 0.25, phase="embedding")
        assert status(tmp_path)["fraction"] == 0.25 and status(tmp_path)["phase"] == "embedding"
        assert jobs.lock_owner(tmp_path)["pid"] == os.getpid()
    s = jobs.read_status(tmp_path)
    assert s["state"] == "finished" and s["fraction"] == 1.0 and s["finished"]
    assert jobs.lock_owner(tmp_path) is None


def test_a_failure_is_recorded_with_its_message_and_still_raised(tmp_path):
    with pytest.raises(ValueError, match="bad field"):
        with jobs.Job(tmp_path, "evaluation"):
            raise ValueError("bad field 'x' in f.json")
    s = jobs.read_status(tmp_path)
    assert s["state"] == "failed" and s["error"] == "ValueError: bad field 'x' in f.json"


def test_a_stop_file_stops_the_job_at_its_next_progress(tmp_path):
    with pytest.raises(jobs.StopRequested):
        with jobs.Job(tmp_path, "evaluation") as job:
            job.progress("step 1", 0.1)
            jobs.request_stop(tmp_path, send_signal=False)
            assert (tmp_path / STOP_FILE).exists()
            job.progress("step 2", 0.2)
    assert jobs.read_status(tmp_path)["state"] == "stopped"


def test_sigterm_stops_the_job_cleanly(tmp_path):
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(jobs.StopRequested):
        with jobs.Job(tmp_path, "training") as job:
            os.kill(os.getpid(), signal.SIGTERM)
            job.progress("after the signal")
    s = jobs.read_status(tmp_path)
    assert s["state"] == "stopped" and s["stop_reason"] == "SIGTERM"
    assert signal.getsignal(signal.SIGTERM) is before  # the handler is restored


def test_a_failing_check_leaves_the_folder_as_it_was(tmp_path):
    jobs.write_status(tmp_path, {"state": "finished", "kind": "training"})

    def refuse():
        raise FileExistsError("holds a finished run")

    with pytest.raises(FileExistsError):
        with jobs.Job(tmp_path, "training", check=refuse):
            pass
    assert jobs.read_status(tmp_path)["state"] == "finished"  # not overwritten with running/failed
    assert jobs.lock_owner(tmp_path) is None


def test_a_stop_asked_for_while_queued_survives_clear_stop_false(tmp_path):
    jobs.request_stop(tmp_path, send_signal=False)
    with pytest.raises(jobs.StopRequested):
        with jobs.Job(tmp_path, "training", clear_stop=False) as job:
            job.progress("first check")
    assert jobs.read_status(tmp_path)["stop_reason"] == "stop file"
    with jobs.Job(tmp_path, "training"):  # the default clears an old request
        pass
    assert jobs.read_status(tmp_path)["state"] == "finished"


def test_throttled_updates_are_written_with_the_next_write(tmp_path, monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(jobs.time, "monotonic", lambda: clock[0])
    with jobs.Job(tmp_path, "training") as job:
        job.update(step=1)  # unthrottled: written at once
        assert status(tmp_path)["step"] == 1
        job.update(throttle=True, step=2, loss=0.5)  # within PROGRESS_EVERY: held back
        assert status(tmp_path)["step"] == 1 and "loss" not in status(tmp_path)
        clock[0] += jobs.PROGRESS_EVERY
        job.update(throttle=True, step=3)
        assert (status(tmp_path)["step"], status(tmp_path)["loss"]) == (3, 0.5)
        job.update(throttle=True, step=4)  # held back, then written with the final state
    s = status(tmp_path)
    assert s["state"] == "finished" and s["step"] == 4


def test_stop_signals_a_second_sigint_interrupts_and_immediate_raises(tmp_path):
    before = signal.getsignal(signal.SIGINT)
    with jobs.StopSignals(tmp_path, signals=(signal.SIGTERM, signal.SIGINT)) as stop:
        assert stop.requested() is None
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.requested() == "SIGINT" and stop.signalled
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is before
    with jobs.StopSignals(tmp_path) as stop:
        stop.immediate = True
        with pytest.raises(jobs.StopRequested, match="SIGTERM"):
            os.kill(os.getpid(), signal.SIGTERM)


HOLDER = textwrap.dedent("""
    import sys, time
    from xldiag import jobs
    with jobs.Job(sys.argv[1], "evaluation"):
        print("ready", flush=True)
        time.sleep(60)
""")


def test_a_live_owner_keeps_the_folder_and_a_dead_one_reads_as_failed(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path)], stdout=subprocess.PIPE, text=True,
                              env=dict(os.environ, PYTHONPATH=os.getcwd()))
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(jobs.JobLockedError, match=f"PID {holder.pid}"):
            jobs.Job(tmp_path, "evaluation").__enter__()
        with pytest.raises(jobs.JobLockedError):
            jobs.launch(tmp_path, ["data", "list"], kind="other")
        assert jobs.read_status(tmp_path)["state"] == "running"
    finally:
        holder.kill()
        holder.wait()
    s = jobs.read_status(tmp_path)  # killed: no final state written, the lock is free
    assert s["state"] == "failed" and s["alive"] is False and "exited without reporting" in s["error"]
    with jobs.Job(tmp_path, "evaluation") as job:  # a stale lock is taken over
        assert job.lock.took_over["pid"] == holder.pid
    assert (tmp_path / LOCK_FILE).read_text() == ""


def test_launch_starts_a_detached_cli_subcommand_with_its_log(tmp_path, data_dir):
    folder = jobs.launch(tmp_path / "job", ["data", "list", "--data-dir", str(data_dir)], kind="listing")
    s = jobs.wait(folder, timeout=120)
    # `data list` does not run a Job, so it never reports: once it exits it reads as failed.
    assert s["state"] == "failed" and s["command"][-4:] == ["data", "list", "--data-dir", str(data_dir)]
    assert "xquad" in jobs.tail_log(folder)


def test_read_json_tolerates_missing_and_half_written_files(tmp_path):
    assert jobs.read_json(tmp_path / "none.json") is None
    (tmp_path / "half.json").write_text('{"state": "runn')
    assert jobs.read_json(tmp_path / "half.json") is None
    assert jobs.read_status(tmp_path)["state"] == "unknown"


def test_a_stop_asked_for_while_queued_stands_and_a_stale_one_does_not(tmp_path):
    jobs.write_status(tmp_path, {"kind": "evaluation", "state": "queued", "pid": None})  # as launch leaves it
    jobs.request_stop(tmp_path)
    with pytest.raises(jobs.StopRequested):
        with jobs.Job(tmp_path, "evaluation") as job:
            job.progress("first step")
    assert jobs.read_status(tmp_path)["state"] == "stopped"
    (tmp_path / STOP_FILE).write_text("left over\n")  # a finished job's folder, run again by hand
    with jobs.Job(tmp_path, "evaluation") as job:
        job.progress("runs")
    assert jobs.read_status(tmp_path)["state"] == "finished"
