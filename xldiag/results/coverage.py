"""Language coverage: which evaluated languages a model was not trained on, and the words every
page, the CLI and the figures use to flag them.

A model family may declare its training languages (`ModelFamily.languages`, docs/MODELS.md);
evaluating another language works, but the numbers say little about alignment (use-m3 collapses
text it was not trained on). The evaluation records the languages in its summary column
`uncovered_langs` (per row: the row's language set) and in config.json's "coverage"; runs
written before either existed get them from the model's family when they are read.
"""

from __future__ import annotations

import pandas as pd

from xldiag.fixes.registry import base_model
from xldiag.models import family_of as model_family_of


def family_of(model: str):
    """The model's family; a fix variant ("default+lir1@ntrex") has its base model's."""
    return model_family_of(base_model(model))

FLAG = "⚠"
COLUMN = "uncovered_langs"


def uncovered(model: str, langs) -> list[str]:
    """The languages of `langs` (codes or sets such as "en+vi") outside the model family's declared
    training languages, in input order; [] when the family declares none."""
    return family_of(model).uncovered(langs)


def run_uncovered(config: dict) -> list[str]:
    """The uncovered languages of an evaluation, from its config.json (recorded, else the family)."""
    recorded = (config.get("coverage") or {}).get("uncovered")
    if recorded is not None:
        return [str(lang) for lang in recorded]
    return uncovered(str(config.get("model", "")), config.get("language_sets") or [])


def coverage_note(model: str, langs, label: str | None = None) -> str | None:
    """The flag a page shows above a model's numbers, or None when every language is covered:
    "⚠ vi not in use-m3's training languages (ar, de, ...): ..."."""
    missing = uncovered(model, langs)
    if not missing:
        return None
    family = family_of(model)
    name = label or str(model)
    declared = ", ".join(family.languages or ())
    verb = "is" if len(missing) == 1 else "are"
    return (f"{FLAG} {', '.join(missing)} {verb} not in {name}'s training languages ({declared}): the evaluation "
            f"works, but the model was not trained on {'it' if len(missing) == 1 else 'them'}, so these numbers say "
            "little about its cross-lingual alignment.")


def flagged(lang: str, missing) -> str:
    """A language label with the flag when it is among `missing`: "vi ⚠"."""
    return f"{lang} {FLAG}" if lang in set(missing or ()) else str(lang)


def fill_uncovered(summary: pd.DataFrame, model: str) -> pd.DataFrame:
    """`summary` with `uncovered_langs` as text ("" when covered; CSV reads an empty cell as NaN),
    computed from the model's family for runs written before the column existed."""
    if COLUMN in summary.columns:
        return summary.assign(**{COLUMN: summary[COLUMN].map(lambda v: "" if pd.isna(v) else str(v))})
    family = family_of(model)
    return summary.assign(**{COLUMN: [",".join(family.uncovered([pair])) for pair in summary["pair"]]})
