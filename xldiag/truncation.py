"""Truncation: which texts of an evaluation were longer than the model's maximum sequence length.

A model sees only the first `max_seq_length` tokens of a text (prompt and special tokens
included); the rest never reaches the embedding. The Encoder counts every text's tokens when it
embeds it and keeps the count in its cache (`Encoder.token_counts`), so measuring costs a cache
lookup. An evaluation records, per language and role, how many of the distinct texts it embedded
were cut (run folder: `config.json` → `truncation`) and, per summary row, how many of that row's
queries and pool documents were (`summary.csv` → `truncated_queries`, `truncated_docs`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from xldiag.vocab import NO_TOKEN_LIMIT

ROLE_PLURALS = {"passage": "passages", "query": "queries"}


@dataclass
class SetCuts:
    """For one language set: per (role, lang), a flag per text (positions as in the dataset's
    passages / questions lists): 1 cut, 0 whole, -1 unknown."""

    flags: dict[tuple[str, str], np.ndarray]

    def summary_columns(self, pool) -> dict:
        """`truncated_queries`: this pool's queries that were cut; `truncated_docs`: its documents
        that were cut (NaN where the model could not count tokens)."""
        queries = self.flags[("query", pool.query_lang)][np.asarray(pool.query_index)]
        docs = np.concatenate([self.flags[("passage", lang)][np.asarray(pool.doc_passage)[np.asarray(pool.doc_lang) == lang]]
                               for lang in pool.langs]) if len(pool.doc_lang) else np.zeros(0, np.int8)
        return {"truncated_queries": _count(queries), "truncated_docs": _count(docs)}


def _count(flags: np.ndarray) -> float:
    known = flags >= 0
    return float((flags == 1).sum()) if known.any() or not len(flags) else float("nan")


@dataclass
class Truncation:
    """What an evaluation's texts lost to truncation, gathered over its language sets."""

    # (lang, role) -> {text: flag}; distinct texts, so a text shared by sets counts once
    by_text: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)
    max_lengths: set[int] = field(default_factory=set)

    def measure(self, encoder, data, langs) -> SetCuts:
        """Token counts of the set's passages and questions from `encoder`'s cache (already
        embedded: no model call) → the set's cut flags, also added to this record."""
        flags = {}
        for lang in langs:
            for role, texts in (("passage", data.passages[lang]), ("query", data.questions[lang])):
                counts = encoder.token_counts(texts, role)
                flag = np.where(counts.known, counts.cut.astype(np.int8), np.int8(-1)).astype(np.int8)
                flags[(role, lang)] = flag
                seen = self.by_text.setdefault((lang, role), {})
                for text, value in zip(texts, flag):
                    seen.setdefault(text, int(value))
                self.max_lengths.update(int(m) for m in np.unique(counts.max_tokens[counts.known]))
        return SetCuts(flags)

    def record(self) -> dict:
        """For config.json: {"max_seq_length": N, "counts": {"<lang>/<role>": {"texts": n,
        "truncated": k}}}, plus "unknown": u where the model could not count u texts."""
        counts = {}
        for (lang, role), seen in self.by_text.items():
            values = np.fromiter(seen.values(), dtype=np.int8, count=len(seen))
            entry = {"texts": int(len(values)), "truncated": int((values == 1).sum())}
            if (values < 0).any():
                entry["unknown"] = int((values < 0).sum())
            counts[f"{lang}/{role}"] = entry
        lengths = sorted(self.max_lengths)
        return {"max_seq_length": lengths[0] if len(lengths) == 1 else (lengths or None), "counts": counts}


def describe(record: dict | None) -> tuple[str, str]:
    """A run's truncation record in words: ("warning", text) when texts were cut, else ("info", text)."""
    if not record or "counts" not in record:
        return "info", "Truncation was not recorded for this run (written by an older xldiag)."
    limit = record.get("max_seq_length")
    unknown = sum(entry.get("unknown", 0) for entry in record["counts"].values())
    tail = f" Token counts are unknown for {unknown} texts." if unknown else ""
    if limit == NO_TOKEN_LIMIT:  # use-m3: every piece is embedded, nothing can be cut
        return "info", f"The model has no maximum length: every token of every text was embedded.{tail}"
    limit_text = f"{limit} tokens" if isinstance(limit, int) else "its maximum length"
    cut = [f"{entry['truncated']} of {entry['texts']} {key.split('/')[0]} {ROLE_PLURALS.get(key.split('/')[1], key)}"
           for key, entry in record["counts"].items() if entry.get("truncated")]
    if cut:
        return "warning", (f"Texts cut at the model's maximum of {limit_text} (only their beginning was embedded): "
                           + ", ".join(cut) + "." + tail)
    return "info", f"No text was longer than the model's maximum of {limit_text}.{tail}"
