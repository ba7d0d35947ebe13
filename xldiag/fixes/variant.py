"""A fix variant as an evaluation uses it: one estimate per role, each applied by language.

**Per role.** `fit_variant` estimates the fix twice on the same corpus texts — embedded as
passages (for the pool's passages) and as queries (for the queries) — and corrects each text
with the transform of its language *and role*. With a model that prompts queries and passages
differently (the default e5 model: "query: " / "passage: "), the language component of a query is
not the one of a passage, and removing the query-side one is measured better: XQuAD en+zh, Multi
pool, Chinese queries, Max@R 39.8 → 18.9 with lsar1, 6.9 → 6.2 with center; Belebele en+de,
German queries, 14.9 → 12.9 with center (docs/FIXES.md has the whole table, and the cases where
it is not better). A model without role prompts gets the same estimate twice.

`fit_fix(..., role=...)` remains the single-role building block (one `FittedFix`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterable, Mapping

import numpy as np

from xldiag.data import ParallelDataset
from xldiag.data.corpora import AlignedCorpus, load_corpus
from xldiag.fixes.base import FittedFix, FixSpec
from xldiag.fixes.estimate import fit_fix
from xldiag.fixes.registry import parse_variant
from xldiag.vocab import ROLES


@dataclass(frozen=True, eq=False)
class FixVariant:
    """The fitted estimates of one fix, by role (`by_role["query"]`, `by_role["passage"]`)."""

    by_role: Mapping[str, FittedFix]

    @property
    def spec(self) -> FixSpec:
        return self.by_role["passage"].spec

    @property
    def langs(self) -> tuple[str, ...]:
        return self.by_role["passage"].langs

    @property
    def cached(self) -> bool:
        """True when every role's estimate came from the fix cache."""
        return all(fix.cached for fix in self.by_role.values())

    def fix(self, role: str) -> FittedFix:
        if role not in self.by_role:
            raise ValueError(f"role must be one of {', '.join(self.by_role)}, got {role!r}.")
        return self.by_role[role]

    def transform(self, x: np.ndarray, lang: str, role: str) -> np.ndarray:
        """The correction of texts in `lang` embedded as `role`, before renormalisation; float32."""
        return self.fix(role).transform(x, lang)

    def apply(self, x: np.ndarray, lang: str, role: str) -> np.ndarray:
        """The corrected rows, L2-normalised again; float32."""
        return self.fix(role).apply(x, lang)

    def variant_name(self, model: str | None = None) -> str:
        """`"{model}+{fix}{param}@{data}"`, e.g. `default+lir1@ntrex`."""
        return self.by_role["passage"].variant_name(model)

    def with_param(self, value) -> "FixVariant":
        """The same estimates with another alpha (shift); see `FittedFix.with_param`."""
        return FixVariant({role: fix.with_param(value) for role, fix in self.by_role.items()})

    def record(self, arrays: bool = False) -> dict:
        """What the variant records (JSON): its name, the fix, and each role's estimate."""
        passage = self.by_role["passage"]
        return {
            "variant": passage.variant_name() if passage.provenance else None,
            "fix": self.spec.text,
            "langs": list(self.langs),
            "estimates": "per-role",
            "roles": {role: fix.record(arrays=arrays) for role, fix in self.by_role.items()},
        }


def fit_variant(encoder, spec: str | FixSpec, corpus: str | os.PathLike | AlignedCorpus, langs: Iterable[str],
                limit: int | None = None, cache_root: str | os.PathLike | None = None, *,
                data_dir: str | os.PathLike | None = None, evaluation: ParallelDataset | None = None,
                refit: bool = False) -> FixVariant:
    """`fit_fix` once per role (same corpus, languages, limit and cache): the variant an evaluation applies."""
    langs = list(langs)
    return FixVariant({role: fit_fix(encoder, spec, corpus, langs, limit, cache_root, role=role, data_dir=data_dir,
                                     evaluation=evaluation, refit=refit)
                       for role in ROLES})


def fit_named(name: str, encoder, langs: Iterable[str], cache_root: str | os.PathLike | None = None, *,
              data_dir: str | os.PathLike | None = None, evaluation: ParallelDataset | None = None) -> FixVariant:
    """The variant a model name stands for (`default+lir1@ntrex`: lir r = 1 estimated on NTREX),
    fitted for `langs` with `encoder`, an Encoder of the name's base model (`base_model(name)`);
    from the fix cache when it holds the estimate. The data part of the name is a registered corpus
    or a JSONL path, as `--fix-data` takes it."""
    variant, langs = parse_variant(name), list(langs)
    try:
        corpus = load_corpus(variant.data, langs, data_dir)
    except (ValueError, FileNotFoundError) as err:  # e.g. a corpus without one of the languages evaluated
        raise ValueError(f"{name}: the fix cannot be estimated for {', '.join(langs)} on {variant.data!r}: {err}") \
            from err
    return fit_variant(encoder, variant.spec, corpus, langs, cache_root=cache_root, data_dir=data_dir,
                       evaluation=evaluation)


def correct_embeddings(fix: FittedFix | FixVariant, embeddings: Mapping[tuple[str, str], np.ndarray]) -> dict:
    """{(role, lang): unit rows} → the same keys, each matrix corrected with the transform of its
    language (and, for a FixVariant, of its role): the shape `xldiag.evaluate` keeps embeddings in.
    A single FittedFix corrects both roles with its one estimate."""
    if isinstance(fix, FixVariant):
        return {(role, lang): fix.apply(matrix, lang, role) for (role, lang), matrix in embeddings.items()}
    return {(role, lang): fix.apply(matrix, lang) for (role, lang), matrix in embeddings.items()}
