"""xldiag.results.errors.explain: every library error becomes a sentence and a way forward."""

from __future__ import annotations

import pytest

from xldiag.config import DataDirError
from xldiag.models import ModelLoadError
from xldiag.results.errors import RunFolderError, RunFormatError, RunIncompleteError, explain


@pytest.mark.parametrize("err, message, forward", [
    (DataDirError("No data folder set"), "No data folder set", "XLDIAG_DATA_DIR"),
    (ValueError("needs trust_remote_code=True"), "code from its hub repository", "Allow remote code"),
    (ModelLoadError("cannot load x"), "cannot load x", "`default`"),
    (ImportError("model package missing"), "model package missing", "`default`"),
    (RunFormatError("older xldiag"), "older xldiag", "Run the evaluation again"),
    (RunIncompleteError("has not finished"), "has not finished", "Watch it on the **Overview**"),
    (RunFolderError("no config.json"), "no config.json", "Pick another evaluation"),
    (OSError("x is not a local folder"), "The model could not be loaded", "`default`"),
    (KeyError("q1"), "KeyError: 'q1'", "server log"),
])
def test_explain(err, message, forward):
    got_message, got_forward = explain(err)
    assert message in got_message and forward in got_forward
