"""Start a training run in the background: `python -m xldiag train --config RUN/config.json --out
RUN` under the job protocol (`xldiag.jobs.launch`), exactly as a user would type it.

The run's output goes to RUN/job.log; its progress is read back with `jobs.read_status` and
`runs.read_metrics`, and it is stopped with `jobs.request_stop`.
"""

from __future__ import annotations

from pathlib import Path

from xldiag import jobs, runs
from xldiag.training.config import TrainConfig
from xldiag.vocab import CONFIG_FILE


def launch(config: TrainConfig | dict, resume: bool = False) -> Path:
    """Start the run as a detached process and return its folder (status `queued` at once).

    `config`: a TrainConfig or a dict of its fields. Raises jobs.JobLockedError when a live job
    owns the folder, runs.RunExistsError when it already holds a run (unless `resume`),
    FileNotFoundError when there is nothing to resume, ValueError for a bad option.
    """
    cfg = config if isinstance(config, TrainConfig) else TrainConfig.from_dict(dict(config))
    run_dir = cfg.resolve_out()
    cfg.out = str(run_dir)
    jobs.ensure_free(run_dir)
    runs.check_run_dir(run_dir, resume)
    if not resume:
        cfg.validate()
        runs.write_config(run_dir, cfg.to_dict())
    # --keep-stop-request: jobs.launch has cleared old requests; one made while the run is queued stands.
    argv = ["train", "--config", str(run_dir / CONFIG_FILE), "--out", str(run_dir), "--keep-stop-request"]
    return jobs.launch(run_dir, argv + (["--resume"] if resume else []), kind=runs.KIND)
