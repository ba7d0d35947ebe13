"""An evaluation as a background job: `python -m xldiag eval ... --out DIR`, started detached
through `xldiag.jobs` exactly as a user would type it, watched through DIR/status.json.

The eval command runs under `jobs.Job(DIR, "evaluation", **job_fields(spec))` whoever starts it
(a shell or the dashboard), so status.json carries the evaluation's settings from the start: the
listing can show a running evaluation before its config.json exists.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from xldiag import jobs
from xldiag.evalset import parse_models, set_fields
from xldiag.evaluate import EvalSpec, parse_language_sets, parse_ties
from xldiag.stats import DEFAULT_RESAMPLES
from xldiag.trec import DEFAULT_DEPTH
from xldiag.vocab import PIVOT, SCENARIOS

KIND = "evaluation"


def eval_spec(model: str = "default", dataset: str = "xquad", langs="zh", scenarios=None,
              construction: str = "unique", ties="optimistic", limit: int | None = None,
              data_dir: str | None = None, trust_remote_code: bool = False,
              bootstrap: int = DEFAULT_RESAMPLES, seed: int = 0, trec_depth: int = DEFAULT_DEPTH) -> EvalSpec:
    """An EvalSpec from what a form or a command line gives (the same reading as `evaluate()`):
    `langs` "ar,zh" or ["ar", "de+zh"] (targets pair with English), `scenarios` a list or
    "multi,mono-cross" (None: all), `ties` one rule or "optimistic,pessimistic"; `bootstrap`
    resamples (0 = no intervals) with `seed`; `trec_depth` (0 = no TREC files)."""
    if isinstance(scenarios, str):
        scenarios = [s.strip() for s in scenarios.split(",") if s.strip()]
    return EvalSpec(model=str(model), dataset=str(dataset), language_sets=parse_language_sets(langs),
                    scenarios=tuple(scenarios) if scenarios is not None else SCENARIOS,
                    construction=construction, ties=parse_ties(ties), limit=limit,
                    data_dir=str(data_dir) if data_dir else None, trust_remote_code=bool(trust_remote_code),
                    bootstrap=int(bootstrap), seed=int(seed), trec_depth=int(trec_depth))


def job_fields(spec: EvalSpec) -> dict:
    """The settings status.json carries (the same keys as config.json, see listing.SETTINGS)."""
    return {"model": spec.model, "dataset": spec.dataset,
            "language_sets": ["+".join(langs) for langs in spec.language_sets],
            "scenarios": list(spec.scenarios), "pool": spec.construction, "ties": list(spec.ties),
            "limit": spec.limit}


def _langs_flag(spec: EvalSpec) -> str:
    """--langs as a user types it: "zh" for the set en+zh, explicit pools ("de+zh") as they are."""
    return ",".join(langs[1] if len(langs) == 2 and langs[0] == PIVOT else "+".join(langs)
                    for langs in spec.language_sets)


def eval_argv(spec: EvalSpec, out: str | Path) -> list[str]:
    """The `python -m xldiag` arguments that evaluate `spec` into `out`."""
    argv = ["eval", "--model", spec.model, "--dataset", spec.dataset, "--langs", _langs_flag(spec),
            "--scenarios", ",".join(spec.scenarios), "--pool", spec.construction, "--ties", ",".join(spec.ties)]
    if spec.limit is not None:
        argv += ["--limit", str(spec.limit)]
    if spec.data_dir:
        argv += ["--data-dir", str(spec.data_dir)]
    if spec.trust_remote_code:
        argv.append("--trust-remote-code")
    if (spec.bootstrap, spec.seed, spec.trec_depth) != (DEFAULT_RESAMPLES, 0, DEFAULT_DEPTH):
        argv += ["--bootstrap", str(spec.bootstrap), "--seed", str(spec.seed), "--trec-depth", str(spec.trec_depth)]
    return argv + ["--out", str(out)]


def launch_evaluation(spec: EvalSpec, out: str | Path) -> Path:
    """Start `python -m xldiag eval ...` detached, writing `out` (status.json `queued` at once);
    returns the folder. ValueError for a bad spec; jobs.JobLockedError while `out` runs."""
    spec.validate()
    return jobs.launch(out, eval_argv(spec, out), kind=KIND, **job_fields(spec))



def launch_evaluation_set(spec: EvalSpec, models: list[str], out: str | Path) -> Path:
    """Start `python -m xldiag eval --model A,B,... --out DIR` detached: an evaluation set
    (xldiag.evalset), one job in `out`, one run folder per model inside. Returns the folder."""
    spec.validate()
    models = parse_models(models)
    argv = eval_argv(dataclasses.replace(spec, model=",".join(models)), out)
    return jobs.launch(out, argv, kind=KIND, **set_fields(spec, models))
