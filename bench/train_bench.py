"""Step time of xldiag's training loop against a bare PyTorch loop over the same batches and loss.

    XLDIAG_DATA_DIR=../shared/data python bench/train_bench.py                 # default model
    python bench/train_bench.py --tiny --steps 40 --threads 1                 # tiny random BERT

Both loops see the same triples, the same batches (`xldiag.training.make_batches`), the same
tokenisation, model modules, loss (`xldiag.losses.alignment_loss`), gradient clipping, AdamW and
schedule, each on its own copy of the model. The bare loop does nothing else; ours
(`xldiag.training.train`) also writes one flushed JSON line per step, checks for a stop request,
keeps status.json fresh and saves the model at the end (not timed).

`--mode interleaved` (default) runs them step by step in one process: each step of our loop first
runs one step of the bare loop (from a hook on its first call, `batch_features`), and our step
time is the time between our metric lines minus that bare step. Load from other processes on a shared machine then hits
both loops alike, which separate runs cannot ensure. `--mode alternate` runs whole loops in turn
(ours, bare, ours, bare, ...). The first step of each loop is warm-up and not counted. Times are
wall clock and CPU time of this process (all threads). Target: ours / bare ≤ 1.1.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


class BareLoop:
    """The reference: the same work as one training step, written as plainly as possible."""

    def __init__(self, model_path: str, triples, args):
        import torch

        from xldiag.training import TrainConfig, linear_schedule, make_batches, param_groups
        from xldiag.training.st_adapter import load_sentence_transformer, resolve_prompts

        torch.manual_seed(42)
        self.triples = triples
        self.model = load_sentence_transformer(model_path, "cpu")
        self.model.max_seq_length = args.max_seq_length
        self.model.train()
        self.prompts = resolve_prompts(TrainConfig(model=model_path), self.model)
        self.body = list(self.model.children())[:-1]  # everything but the final Normalize
        self.batches = make_batches(triples, args.batch_size, seed=42)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(param_groups(self.model, 0.01), lr=args.lr, betas=(0.9, 0.99))
        warmup = int(0.15 * len(self.batches) + 0.999)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, linear_schedule(len(self.batches), warmup))
        self.k = 0

    def embed(self, texts, prompt):
        features = self.model.preprocess(texts, prompt=prompt)
        for module in self.body:
            features = module(features)
        return features["sentence_embedding"]

    def step(self) -> tuple[float, float]:
        """One optimizer step; returns its (wall, CPU) seconds."""
        import torch

        from xldiag.losses import alignment_loss

        wall, cpu = time.perf_counter(), time.process_time()
        batch = [self.triples[i] for i in self.batches[self.k][1]]
        self.k += 1
        query = self.embed([t.query_en for t in batch], self.prompts[0])
        passages = self.embed([t.passage_en for t in batch] + [t.passage_tgt for t in batch], self.prompts[1])
        n = len(batch)
        losses = alignment_loss("full", query, passages[:n], passages[n:])
        self.optimizer.zero_grad(set_to_none=True)
        losses["loss"].backward()
        torch.nn.utils.clip_grad_norm_(self.params, 1.0)
        values = torch.stack([losses["loss"].detach(), losses["jsd"].detach(), losses["nce"].detach()]).tolist()
        assert all(v == v for v in values)
        self.optimizer.step()
        self.scheduler.step()
        return time.perf_counter() - wall, time.process_time() - cpu

    def run(self) -> tuple[list[float], list[float]]:
        times = [self.step() for _ in self.batches]
        return [w for w, _ in times[1:]], [c for _, c in times[1:]]


def our_loop(model_path: str, triples, args, out: Path, hook=None) -> tuple[list[float], list[float]]:
    """xldiag.training.train; per-step (wall, CPU) from metrics.jsonl, minus `hook`'s own time."""
    from xldiag import runs
    from xldiag.training import TrainConfig, st_adapter, train

    inside: list[tuple[float, float]] = []
    original = st_adapter.batch_features  # the first thing each of our steps does
    if hook is not None:
        def batch_features(*a, **kw):
            inside.append(hook())
            return original(*a, **kw)

        st_adapter.batch_features = batch_features
    try:
        cfg = TrainConfig(
            model=model_path, langs=sorted({t.lang for t in triples}), batch_size=args.batch_size,
            max_seq_length=args.max_seq_length, lr=args.lr, eval=False, save_every=10**9, out=str(out),
            threads=args.threads)
        run_dir = train(cfg, triples=triples, log=lambda message: None)
    finally:
        st_adapter.batch_features = original
    metrics = runs.read_metrics(run_dir)
    wall, cpu = list(metrics["elapsed"]), list(metrics["cpu_time"])
    wall = [b - a for a, b in zip(wall, wall[1:])]
    cpu = [b - a for a, b in zip(cpu, cpu[1:])]
    if inside:
        wall = [w - h[0] for w, h in zip(wall, inside[1:])]
        cpu = [c - h[1] for c, h in zip(cpu, inside[1:])]
    return wall, cpu


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="default")
    parser.add_argument("--tiny", action="store_true", help="a tiny random BERT built in code (fast, no data)")
    parser.add_argument("--data", default="mlqa-r")
    parser.add_argument("--langs", default="zh")
    parser.add_argument("--steps", type=int, default=8, help="batches per loop (default 8)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-seq-length", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-5)
    parser.add_argument("--mode", choices=("interleaved", "alternate"), default="interleaved")
    parser.add_argument("--repeats", type=int, default=1, help="loops of each (default 1)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", default=None, help="also write the result to this file")
    args = parser.parse_args(argv)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    timings = {"ours": {"wall": [], "cpu": []}, "bare": {"wall": [], "cpu": []}}

    def add(name, wall, cpu):
        timings[name]["wall"] += wall
        timings[name]["cpu"] += cpu
        print(f"{name}: median {statistics.median(wall):.4f} s/step wall, {statistics.median(cpu):.4f} CPU",
              file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="xldiag-train-bench-") as tmp:
        workdir = Path(tmp)
        if args.tiny:
            sys.path.insert(0, str(ROOT / "tests"))
            from training.tiny import make_tiny_model, make_triples

            model_path = str(make_tiny_model(workdir / "tiny"))
            triples = make_triples(args.steps * args.batch_size)
        else:
            from xldiag.data import load_triples

            model_path = args.model
            triples = list(load_triples(args.data, args.langs.split(","), limit=args.steps * args.batch_size * 4))
            triples = triples[::4][: args.steps * args.batch_size]  # nearby MLQA questions share passages
        for k in range(args.repeats):
            if args.mode == "interleaved":
                bare = BareLoop(model_path, triples, args)
                bare_times = []

                def hook():
                    bare_times.append(bare.step())
                    return bare_times[-1]

                add("ours", *our_loop(model_path, triples, args, workdir / f"ours-{k}", hook=hook))
                add("bare", [w for w, _ in bare_times[1:]], [c for _, c in bare_times[1:]])
                del bare
            else:
                add("ours", *our_loop(model_path, triples, args, workdir / f"ours-{k}"))
                add("bare", *BareLoop(model_path, triples, args).run())
    med = {name: {kind: statistics.median(t[kind]) for kind in ("wall", "cpu")} for name, t in timings.items()}
    result = {
        "model": "tiny" if args.tiny else args.model, "mode": args.mode, "batch_size": args.batch_size,
        "max_seq_length": args.max_seq_length, "steps_timed_each": len(timings["ours"]["wall"]),
        "threads": torch.get_num_threads(),
        "ours_wall_s_per_step": med["ours"]["wall"], "bare_wall_s_per_step": med["bare"]["wall"],
        "ours_cpu_s_per_step": med["ours"]["cpu"], "bare_cpu_s_per_step": med["bare"]["cpu"],
        "ratio_wall": med["ours"]["wall"] / med["bare"]["wall"],
        "ratio_cpu": med["ours"]["cpu"] / med["bare"]["cpu"],
        "target": 1.1,
        "ours_wall_steps": timings["ours"]["wall"], "bare_wall_steps": timings["bare"]["wall"],
    }
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
