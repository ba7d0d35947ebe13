"""The Alignment views' numbers: JSD at a run's --jsd-temperature beside T = 1, pre-norm vectors for
models whose prompts are named (jina v3)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from xldiag import alignment, runs

from training.tiny import family_stand_in, make_triples, tiny_config


def _kl(p, q):
    return sum(a * math.log(a / b) for a, b in zip(p, q) if a > 0)


def _jsd(p, q):
    m = [(a + b) / 2 for a, b in zip(p, q)]
    return 0.5 * _kl(p, m) + 0.5 * _kl(q, m)


@pytest.fixture(scope="module")
def tuned_run(tiny_model, tmp_path_factory):
    from xldiag.training import train

    out = tmp_path_factory.mktemp("alignment") / "run"
    return train(tiny_config(tiny_model, out, jsd_temperature=0.5, save_every=100), triples=make_triples(16))


def test_jsd_at_the_chosen_temperature_beside_t1_hand_computed():
    # en = [0, 0] → (1/2, 1/2) at any T; tgt = [2 ln 3, 0] → (9/10, 1/10) at T = 1, (3/4, 1/4) at T = 2
    embeddings = {"m": {"en": np.array([[0.0, 0.0]]), "zh": np.array([[2 * math.log(3.0), 0.0]])}}
    frame = alignment.alignment_frame(embeddings, chosen_temperature=2.0)
    assert list(frame.columns) == ["model", "lang", "index", "cosine", "jsd", "jsd_chosen"]
    assert frame["jsd"].iloc[0] == pytest.approx(_jsd((0.5, 0.5), (0.9, 0.1)), rel=1e-9)
    assert frame["jsd_chosen"].iloc[0] == pytest.approx(_jsd((0.5, 0.5), (0.75, 0.25)), rel=1e-9)
    table = alignment.jsd_summary(frame, chosen_temperature=2.0)
    assert list(table.columns) == ["model", "lang", "cosine mean", "cosine median", "JSD mean (T=1)",
                                   "JSD median (T=1)", "JSD mean (T=2)", "JSD median (T=2)"]
    assert table["JSD mean (T=2)"].iloc[0] == pytest.approx(frame["jsd_chosen"].iloc[0])
    # T = 1 chosen: one pair of JSD columns, not two identical ones
    same = alignment.jsd_summary(alignment.alignment_frame(embeddings, chosen_temperature=1.0), chosen_temperature=1.0)
    assert [c for c in same.columns if c.startswith("JSD")] == ["JSD mean (T=1)", "JSD median (T=1)"]
    # the training loss computes the same number
    import torch

    from xldiag.losses import jsd

    z_en, z_tgt = (torch.tensor(embeddings["m"][k], dtype=torch.float32) for k in ("en", "zh"))
    assert jsd(z_en, z_tgt, temperature=2.0).item() == pytest.approx(frame["jsd_chosen"].iloc[0], rel=1e-5)


def test_the_run_records_its_jsd_temperature(tuned_run, tiny_model):
    from pathlib import Path

    assert runs.read_config(tuned_run)["config"]["jsd_temperature"] == 0.5
    assert alignment.trained_jsd_temperature(Path(tuned_run) / "final") == 0.5
    assert alignment.trained_jsd_temperature(tiny_model) is None  # not written by xldiag train
    assert alignment.trained_jsd_temperature("default") is None


def test_pre_norm_vectors_of_a_task_prompt_model_match_what_training_sees(tmp_path):
    """jina-v3-like: evaluation passes prompt_name=<task>; the pre-norm body model has no prompts of
    its own, so alignment resolves the name to the text — the vectors are the ones the loss sees."""
    import torch

    from xldiag.data import Triple
    from xldiag.embeddings import Encoder
    from xldiag.training import TrainConfig
    from xldiag.training.st_adapter import batch_features, make_embedder, resolve_prompts, resolve_tasks

    path = family_stand_in(tmp_path / "jina-embeddings-v3-tiny",
                           {"retrieval.query": "query : w1 ", "retrieval.passage": "passage : w2 "}, None)
    encoder = Encoder(str(path), device="cpu", cache_root=tmp_path / "embeddings", trust_remote_code=True,
                      show_progress=False)
    assert encoder.family.encode_kwargs("query", encoder.model.prompts)["prompt_name"] == "retrieval.query"
    queries = ["w10 w11", "w12 w13 w14"]
    got = alignment.vectors(encoder, queries, role="query", pre_norm=True)

    model = encoder.model
    model.eval()
    cfg = TrainConfig(model=str(path), trust_remote_code=True)
    prompts, tasks = resolve_prompts(cfg, model), resolve_tasks(cfg, model)
    batch = [Triple(str(i), "zh", q, "w20", "w21") for i, q in enumerate(queries)]
    with torch.no_grad():
        out = make_embedder(model)(batch_features(model, batch, ("query", "passage_en"), prompts[0], prompts[1], "cpu", tasks))
    assert got.shape == (2, 32)
    assert np.linalg.norm(got, axis=1).min() > 1.5  # really before the normalisation
    assert np.abs(got - out["query"].numpy()).max() < 1e-5
    # without the prompt the vectors differ: the prompt was applied, not dropped
    from xldiag.alignment import encode_pre_norm

    bare = encode_pre_norm(model, queries, {"task": "retrieval.query"})
    assert np.abs(bare - got).max() > 1e-3
