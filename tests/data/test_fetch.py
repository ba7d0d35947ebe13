"""`data fetch` / `data list` against a loopback HTTP server that serves the real data folder."""

from __future__ import annotations

import filecmp
import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from xldiag import cli
from xldiag.commands import data_cmd
from xldiag.data import load_dataset, load_triples
from xldiag.data.fetch import FetchError, fetch_dataset

XQUAD_LANGS = ["ar", "de", "el", "en", "es", "hi", "ro", "ru", "th", "tr", "vi", "zh"]


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep test output clean
        pass


def _serve(folder):
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)  # loopback only, random free port
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture(autouse=True)
def no_proxy_for_loopback(monkeypatch):
    # A proxy configured in the environment must not intercept the loopback server.
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture(scope="module")
def mirror(data_dir):
    """Base URL of a local HTTP server over the shared data folder."""
    server, url = _serve(data_dir)
    yield url
    server.shutdown()
    server.server_close()


def run_cli(monkeypatch, argv) -> int:
    # Only the data command registered (cli imports every command module: a broken one is an error).
    monkeypatch.setattr(cli, "COMMANDS", (data_cmd,))
    return cli.main(argv)


def test_fetch_xquad_cli_matches_originals(data_dir, mirror, tmp_path, monkeypatch, capsys):
    target = tmp_path / "fresh"  # does not exist yet: fetch creates it
    rc = run_cli(monkeypatch, ["data", "fetch", "xquad", "--data-dir", str(target), "--base-url", f"{mirror}/xquad"])
    assert rc == 0
    assert capsys.readouterr().out.count("downloaded") == 12
    for lang in XQUAD_LANGS:
        assert filecmp.cmp(target / f"xquad/xquad.{lang}.json", data_dir / f"xquad/xquad.{lang}.json", shallow=False)
    fetched = load_dataset("xquad", XQUAD_LANGS, data_dir=target)
    original = load_dataset("xquad", XQUAD_LANGS, data_dir=data_dir)
    assert fetched.passages == original.passages and fetched.questions == original.questions
    assert np.array_equal(fetched.question_passage, original.question_passage)
    assert not list((target / "xquad").glob(".*"))  # no temporary files left

    # Second run: everything present and valid, nothing downloaded.
    results = fetch_dataset("xquad", data_dir=target, base_url=f"{mirror}/xquad")
    assert {r.status for r in results} == {"present"}

    # A truncated file is not "present": it is downloaded again.
    broken = target / "xquad/xquad.de.json"
    broken.write_bytes(broken.read_bytes()[:1000])
    results = fetch_dataset("xquad", ["de", "en"], data_dir=target, base_url=f"{mirror}/xquad")
    assert [r.status for r in results] == ["downloaded", "present"]
    assert filecmp.cmp(broken, data_dir / "xquad/xquad.de.json", shallow=False)


def test_fetch_404_names_url_and_leaves_no_file(mirror, tmp_path, monkeypatch, capsys):
    base = f"{mirror}/belebele"
    with pytest.raises(FetchError, match=r"belebele/zho_Hans\.jsonl: HTTP 404") as err:
        fetch_dataset("belebele", ["en", "zh"], data_dir=tmp_path, base_url=base)
    assert base in str(err.value) and "1 of 2 downloads failed" in str(err.value)
    assert (tmp_path / "belebele/eng_Latn.jsonl").is_file()  # the other language still came
    assert sorted(p.name for p in (tmp_path / "belebele").iterdir()) == ["eng_Latn.jsonl"]

    # Through the CLI: one line "error: ..." naming the URL, exit status 2.
    rc = run_cli(monkeypatch, ["data", "fetch", "belebele", "--langs", "ar", "--data-dir", str(tmp_path),
                               "--base-url", base])
    assert rc == 2
    assert f"{base}/arb_Arab.jsonl: HTTP 404" in capsys.readouterr().err
    assert not (tmp_path / "belebele/arb_Arab.jsonl").exists()


def test_fetch_rejects_invalid_content(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    (served / "xquad.en.json").write_text("<html>not json</html>", encoding="utf-8")
    server, url = _serve(served)
    try:
        with pytest.raises(FetchError, match=r"xquad\.en\.json: the downloaded file is not valid"):
            fetch_dataset("xquad", ["en"], data_dir=tmp_path / "data", base_url=url)
    finally:
        server.shutdown()
        server.server_close()
    assert not list((tmp_path / "data/xquad").iterdir())


def test_fetch_mlqa_and_belebele_then_load(data_dir, mirror, tmp_path):
    fetch_dataset("mlqa-r", "en,de", data_dir=tmp_path, base_url=f"{mirror}/mlqa-r")
    assert len(load_triples("mlqa-r", ["de"], data_dir=tmp_path)) == 512
    fetch_dataset("belebele", ["en", "de"], data_dir=tmp_path, base_url=f"{mirror}/belebele")
    assert load_dataset("belebele", ["en", "de"], data_dir=tmp_path).n_questions == 900


def test_fetch_unknown_dataset(tmp_path):
    with pytest.raises(ValueError, match="xquad, belebele, mlqa-r"):
        fetch_dataset("squad", data_dir=tmp_path)


def test_data_list(data_dir, monkeypatch, capsys):
    assert run_cli(monkeypatch, ["data", "list", "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out
    assert "  en         240      1190       -  xquad/xquad.en.json" in out
    assert "  de         488       900       -  belebele/deu_Latn.jsonl" in out
    assert "  zh         443       504     504  mlqa-r/zh.json" in out
    assert "not present: ar, el" in out
