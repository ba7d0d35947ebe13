"""The fix methods by name, their specs (`center | lir[:r] | lsar[:rank] | shift[:alpha]`) and
variant names (`"{model}+{fix}{param}@{data}"`, e.g. `default+lir1@ntrex`, `default+shift0.5@tatoeba`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from xldiag.fixes import center, lir, lsar, shift
from xldiag.fixes.base import FittedFix, FixSpec, format_param, load_saved


@dataclass(frozen=True)
class Method:
    """One correction: its parameter (name, type, default), its fit function and fitted class."""

    name: str
    param: str | None  # the keyword of `fit` ("r", "rank", "alpha"), None for center
    kind: type | None  # int or float
    default: int | float | None
    fit: Callable[..., FittedFix]
    fix_class: type[FittedFix]
    uses_pairs: bool  # estimated on parallel pairs (shift) rather than monolingual texts
    param_in_estimate: bool  # False: the parameter is applied after fitting (shift's alpha)
    description: str

    def spec(self, value=None) -> FixSpec:
        """The spec with `value` checked (None: the default)."""
        if self.param is None:
            if value is not None:
                raise ValueError(f"The {self.name} fix takes no parameter, got {value!r}; write just '{self.name}'.")
            return FixSpec(self.name)
        value = self.default if value is None else value
        if self.kind is int:
            if isinstance(value, bool) or not float(value).is_integer() or int(value) < 1:
                raise ValueError(f"{self.name}: {self.param} must be a positive integer, got {value!r}.")
            return FixSpec(self.name, int(value))
        return FixSpec(self.name, shift.check_alpha(value))

    def estimate_key(self, spec: FixSpec) -> str:
        """What the cached estimate depends on: the label, less a parameter applied after fitting."""
        return spec.label if self.param_in_estimate else self.name

    def fit_arrays(self, spec: FixSpec, embeddings_by_lang, pairs_by_lang) -> FittedFix:
        """Fit this method with the spec's parameter."""
        kwargs = {} if self.param is None else {self.param: spec.param}
        return self.fit(embeddings_by_lang, pairs_by_lang, **kwargs)


METHODS: dict[str, Method] = {m.name: m for m in [
    Method("center", None, None, None, center.fit, center.CenterFix, False, True,
           "language-mean centering: x − μ_lang (Libovický et al. 2020)"),
    Method("lir", "r", int, lir.DEFAULT_R, lir.fit, lir.LirFix, False, True,
           "LIR: remove the language's top-r right singular vectors (Yang et al. 2021)"),
    Method("lsar", "rank", int, lsar.DEFAULT_RANK, lsar.fit, lsar.LsarFix, False, True,
           "LSAR: project out the low-rank subspace of the language means (Xie et al. 2022)"),
    Method("shift", "alpha", float, shift.DEFAULT_ALPHA, shift.fit, shift.ShiftFix, True, False,
           "language shift: z − α·mean(f(x_l) − f(x_en)) over parallel pairs (Jang et al. 2026)"),
]}
SPEC_HELP = "center, lir[:r], lsar[:rank] or shift[:alpha] (e.g. lir:1, lsar:2, shift:0.5)"
_NUMBER = r"-?\d+(?:\.\d+)?(?:e[+-]?\d+)?"
_LABEL = re.compile(rf"^(?P<method>center|lir|lsar|shift)(?P<param>{_NUMBER})?$")
_VARIANT = re.compile(rf"^(?P<model>.+)\+(?P<fix>(?:center|lir|lsar|shift)(?:{_NUMBER})?)@(?P<data>[^@]+)$")


def method_of(name: str) -> Method:
    if name not in METHODS:
        raise ValueError(f"Unknown fix {name!r}: use {SPEC_HELP}.")
    return METHODS[name]


def parse_fix(text: str | FixSpec) -> FixSpec:
    """`center`, `lir`, `lir:2`, `lsar:1`, `shift`, `shift:0.5` (or a label: `lir2`, `shift0.5`) →
    a FixSpec with defaults filled in (r = 1, rank = 1, alpha = 1.0)."""
    if isinstance(text, FixSpec):
        return method_of(text.method).spec(text.param)
    raw = str(text).strip().lower()
    name, sep, value = raw.partition(":")
    if not sep:
        match = _LABEL.match(raw)
        if match is None:
            raise ValueError(f"Unknown fix {text!r}: use {SPEC_HELP}.")
        name, value = match["method"], match["param"] or ""
    method = method_of(name)
    if sep and not value:
        raise ValueError(f"Fix {text!r} has an empty parameter: write '{name}' for the default or '{name}:<value>'.")
    return method.spec(parse_number(value, text, method) if value else None)


def parse_number(value: str, text, method: Method) -> int | float:
    if method.param is None:
        raise ValueError(f"The {method.name} fix takes no parameter, got {text!r}; write just '{method.name}'.")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"Fix {text!r}: {method.param} must be a number, got {value!r}.") from None
    return int(number) if method.kind is int and number.is_integer() else number


def parse_fixes(text: str) -> list[FixSpec]:
    """A comma-separated list of fixes; `/` separates several values of one parameter (a sweep):
    `center,lir:1/2,shift:0.25/0.5/1` → center, lir1, lir2, shift0.25, shift0.5, shift1."""
    specs = []
    for item in (part.strip() for part in str(text).split(",")):
        if not item:
            continue
        name, sep, values = item.partition(":")
        specs += [parse_fix(f"{name}:{v}") for v in values.split("/")] if sep and "/" in values else [parse_fix(item)]
    if not specs:
        raise ValueError(f"No fix given in {text!r}: use {SPEC_HELP}.")
    return list(dict.fromkeys(specs))


def variant_name(model: str, spec: FixSpec | str, data: str) -> str:
    """`"{model}+{fix}{param}@{data}"`, e.g. `default+lir1@ntrex`."""
    spec = parse_fix(spec)
    data = str(data)
    if not data or "@" in data:
        raise ValueError(f"A variant's data name must be non-empty and free of '@', got {data!r}.")
    return f"{model}+{spec.label}@{data}"


@dataclass(frozen=True)
class Variant:
    model: str
    spec: FixSpec
    data: str


def parse_variant(name: str) -> Variant:
    """The inverse of `variant_name`: `default+shift0.5@tatoeba` → (default, shift:0.5, tatoeba)."""
    match = _VARIANT.match(str(name))
    if match is None:
        raise ValueError(f"{name!r} is not a variant name: expected '<model>+<fix><param>@<data>', "
                         "e.g. 'default+lir1@ntrex'.")
    return Variant(match["model"], parse_fix(match["fix"]), match["data"])


def variant_or_none(name: str) -> Variant | None:
    """The variant a model name stands for, or None for a plain model (a name that does not read as
    `<model>+<fix><param>@<data>`, or an existing file or folder, which is always a model)."""
    text = str(name)
    if "+" not in text or "@" not in text or Path(text).expanduser().exists():
        return None
    try:
        return parse_variant(text)
    except ValueError:
        return None


def base_model(name: str) -> str:
    """The model a variant corrects (`default+lir1@ntrex` → `default`); a plain model is its own base."""
    variant = variant_or_none(name)
    return variant.model if variant is not None else str(name)


def variant_models(models: list[str], fixes: str, data: str) -> list[str]:
    """Every model of `models` with every fix of `fixes` (`parse_fixes`: "lir:1/2,center") estimated on
    `data`, as variant names in that order: (["default"], "center,lir:1/2", "ntrex") →
    default+center@ntrex, default+lir1@ntrex, default+lir2@ntrex. A model that already is a variant
    is an error (fixes do not stack)."""
    specs = parse_fixes(fixes)
    stacked = [m for m in models if variant_or_none(m) is not None]
    if stacked:
        raise ValueError(f"{stacked[0]!r} is already a fix variant; --fix corrects a plain model (e.g. --model "
                         f"{base_model(stacked[0])}).")
    return [variant_name(model, spec, data) for model in models for spec in specs]


def check_variant(name: str) -> None:
    """For a variant name, its data must be a registered corpus or an existing JSONL file: said in
    one line before anything runs (a plain model passes)."""
    from xldiag.data.corpora import CORPORA

    variant = variant_or_none(name)
    if variant is not None and variant.data not in CORPORA and not Path(variant.data).expanduser().is_file():
        raise ValueError(f"{name}: unknown estimation data {variant.data!r}; use one of {', '.join(CORPORA)} or "
                         "the path of a parallel JSONL file (--fix-data).")


def load_fix(folder: str | os.PathLike) -> FittedFix | None:
    """A fix saved with `FittedFix.save`, or None when the folder holds no complete fix of this format."""
    saved = load_saved(Path(folder))
    if saved is None:
        return None
    record, arrays = saved
    return method_of(record["method"]).fix_class.from_saved(record, arrays)


__all__ = ["METHODS", "Method", "SPEC_HELP", "Variant", "base_model", "check_variant", "format_param", "load_fix", "method_of",
           "parse_fix", "parse_fixes", "parse_variant", "variant_models", "variant_name", "variant_or_none"]
