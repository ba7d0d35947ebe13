"""Datasets: parallel passages + questions for evaluation, triples for training.

    from xldiag.data import load_dataset, load_triples, DATASETS
    ds = load_dataset("xquad", ["en", "de"], limit=100)
    triples = load_triples("mlqa-r", ["de", "zh"])

File layouts and the JSONL formats for one's own data: docs/DATA_FORMATS.md.
"""

from xldiag.data.dataset import DataFormatError, DatasetError, ParallelDataset, ParallelismError
from xldiag.data.jsonl import load_jsonl_dataset, write_jsonl_dataset
from xldiag.data.inventory import inventory
from xldiag.data.registry import DATASETS, DatasetSpec, load_dataset, resolve
from xldiag.data.triples import (
    Triple,
    Triples,
    TriplesFormatError,
    TriplesReport,
    TriplesWarning,
    load_triples,
    write_triples_jsonl,
)

__all__ = [
    "DATASETS",
    "DataFormatError",
    "DatasetError",
    "DatasetSpec",
    "ParallelDataset",
    "ParallelismError",
    "Triple",
    "Triples",
    "TriplesFormatError",
    "TriplesReport",
    "TriplesWarning",
    "inventory",
    "load_dataset",
    "load_jsonl_dataset",
    "load_triples",
    "resolve",
    "write_jsonl_dataset",
    "write_triples_jsonl",
]
