"""Fine-tuning for cross-lingual alignment: the seed paper's √JSD + InfoNCE (§4, Appendix C).

    from xldiag.training import TrainConfig, train
    run_dir = train(TrainConfig(model="default", data="mlqa-r", langs=["zh"], limit=512,
                                max_seq_length=128, out="cache/runs/demo"))

    config.py       TrainConfig (every option, its checks, reading it back; no torch)
    batching.py     make_batches (the no-duplicate batch sampler), the ranks' share, the schedule
    st_adapter.py   the sentence-transformers side: prompts, the Embedder (up to the final
                    Normalize), tokenising, the loss terms, freezing, checkpointing, saving
    distributed.py  the process group, collectives, RNG state
    trainer.py      Trainer: prepare → step → checkpoint → finish; train()
    evaluation.py   base vs tuned after training (xldiag.evaluate + xldiag.tables)
    launch.py       launch(): the same run as a detached job

The run folder's layout is `xldiag.runs`; its status, lock and stop requests are `xldiag.jobs`.
Importing this package does not load torch. See docs/TRAINING.md.
"""

from xldiag.training.batching import (BatchPlan, TrainingDataError, batches_fingerprint, linear_schedule,
                                      make_batches, plan_batches)
from xldiag.training.config import TrainConfig, load_config_file, saved_config
from xldiag.training.evaluation import evaluate_base_and_tuned
from xldiag.training.launch import launch
from xldiag.training.trainer import NonFiniteLossError, Trainer, param_groups, train

__all__ = [
    "BatchPlan", "NonFiniteLossError", "TrainConfig", "Trainer", "TrainingDataError", "batches_fingerprint",
    "evaluate_base_and_tuned", "launch", "linear_schedule", "load_config_file", "make_batches", "param_groups",
    "plan_batches", "saved_config", "train",
]
