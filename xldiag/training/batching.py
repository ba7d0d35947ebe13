"""Which triples train together, in which order, on which process, at which learning rate.

- `make_batches` — **the no-duplicate batch sampler**: seeded shuffles, and no batch holds the same
  English query, English passage or target passage twice (a repeat would be a false negative for
  InfoNCE, whose other in-batch rows are the negatives).
- `plan_batches` — the batches shared among the processes of a (distributed) run, with the
  counts a run reports, and a fingerprint that a resume checks.
- `linear_schedule` — linear warm-up, then linear decay.

The batches are a pure function of (triples, seed, batch size, epochs): that is what lets a
resumed run continue on exactly the data order of the run it continues.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass


class TrainingDataError(ValueError):
    """The training data cannot be used (too few usable triples); the message carries the report."""


def _batch_keys(triple) -> tuple[str, str, str]:
    return ("q:" + triple.query_en.strip(), "e:" + triple.passage_en.strip(), "t:" + triple.passage_tgt.strip())


def make_batches(triples, batch_size: int, seed: int, epochs: int = 1) -> list[tuple[int, list[int]]]:
    """[(epoch, [triple indices])] — shuffled with `seed` (one permutation per epoch) and filled
    greedily so that no batch holds the same English query, English passage or target passage
    twice. A triple that clashes waits for a later batch of the same epoch; so an epoch's last
    batches can be smaller. Batches of one are dropped.
    """
    import torch

    keys = [_batch_keys(t) for t in triples]
    batches = []
    for epoch in range(epochs):
        generator = torch.Generator().manual_seed(int(seed) * 1000 + epoch)
        remaining = torch.randperm(len(triples), generator=generator).tolist()
        while remaining:
            batch, seen, leftover = [], set(), []
            for i in remaining:
                if len(batch) < batch_size and not any(k in seen for k in keys[i]):
                    batch.append(i)
                    seen.update(keys[i])
                else:
                    leftover.append(i)
            if len(batch) >= 2:
                batches.append((epoch, batch))
            elif not leftover:
                break
            remaining = leftover
    return batches


def batches_fingerprint(triples, batches) -> str:
    """A short hash of the triples' (lang, id) and the batch list: a resume refuses to go on when
    it differs (other data, seed, batch size or number of processes)."""
    digest = hashlib.sha1()
    for triple in triples:
        digest.update(f"{triple.lang}\t{triple.id}\n".encode())
    digest.update(json.dumps(batches).encode())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class BatchPlan:
    """One process's share of a run's batches: rank r takes batches r, r+W, r+2W, … of all."""

    batches: list  # every (epoch, indices) of the run, all ranks
    mine: list  # this rank's, one per optimizer step
    total_steps: int
    steps_per_epoch: int
    examples_trained: int  # over all ranks
    examples_not_trained: int  # batches of one, and batches no full round of ranks could share
    fingerprint: str


def plan_batches(triples, batch_size: int, seed: int, epochs: int, world: int = 1, rank: int = 0,
                 source: str = "the data") -> BatchPlan:
    """Batches for `world` processes, each running the same number of steps (leftovers that do
    not fill a round are dropped). Raises TrainingDataError (naming `source`) when no batch can
    be formed."""
    batches = make_batches(triples, batch_size, seed, epochs)
    if not batches:
        raise TrainingDataError(
            f"no batch of 2 or more triples can be formed from the {len(triples)} triples of {source}: a batch "
            "never holds the same English query, English passage or target passage twice, and these repeat them")
    total_steps = len(batches) // world
    if total_steps < 1:
        raise ValueError(f"{len(batches)} batches cannot be shared among {world} processes.")
    used = sum(len(b) for _, b in batches[: total_steps * world])
    return BatchPlan(
        batches=batches, mine=[batches[s * world + rank] for s in range(total_steps)], total_steps=total_steps,
        steps_per_epoch=max(1, sum(1 for e, _ in batches if e == 0) // world),
        examples_trained=used, examples_not_trained=len(triples) * epochs - used,
        fingerprint=batches_fingerprint(triples, batches))


def linear_schedule(total_steps: int, warmup_steps: int):
    """The learning-rate factor of step s (0-based): (s+1)/W during the W warm-up steps, then
    (T−s)/(T−W) — so no step has lr 0 and the last has lr/(T−W)."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return factor
