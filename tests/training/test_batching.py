"""The no-duplicate batch sampler, the ranks' share of the batches, and the learning-rate schedule."""

from __future__ import annotations

import pytest

from xldiag.training import TrainingDataError, linear_schedule, make_batches, plan_batches

from training.tiny import make_triples


def test_batches_are_seeded_and_never_repeat_a_query_or_passage():
    triples = make_triples(50, repeat_queries=True)  # pairs of triples share their English query
    batches = make_batches(triples, 8, seed=42)
    assert batches == make_batches(triples, 8, seed=42)
    assert batches != make_batches(triples, 8, seed=7)
    seen = [i for _, b in batches for i in b]
    assert sorted(seen) == list(range(50))  # every triple once per epoch
    for _, batch in batches:
        queries = [triples[i].query_en for i in batch]
        assert len(set(queries)) == len(queries)
        assert len({triples[i].passage_tgt for i in batch}) == len(batch)
    two = make_batches(triples, 8, seed=42, epochs=2)
    assert {e for e, _ in two} == {0, 1}
    assert [b for e, b in two if e == 0] == [b for _, b in batches]
    assert [b for e, b in two if e == 1] != [b for _, b in batches]  # reshuffled each epoch


def test_a_clashing_triple_waits_for_a_later_batch():
    # triples 0 and 1 share their query: 4 triples, batch 4 → they cannot train together
    triples = make_triples(4, repeat_queries=True)
    assert triples[0].query_en == triples[1].query_en and triples[2].query_en == triples[3].query_en
    batches = make_batches(triples, 4, seed=0)
    assert [len(b) for _, b in batches] == [2, 2]
    for _, batch in batches:
        assert len({triples[i].query_en for i in batch}) == 2


def test_linear_schedule_with_warmup():
    f = linear_schedule(total_steps=20, warmup_steps=3)
    factors = [f(s) for s in range(20)]
    assert factors[:4] == pytest.approx([1 / 3, 2 / 3, 1.0, 1.0])
    assert all(a >= b for a, b in zip(factors[2:], factors[3:]))
    assert factors[-1] == pytest.approx(1 / 17) and factors[-1] > 0


def test_two_ranks_share_the_batches_round_robin():
    triples = make_triples(40)
    one = plan_batches(triples, 8, seed=42, epochs=1)
    assert (one.total_steps, one.steps_per_epoch, one.examples_trained, one.examples_not_trained) == (5, 5, 40, 0)
    assert one.mine == one.batches
    ranks = [plan_batches(triples, 8, seed=42, epochs=1, world=2, rank=r) for r in (0, 1)]
    assert [p.total_steps for p in ranks] == [2, 2]  # 5 batches: the fifth fills no round and is dropped
    assert ranks[0].mine == [one.batches[0], one.batches[2]] and ranks[1].mine == [one.batches[1], one.batches[3]]
    assert ranks[0].examples_trained == 32 and ranks[0].examples_not_trained == 8
    assert ranks[0].fingerprint == ranks[1].fingerprint == one.fingerprint  # the run's batches, not the rank's
    assert plan_batches(triples, 8, seed=43, epochs=1).fingerprint != one.fingerprint
    assert plan_batches(triples, 4, seed=42, epochs=1).fingerprint != one.fingerprint


def test_data_that_forms_no_batch_is_an_error_naming_its_source():
    same = make_triples(1) * 3  # three copies of one triple: every pair clashes
    with pytest.raises(TrainingDataError, match="no batch of 2 or more triples .* of my.jsonl"):
        plan_batches(same, 8, seed=0, epochs=1, source="my.jsonl")
    with pytest.raises(ValueError, match="cannot be shared among 4 processes"):
        plan_batches(make_triples(16), 8, seed=0, epochs=1, world=4)
