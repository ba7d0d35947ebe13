"""Settings: the data folder (explicit or $XLDIAG_DATA_DIR), the cache folder, the device."""

from __future__ import annotations

import pytest

from xldiag import config
from xldiag.vocab import CACHE_DIR_ENV, DATA_DIR_ENV


def test_data_dir_explicit_wins_over_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "from-env"))
    (tmp_path / "explicit").mkdir()
    assert config.data_dir(tmp_path / "explicit") == (tmp_path / "explicit").resolve()


def test_data_dir_errors_say_what_to_do(tmp_path, monkeypatch):
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    with pytest.raises(config.DataDirError, match="pass --data-dir DIR or set XLDIAG_DATA_DIR"):
        config.data_dir()
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "nope"))
    with pytest.raises(config.DataDirError, match=r"nope \(from \$XLDIAG_DATA_DIR\) does not exist"):
        config.data_dir()
    with pytest.raises(config.DataDirError, match=r"\(from --data-dir\)"):
        config.data_dir(tmp_path / "also-nope")
    assert issubclass(config.DataDirError, FileNotFoundError)  # the CLI prints it as one line


def test_cache_dir_follows_the_environment_and_is_created(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "cache"))
    assert config.cache_dir() == (tmp_path / "cache").resolve() and (tmp_path / "cache").is_dir()
    monkeypatch.delenv(CACHE_DIR_ENV)
    assert config.cache_dir() == config.PROJECT_ROOT / "cache"


def test_device_prefers_an_explicit_choice_then_cuda_when_present(monkeypatch):
    import torch

    assert config.device("cpu") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert config.device() == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert config.device() == "cpu"


def test_device_needs_no_torch_on_a_machine_without_an_nvidia_driver(monkeypatch):
    import sys

    monkeypatch.delitem(sys.modules, "torch")  # as in a fresh process that has not imported it
    monkeypatch.setattr(config, "_nvidia_driver", lambda: False)
    assert config.device() == "cpu" and "torch" not in sys.modules
    # With a driver, torch decides (a stand-in torch here: the real one cannot be imported twice).
    from types import SimpleNamespace

    monkeypatch.setattr(config, "_nvidia_driver", lambda: True)
    monkeypatch.setitem(sys.modules, "torch", SimpleNamespace(cuda=SimpleNamespace(is_available=lambda: True)))
    assert config.device() == "cuda"
