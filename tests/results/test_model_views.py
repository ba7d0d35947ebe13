"""xldiag.results.model_views and .coverage: Figure 2's frame, the distractor-language matrix and
their sentences on hand-made run data (eval_folders: known ranks), and the coverage flag."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from eval_folders import make_eval, make_per_query, make_summary, retarget

from xldiag.results import coverage, load_eval, model_views


def summary_for(model: str, targets=("zh", "vi"), shift: int = 0) -> pd.DataFrame:
    base = make_per_query(shift)
    frame = pd.concat([retarget(make_summary(base, model), t) for t in targets], ignore_index=True)
    return coverage.fill_uncovered(frame, model)


def test_figure2_frame_pairs_the_query_languages_and_flags_uncovered_targets():
    frame = model_views.figure2_frame({"e5": summary_for("default"), "use": summary_for("use-m3", shift=4)})
    assert list(frame.columns) == model_views.FIGURE2_COLUMNS
    # models as given, targets as met, Mono-Cross (CLIR) before Multi
    assert list(zip(frame["model"], frame["target"], frame["scenario"]))[:4] == [
        ("e5", "zh", "mono-cross"), ("e5", "zh", "multi"), ("e5", "vi", "mono-cross"), ("e5", "vi", "multi")]
    row = frame[(frame["model"] == "e5") & (frame["target"] == "zh") & (frame["scenario"] == "multi")].iloc[0]
    # eval_folders.MULTI: Max@R per query = max(en rank, zh rank): en queries 2,5,2,9; zh queries 2,4,2,7
    assert row["english"] == pytest.approx(18 / 4) and row["target_queries"] == pytest.approx(15 / 4)
    assert row["gap"] == pytest.approx(15 / 4 - 18 / 4)
    cross = frame[(frame["model"] == "e5") & (frame["scenario"] == "mono-cross")].iloc[0]
    assert (cross["english"], cross["target_queries"]) == (pytest.approx(7 / 4), pytest.approx(8 / 4))  # MONO_CROSS
    shifted = frame[(frame["model"] == "use") & (frame["scenario"] == "multi") & (frame["target"] == "zh")].iloc[0]
    assert shifted["english"] == pytest.approx((2 + 5 + 2 + 13) / 4)  # the fourth zh reference moved 4 down
    # use-m3 was not trained on vi; default (e5) declares no languages, so nothing is flagged for it
    assert frame[frame["model"] == "use"].set_index(["target", "scenario"])["uncovered"].to_dict() == {
        ("zh", "mono-cross"): False, ("zh", "multi"): False, ("vi", "mono-cross"): True, ("vi", "multi"): True}
    assert not frame[frame["model"] == "e5"]["uncovered"].any()


def test_figure2_leaves_out_language_sets_without_english():
    summary = summary_for("default", targets=("zh",))
    other = summary.assign(pair="de+zh", query_lang=summary["query_lang"].replace({"en": "de"}))
    frame = model_views.figure2_frame({"m": pd.concat([summary, other])})
    assert set(frame["pair"]) == {"en+zh"}


def test_figure2_lines_say_the_gap_and_the_spread():
    frame = model_views.figure2_frame({"e5": summary_for("default")}, metric="max_r")
    lines = model_views.figure2_lines(frame, "max_r")
    multi = next(line for line in lines if line.startswith("e5, Multi"))
    # zh and vi are copies: the mean gap is 3.75 - 4.5 = -0.75 (lower Max@R is better)
    assert "better than English ones by 0.75 Max@R" in multi and "English queries 4.50–4.50" in multi
    cross = next(line for line in lines if line.startswith("e5, Mono-Cross"))
    assert "worse than English ones by 0.25" in cross
    complete = model_views.figure2_lines(model_views.figure2_frame({"e5": summary_for("default")}, "complete@10"),
                                         "complete@10")
    assert any("on a par with English ones" in line for line in complete)  # every query complete at 10


def test_distractor_languages_by_hand():
    """eval_folders: every unrelated document above a reference is in the query's language."""
    frame = model_views.distractor_languages({"e5": make_per_query(), "tuned": make_per_query(-3)})
    assert list(frame.columns) == model_views.DISTRACTOR_COLUMNS
    cell = frame.set_index(["model", "query_lang", "ref_lang"])
    # English queries, zh reference at ranks 2, 5, 1, 9 with the en reference above it in 3 of 4:
    # 0 + 3 + 0 + 7 unrelated documents above it, all English
    row = cell.loc[("e5", "en", "zh")]
    assert (row["distractors"], row["own_language"], row["own_share"]) == (10, 10, 100.0)
    assert row["mean_above"] == 2.5 and row["pool_share"] == 50.0 and row["n_queries"] == 4
    assert row["cell"] == "English queries → target reference"
    assert np.isnan(cell.loc[("e5", "en", "en"), "own_share"])  # nothing above the en reference: no share
    assert cell.loc[("tuned", "en", "zh"), "distractors"] == 7  # the fourth reference 3 places higher
    assert model_views.preference_lines(frame)[0].startswith("e5 prefers the query's own language")


def hand_frame(en_counts, zh_counts) -> pd.DataFrame:
    """Two Multi queries per query language; `*_counts`: above_by_lang [en, zh] of both references."""
    rows = []
    for q_lang, counts in (("en", en_counts), ("zh", zh_counts)):
        for q in range(2):
            rows.append({"pair": "en+zh", "scenario": "multi", "query_lang": q_lang, "gold_langs": ["en", "zh"],
                         "above_by_lang": [counts, counts], "pool_langs": ["en", "zh"]})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("en_counts, zh_counts, verdict", [
    ([2, 2], [3, 3], "shows no clear preference by language"),
    ([5, 1], [5, 1], "prefers English documents"),
    ([1, 5], [5, 1], "prefers documents in the other language than the query's"),
    ([5, 1], [2, 2], "prefers English documents with English queries only"),
    ([0, 0], [0, 0], "no unrelated document is ranked above any reference"),
])
def test_preference_lines_say_what_the_numbers_say(en_counts, zh_counts, verdict):
    frame = model_views.distractor_languages({"m": hand_frame(en_counts, zh_counts)})
    assert verdict in model_views.preference_lines(frame)[0]


def test_coverage_note_and_flag():
    note = coverage.coverage_note("use-m3", ["en+zh", "en+vi", "en+hi"])
    assert note.startswith("⚠ vi, hi are not in use-m3's training languages (ar, de, en,")
    assert coverage.coverage_note("use-m3", ["en+zh"]) is None
    assert coverage.coverage_note("default", ["en+vi"]) is None  # e5 declares no languages: nothing to flag
    assert coverage.flagged("vi", ["vi"]) == "vi ⚠" and coverage.flagged("zh", ["vi"]) == "zh"


def test_runs_without_the_column_get_it_from_the_family(tmp_path):
    """A run written before `uncovered_langs` existed: the reader fills it from the model's family."""
    folder = make_eval(tmp_path / "old", model="use-m3", targets=("zh", "vi"))
    assert "uncovered_langs" not in pd.read_csv(folder / "summary.csv").columns
    run = load_eval(folder)
    assert run.summary.groupby("pair")["uncovered_langs"].first().to_dict() == {"en+vi": "vi", "en+zh": ""}
    assert run.uncovered == ["vi"]  # config.json without "coverage": from the family too


def test_preference_lines_leave_out_uncovered_pairs_and_weigh_pairs_equally():
    """use-m3 on vi collapses: its many distractors would swamp the covered pairs if pooled."""
    covered = hand_frame([5, 1], [5, 1])  # English preference: en queries 83 % own, zh queries 17 %
    collapsed = retarget(hand_frame([1, 50], [1, 50]), "vi")  # vi queries 98 % own, hundreds of distractors
    both = pd.concat([covered, collapsed], ignore_index=True)
    frame = model_views.distractor_languages({"use": both}, uncovered={"use": ["vi"]})
    assert frame.groupby("target")["uncovered"].first().to_dict() == {"vi": True, "zh": False}
    line = model_views.preference_lines(frame)[0]
    assert line.startswith("use prefers English documents") and "English queries 83 %; target queries 17 %" in line
    assert "vi left out: not among its training languages" in line
    # without the flag, pairs are still weighted equally: (5/6 + 1/51) / 2 and (1/6 + 50/51) / 2
    unflagged = model_views.preference_lines(model_views.distractor_languages({"use": both}))[0]
    assert "English queries 43 %; target queries 57 %" in unflagged


def test_figure2_lines_keep_uncovered_targets_out_of_the_mean():
    frame = model_views.figure2_frame({"use": summary_for("use-m3", shift=4)})
    line = next(line for line in model_views.figure2_lines(frame) if line.startswith("use, Multi"))
    assert "(vi ⚠ left out of the mean and the spread: not among its training languages)" in line
