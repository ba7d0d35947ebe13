"""Training-free corrections of a multilingual embedding space ("the fix lab", issue 10).

Each fix is estimated on text that is *not* in the evaluation pool (an aligned corpus:
NTREX-128 by default, Tatoeba, MLQA-R pairs, or a parallel JSONL file), then applied to every
query and passage by the transform of the text's language, and the rows are L2-normalised again:

- `center`        language-mean centering, x − μ_lang (Libovický, Rosa & Fraser 2020);
- `lir[:r]`       remove the language's top-r right singular vectors, x − V_r V_rᵀ x (Yang et al. 2021);
- `lsar[:rank]`   project out the low-rank subspace of the language means (Xie et al. 2022);
- `shift[:alpha]` z − α·mean(f(x_l) − f(x_en)) over parallel pairs (SHIFT, Jang et al. 2026).

    from xldiag.embeddings import Encoder
    from xldiag.fixes import correct_embeddings, fit_variant
    variant = fit_variant(Encoder("default"), "lir:1", "ntrex", ["en", "zh"], evaluation=xquad)
    variant.variant_name()                        # 'default+lir1@ntrex'
    variant.apply(unit_rows, "zh", "query")       # float32, rows L2-normalised again
    correct_embeddings(variant, {(role, lang): unit_rows, ...})   # evaluate's embeddings dict

A variant name goes wherever a model name goes: `base_model("default+lir1@ntrex")` is the model
to encode with, `fit_named(name, encoder, langs)` the fitted variant (xldiag.evaluate applies it
per language set; `eval --fix lir:1` and `python -m xldiag fixes` name their models this way).

One module per method (center.py, lir.py, lsar.py, shift.py: `fit(embeddings_by_lang,
pairs_by_lang, **param) -> FittedFix`), `registry` (specs, variant names, loading),
`estimate` (`fit_fix`: encode one role, fit, cache), `variant` (`fit_variant`: one estimate per
role, `correct_embeddings`), `disjoint` (estimation vs evaluation texts).
docs/FIXES.md describes the methods and our choices.
"""

from xldiag.fixes.base import FittedFix, FixSpec, Provenance, unit_rows
from xldiag.fixes.disjoint import Overlap, check_disjoint, text_overlap
from xldiag.fixes.estimate import EstimationTexts, estimation_texts, fit_fix, fix_cache_root
from xldiag.fixes.registry import (METHODS, SPEC_HELP, Variant, base_model, load_fix, method_of, parse_fix,
                                   parse_fixes, parse_variant, variant_models, variant_name, variant_or_none)
from xldiag.fixes.variant import FixVariant, correct_embeddings, fit_named, fit_variant

__all__ = [
    "EstimationTexts",
    "FittedFix",
    "FixSpec",
    "FixVariant",
    "METHODS",
    "Overlap",
    "Provenance",
    "SPEC_HELP",
    "Variant",
    "base_model",
    "check_disjoint",
    "correct_embeddings",
    "estimation_texts",
    "fit_fix",
    "fit_named",
    "fit_variant",
    "fix_cache_root",
    "load_fix",
    "method_of",
    "parse_fix",
    "parse_fixes",
    "parse_variant",
    "text_overlap",
    "unit_rows",
    "variant_models",
    "variant_name",
    "variant_or_none",
]
