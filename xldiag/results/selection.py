"""Choosing among listed evaluations: the ones matching a setting, base/tuned partners, defaults.

Every function takes the frames it chooses from (`listing.list_evaluations()`, and
`xldiag.runs.list_runs()` for training runs) and returns ids; nothing here reads folders, so the
dashboard can pass its cached listings.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from xldiag.fixes.registry import base_model, variant_or_none
from xldiag.models import EMBEDDED_MODELS, family_of
from xldiag.results.listing import eval_label

FINAL = "final"  # a training run's last checkpoint folder (<run>/final)


def choices(evals: pd.DataFrame, state: str = "complete", dataset: str | None = None) -> tuple[list[str], dict]:
    """(ids, {id: label}) of the evaluations in `state` (of one dataset, if given)."""
    if evals.empty:
        return [], {}
    chosen = evals[evals["state"] == state]
    if dataset:
        chosen = chosen[chosen["dataset"] == dataset]
    return list(chosen["id"]), {row["id"]: eval_label(row) for _, row in chosen.iterrows()}


def matching(evals: pd.DataFrame, model: str, dataset: str, pool: str, ties: str, pair: str) -> pd.DataFrame:
    """The evaluations of `model` on `dataset` with this pool and tie rule that hold `pair`."""
    if evals.empty:
        return evals
    return evals[(evals["model"] == model) & (evals["dataset"] == dataset) & (evals["pool"] == pool)
                 & evals["ties"].map(lambda rules: ties in str(rules).split(","))
                 & evals["language_sets"].map(lambda sets: pair in sets)]


def preferred(options: pd.DataFrame) -> str | None:
    """The id to open among `options`: the first complete one, else the first."""
    if options.empty:
        return None
    complete = options[options["state"] == "complete"]
    return (complete if not complete.empty else options).iloc[0]["id"]


def checkpoint_models(runs: pd.DataFrame) -> list[str]:
    """The final checkpoints of the training runs that have one."""
    finals = [Path(str(run_dir)) / FINAL for run_dir in runs.get("run_dir", [])]
    return [str(final) for final in finals if final.is_dir()]


def partner_model(model: str, runs: pd.DataFrame) -> str | None:
    """The other side of a base/tuned pair: a run's final checkpoint ↔ the model it started from."""
    finals = [(str(Path(str(row["run_dir"])) / FINAL), row.get("model")) for _, row in runs.iterrows()]
    for final, base in finals:
        if model == final and base:
            return str(base)
    for final, base in finals:
        if base == model and Path(final).is_dir():
            return final
    return None


def _limit(value) -> int:
    return 0 if value is None or pd.isna(value) else int(value)


def partner_evaluation(evals: pd.DataFrame, ident: str, runs: pd.DataFrame) -> tuple[str, str] | None:
    """(base id, tuned id): evaluation `ident` and the complete evaluation of its partner model
    with the same dataset, pool, tie rules, language sets and limit; None when there is none."""
    if evals.empty or ident not in set(evals["id"]):
        return None
    me = evals.set_index("id").loc[ident]
    partner = partner_model(me["model"], runs)
    if not partner:
        return None
    same = evals[(evals["state"] == "complete") & (evals["model"] == partner) & (evals["dataset"] == me["dataset"])
                 & (evals["pool"] == me["pool"]) & (evals["ties"] == me["ties"])
                 & evals["language_sets"].map(lambda sets: list(sets) == list(me["language_sets"]))
                 & (evals["limit"].map(_limit) == _limit(me["limit"]))]
    if same.empty:
        return None
    other = same.iloc[0]["id"]
    is_tuned = partner_model(partner, runs) == me["model"] and Path(str(me["model"])).name == FINAL
    return (other, ident) if is_tuned else (ident, other)


def comparison_defaults(ids: list[str], evals: pd.DataFrame, ident: str | None, runs: pd.DataFrame) -> tuple[str, str]:
    """What Compare opens on (two or more `ids`): `ident` and its partner, else the newest training
    run's eval/base and eval/tuned, else the two newest evaluations (older as base)."""
    guess = partner_evaluation(evals, ident, runs) if ident in ids else None
    if guess:
        return guess
    run_pairs = [(i, i[: -len("/base")] + "/tuned") for i in ids if i.startswith("runs:") and i.endswith("/eval/base")]
    run_pairs = [pair for pair in run_pairs if pair[1] in ids]
    return run_pairs[0] if run_pairs else (ids[1], ids[0])


def other_models(evals: pd.DataFrame, ids: list[str], ident: str, pool: str, ties: str) -> list[str]:
    """`ident` and, for every other model among `ids`, its first evaluation with this pool and
    tie rule (the listing is newest first: the newest)."""
    table = evals.set_index("id")
    chosen = [ident] if ident in ids else []
    seen = {table.loc[ident, "model"]} if ident in table.index else set()
    for other in ids:
        row = table.loc[other]
        if row["model"] not in seen and row["pool"] == pool and ties in str(row["ties"]).split(","):
            chosen.append(other)
            seen.add(row["model"])
    return chosen


# --- several models ------------------------------------------------------------------------------


def model_choices(evals: pd.DataFrame, checkpoints: list[str], current: str | None = None) -> list[str]:
    """Every model a picker offers, each once: the embedded models (so use-m3 can be picked before it
    was ever evaluated), evaluated models, final checkpoints, models of running evaluations, and
    `current`. A model is a string, so a fix variant such as "default+lir1@ntrex" is one more."""
    complete = list(evals[evals["state"] == "complete"]["model"]) if not evals.empty else []
    others = list(evals["model"]) if not evals.empty else []
    return [m for m in dict.fromkeys([*EMBEDDED_MODELS, *complete, *checkpoints, *others, current or ""]) if m]


def comparable(evals: pd.DataFrame, model: str, dataset: str, pool: str, ties: str, like: str | None = None) -> str | None:
    """The complete evaluation of `model` to show beside evaluation `like`: same dataset, pool and tie
    rule; among those, the one with the same limit and the most language sets in common (the newest
    on a tie); None when `model` has none."""
    if evals.empty:
        return None
    same = evals[(evals["state"] == "complete") & (evals["model"] == model) & (evals["dataset"] == dataset)
                 & (evals["pool"] == pool) & evals["ties"].map(lambda rules: ties in str(rules).split(","))]
    if same.empty:
        return None
    rows = evals[evals["id"] == like]
    if rows.empty:
        return same.iloc[0]["id"]
    me = rows.iloc[0]
    score = [(_limit(row["limit"]) == _limit(me["limit"]), len(set(row["language_sets"]) & set(me["language_sets"])),
              list(row["language_sets"]) == list(me["language_sets"])) for _, row in same.iterrows()]
    best = max(range(len(score)), key=lambda i: (score[i], -i))
    return same.iloc[best]["id"]


def trainable_models(models: list[str]) -> tuple[list[str], dict[str, str]]:
    """(the models training can take, {model: why not} for the others, e.g. use-m3 or a fix variant)."""
    ok, refused = [], {}
    for model in models:
        if variant_or_none(model) is not None:  # a fix corrects a model's output; training takes the model
            refused[model] = f"{model} is a training-free fix variant; fine-tune its base model ({base_model(model)})."
            continue
        family = family_of(model)
        if family.trainable:
            ok.append(model)
        else:
            refused[model] = family.untrainable_reason
    return ok, refused


# --- the fix lab ---------------------------------------------------------------------------------


def fix_lab_evals(evals: pd.DataFrame, runs: pd.DataFrame, base: str, dataset: str, pool: str, ties: str,
                  like: str | None = None) -> dict[str, str]:
    """{model: evaluation id} for the Fixes page: `base` (a variant counts as its base model), every
    fix variant of it and every fine-tuned checkpoint that started from it, each with its complete
    evaluation on the same dataset, pool, tie rule, limit and language sets as `like` (the base's,
    when `like` is None: its comparable one). Models without such an evaluation are left out."""
    base = base_model(base)
    anchor = like if like is not None and not evals.empty and like in set(evals["id"]) else \
        comparable(evals, base, dataset, pool, ties)
    if anchor is None:
        return {}
    me = evals.set_index("id").loc[anchor]
    same = evals[(evals["state"] == "complete") & (evals["dataset"] == dataset) & (evals["pool"] == pool)
                 & evals["ties"].map(lambda rules: ties in str(rules).split(","))
                 & evals["language_sets"].map(lambda sets: list(sets) == list(me["language_sets"]))
                 & (evals["limit"].map(_limit) == _limit(me["limit"]))]
    tuned = {str(Path(str(row["run_dir"])) / FINAL) for _, row in runs.iterrows() if row.get("model") == base}
    wanted = [m for m in dict.fromkeys(same["model"])
              if m == base or (variant_or_none(m) is not None and variant_or_none(m).model == base) or m in tuned]
    found = {m: same[same["model"] == m].iloc[0]["id"] for m in wanted}
    order = {m: (0 if m == base else 1 if variant_or_none(m) is not None else 2) for m in found}
    return dict(sorted(found.items(), key=lambda item: order[item[0]]))
