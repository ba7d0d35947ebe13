"""The shared words: every column an evaluation writes is either a key or a metric known to vocab
(so a new metric cannot reach summary.csv without its label and direction)."""

from __future__ import annotations

import pandas as pd
import pytest

from xldiag import vocab
from xldiag.embeddings import Encoder
from xldiag.evaluate import evaluate


@pytest.fixture(scope="module")
def summary(default_model_dir, tmp_path_factory) -> pd.DataFrame:
    encoder = Encoder("default", cache_root=tmp_path_factory.mktemp("emb"), show_progress=False)
    return evaluate(model="default", dataset="xquad", langs="de", limit=5, encoder=encoder)


def test_every_summary_column_is_a_key_or_a_known_metric(summary):
    unknown = [c for c in summary.columns if c not in vocab.SUMMARY_KEYS and c not in vocab.METRICS]
    assert not unknown, f"add these to vocab.METRICS (label, direction, format): {unknown}"


def test_every_known_metric_is_reported(summary):
    assert [c for c in vocab.METRICS if c not in summary.columns] == []


def test_metric_labels_and_directions():
    assert vocab.metric("max_r").arrow_label == "Max@R ↓" and vocab.metric("complete@10").arrow_label == "Complete@10 ↑"
    assert vocab.metric("mrr").format(0.91234) == "0.912" and vocab.metric("max_r").format(float("nan")) == "nan"
    assert vocab.metric("not-a-metric").label == "not-a-metric"
    assert set(vocab.HEADLINE_METRICS) <= set(vocab.METRICS)


@pytest.mark.parametrize("pair, target", [("en+zh", "zh"), ("zh+en", "zh"), ("de+zh", "de+zh"), ("en+de+zh", "en+de+zh")])
def test_pair_target(pair, target):
    assert vocab.pair_target(pair) == target
