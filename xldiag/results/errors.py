"""What can go wrong when reading results, and what a user should read about any library error.

The run-folder errors are raised by `store`; `explain` turns any exception the library raises
into one sentence and a way forward (the dashboard shows both instead of a traceback).
"""

from __future__ import annotations

from xldiag.config import DataDirError
from xldiag.models import ModelLoadError
from xldiag.vocab import DATA_DIR_ENV


class RunFolderError(ValueError):
    """A folder cannot be read as an evaluation run; the message says why and what to do."""


class RunFormatError(RunFolderError):
    """The folder was written by an older (or unknown) version of xldiag."""


class RunIncompleteError(RunFolderError):
    """The evaluation has not finished writing (still running, stopped, or interrupted)."""


MODEL_ADVICE = ("Pick `default` (the embedded multilingual-e5-small), a finished fine-tuning checkpoint or a "
                "local sentence-transformers folder in the sidebar; offline, hub names work only when already "
                "downloaded.")
MODEL_WORDS = ("model", "repository", "repo", "huggingface", "hub", "not a local folder", "does not appear to have")


def explain(err: BaseException) -> tuple[str, str]:
    """(message, way forward) for an exception raised by the library, in the dashboard's words."""
    text = str(err) or type(err).__name__
    low = text.lower()
    if isinstance(err, DataDirError):
        return text, (f"Set {DATA_DIR_ENV} before starting the dashboard "
                      f"(`{DATA_DIR_ENV}=../shared/data streamlit run app.py`) or enter the folder "
                      "under **Data folder** in the sidebar.")
    if "trust_remote_code" in low or "remote code" in low:
        return (f"This model needs code from its hub repository: {text}",
                "Tick **Allow remote code** in the sidebar only if you trust that repository, or pick another model.")
    if isinstance(err, ModelLoadError) or isinstance(err, ImportError) and "model" in low:
        return text, MODEL_ADVICE
    if isinstance(err, RunFormatError):
        return text, "Run the evaluation again on the **Overview** page (Run evaluation)."
    if isinstance(err, RunIncompleteError):
        return text, "Watch it on the **Overview** page; this page fills in when it finishes."
    if isinstance(err, RunFolderError):
        return text, "Pick another evaluation in the sidebar, or run one on the **Overview** page."
    if isinstance(err, (OSError, ValueError)) and any(word in low for word in MODEL_WORDS):
        return f"The model could not be loaded: {text}", MODEL_ADVICE
    return f"{type(err).__name__}: {text}", "Check the inputs in the sidebar; the server log has the details."
