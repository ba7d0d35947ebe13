"""The sentence-transformers side of training: loading, the texts as the model sees them, the
vectors the losses take, memory options, and saving a model folder.

    texts ─ tokenize (the family's prompt and task, as evaluation applies them) ─▶ features
          ─ Embedder: the model's modules up to (not including) its final Normalize ─▶ pooled z
          ─ split_embeddings / compute_losses ─▶ the loss terms and the passages' ‖z‖

Prompts come from `ModelFamily.inputs`, the one resolution evaluation uses too, so training and
evaluation present the same text to the model (tests/test_prompts.py). An unknown model is the
generic family (its own prompts, the default learning rate) through `models.family_of`.
"""

from __future__ import annotations

from pathlib import Path

from xldiag import losses
from xldiag.atomic import write_json
from xldiag.jobs import now, read_json
from xldiag.models import FAMILIES, family_of, load_model
from xldiag.training.config import CPU_DEFAULT_MAX_SEQ_LENGTH, TrainConfig
from xldiag.vocab import MANIFEST_FILE, TRAINED_BY

# The manifest's "trained_by" (alignment.trained_jsd_temperature reads it): the value earlier
# versions wrote, so that their checkpoints are still recognised.


# --- loading and the family ----------------------------------------------------------------------


def load_sentence_transformer(name_or_path: str, device: str, trust_remote_code: bool = False):
    """The model through `xldiag.models.load_model` (fp32 master weights)."""
    return load_model(name_or_path, device=device, trust_remote_code=trust_remote_code)


def prompt_overrides(cfg: TrainConfig) -> dict[str, str]:
    """The config's explicit prompts ({"query": ..., "passage": ...}, only those set)."""
    return {role: value for role, value in (("query", cfg.query_prompt), ("passage", cfg.passage_prompt))
            if value is not None}


def training_family(cfg: TrainConfig):
    """The model's family (the one evaluation uses) with the config's prompt overrides."""
    return family_of(cfg.model).with_prompts(prompt_overrides(cfg))


def resolve_prompts(cfg: TrainConfig, model) -> tuple[str, str]:
    """(query prompt, passage prompt): the exact prefixes evaluation's `model.encode(...,
    **family.encode_kwargs(role, model.prompts))` applies (`ModelFamily.inputs`) — an explicit
    family prompt or config override, a task family's model prompt named after its task (jina v3's
    retrieval.query / retrieval.passage), or the model's default prompt."""
    family = training_family(cfg)
    return family.inputs("query", model)[0], family.inputs("passage", model)[0]


def resolve_tasks(cfg: TrainConfig, model=None) -> tuple[str | None, str | None]:
    """(query task, passage task) for families whose modules take `task=` (jina-embeddings-v3)."""
    family = training_family(cfg)
    return family.inputs("query", model)[1], family.inputs("passage", model)[1]


def resolve_lr(cfg: TrainConfig) -> tuple[float, str]:
    """(peak learning rate, where it came from): --lr, else the model family's."""
    if cfg.lr is not None:
        return float(cfg.lr), "--lr"
    family = family_of(cfg.model)
    return float(family.lr), f"family {family.name}"


# --- memory and length options -------------------------------------------------------------------


def device_type_of(device) -> str:
    return "cuda" if str(device).startswith("cuda") else "cpu"


def training_max_seq_length(cfg: TrainConfig, model, device) -> int | None:
    """--max-seq-length, else 128 on CPU when the model's own is longer, else the model's own."""
    if cfg.max_seq_length is not None:
        return cfg.max_seq_length
    own = model.max_seq_length
    if device_type_of(device) == "cpu" and (own or 10**9) > CPU_DEFAULT_MAX_SEQ_LENGTH:
        return CPU_DEFAULT_MAX_SEQ_LENGTH
    return own


def wants_checkpointing(cfg: TrainConfig, model, device) -> bool:
    """--gradient-checkpointing, else on for CPU runs longer than 128 tokens (activations
    dominate CPU memory there)."""
    if cfg.gradient_checkpointing is not None:
        return bool(cfg.gradient_checkpointing)
    return device_type_of(device) == "cpu" and (model.max_seq_length or 0) > CPU_DEFAULT_MAX_SEQ_LENGTH


def _hf_model(model):
    hf = getattr(model, "transformers_model", None)
    if hf is None:
        first = model[0]
        hf = getattr(first, "auto_model", None) or getattr(first, "model", None)
    return hf


def enable_checkpointing(model) -> None:
    """Activation (gradient) checkpointing on the transformer, non-reentrant (DDP-safe)."""
    hf = _hf_model(model)
    kwargs = {"use_reentrant": False}
    if hf is not None and hasattr(hf, "activation_checkpointing_enable"):
        hf.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    elif hf is not None and hasattr(hf, "gradient_checkpointing_enable"):
        hf.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)


def freeze_word_embeddings(model) -> int:
    """Freeze the word-embedding matrix (most of a multilingual model's parameters); returns its size."""
    hf = _hf_model(model)
    if hf is None or not hasattr(hf, "get_input_embeddings"):
        raise ValueError("--freeze-embeddings: this model has no Hugging Face input-embedding matrix.")
    weight = hf.get_input_embeddings().weight
    weight.requires_grad_(False)
    return weight.numel()


# --- from texts to the vectors the losses take ---------------------------------------------------


def trailing_normalize(model) -> bool:
    """Whether the model's last module is a Normalize (the Embedder stops before it)."""
    from sentence_transformers.sentence_transformer.modules import Normalize

    children = list(model.children())
    return bool(children) and isinstance(children[-1], Normalize)


def make_embedder(model):
    """The Embedder (a torch Module) over `model`; see its docstring."""
    import torch

    class Embedder(torch.nn.Module):
        """Runs the sentence-transformers modules except a final Normalize; returns, per input
        group, the pooled vector before normalisation (InfoNCE normalises; the JSD takes it raw or
        normalised). One forward call per step embeds every group, so DDP sees one forward."""

        def __init__(self, st_model):
            super().__init__()
            self.st = st_model
            children = list(st_model.children())
            self.n_body = len(children) - (1 if trailing_normalize(st_model) else 0)

        def forward(self, groups: dict):
            out = {}
            body = list(self.st.children())[: self.n_body]
            for name, features in groups.items():
                task = features.pop("_task", None)
                for module in body:
                    if task is not None and "task" in getattr(module, "forward_kwargs", ()):
                        features = module(features, task=task)
                    else:
                        features = module(features)
                out[name] = features["sentence_embedding"]
            return out

    return Embedder(model)


def tokenize(model, texts: list[str], prompt: str, device, task: str | None = None) -> dict:
    kwargs = {"task": task} if task else {}
    features = model.preprocess(texts, prompt=prompt or None, **kwargs)
    features = {k: (v.to(device, non_blocking=True) if hasattr(v, "to") else v) for k, v in features.items()}
    if task:
        features["_task"] = task
    return features


def batch_features(model, batch, needs, query_prompt: str, passage_prompt: str, device,
                   tasks: tuple[str | None, str | None] = (None, None)) -> dict:
    """Tokenised inputs for one batch: "query" (q_en) and "passages" (p_en then p_tgt, one call)."""
    groups = {}
    if "query" in needs:
        groups["query"] = tokenize(model, [t.query_en for t in batch], query_prompt, device, tasks[0])
    passages = []
    if "passage_en" in needs:
        passages += [t.passage_en for t in batch]
    if "passage_tgt" in needs:
        passages += [t.passage_tgt for t in batch]
    groups["passages"] = tokenize(model, passages, passage_prompt, device, tasks[1])
    return groups


def split_embeddings(out: dict, needs, n: int, jsd_on: str) -> tuple:
    """(query, passage_en, passage_tgt) from an Embedder output; None where not needed."""
    import torch.nn.functional as F

    query = out.get("query")
    passages = out["passages"]
    passage_en = passage_tgt = None
    if "passage_en" in needs:
        passage_en, passages = passages[:n], passages[n:]
    if "passage_tgt" in needs:
        passage_tgt = passages[:n]
    if jsd_on == "post-norm":
        passage_en = F.normalize(passage_en.float(), dim=-1) if passage_en is not None else None
        passage_tgt = F.normalize(passage_tgt.float(), dim=-1) if passage_tgt is not None else None
    return query, passage_en, passage_tgt


def passage_norms(out: dict, needs, n: int) -> dict:
    """{"norm_en", "norm_tgt"}: the batch's mean pre-normalisation ‖z‖ of the English and the
    target passages (float32, detached; None where the loss does not embed them).

    Logged every step because the pre-norm √JSD has a shortcut: softmax of a short vector is
    nearly uniform, so the JSD also falls when the encoder merely shrinks ‖z‖."""
    import torch

    passages = out["passages"].detach()
    norms = {"norm_en": None, "norm_tgt": None}
    with torch.autocast(device_type=passages.device.type, enabled=False):
        if "passage_en" in needs:
            norms["norm_en"], passages = passages[:n].float().norm(dim=-1).mean(), passages[n:]
        if "passage_tgt" in needs:
            norms["norm_tgt"] = passages[:n].float().norm(dim=-1).mean()
    return norms


def compute_losses(cfg: TrainConfig, out: dict, needs, n: int) -> dict:
    """The batch loss (xldiag.losses.alignment_loss) from the Embedder output, computed in float32
    (the loss functions switch autocast off), plus the passages' pre-norm ‖z‖ (`passage_norms`)."""
    query, passage_en, passage_tgt = split_embeddings(out, needs, n, cfg.jsd_on)
    terms = losses.alignment_loss(cfg.loss, query, passage_en, passage_tgt, temperature=cfg.temperature,
                                  jsd_eps=cfg.jsd_eps, jsd_temperature=cfg.jsd_temperature,
                                  lambda_jsd=cfg.lambda_jsd, lambda_nce=cfg.lambda_nce)
    return {**terms, **passage_norms(out, needs, n)}


# --- saving a model folder -----------------------------------------------------------------------


def manifest(cfg: TrainConfig, **fields) -> dict:
    """xldiag_manifest.json of a checkpoint: its base model (so `family_of` finds the family and
    its prompts) and how it was trained."""
    record = {"base_model": cfg.model, "trained_by": TRAINED_BY, "loss": cfg.loss, "data": cfg.data,
              "langs": list(cfg.langs), "temperature": cfg.temperature, "jsd_temperature": cfg.jsd_temperature,
              "jsd_on": cfg.jsd_on, "created": now(), **fields}
    if prompt_overrides(cfg):  # family_of(checkpoint) applies them, so it is evaluated as it was trained
        record["prompts"] = prompt_overrides(cfg)
    family = family_of(cfg.model)
    if family.name in FAMILIES:
        record["family"] = family.name
    return record


def save_model(model, path: Path, info: dict, prompts: tuple[str, str], max_seq_length: int | None = None) -> None:
    """Save a sentence-transformers folder + manifest. `max_seq_length`: the base model's own, so
    the tuned model is evaluated like its base (training truncation is a training choice only)."""
    query_prompt, passage_prompt = prompts
    training_length = model.max_seq_length
    if max_seq_length is not None:
        model.max_seq_length = max_seq_length
    roles = {"query": query_prompt, "passage": passage_prompt, "document": passage_prompt}
    extra = {role: prompt for role, prompt in roles.items() if prompt}
    try:
        model.prompts = {**(getattr(model, "prompts", None) or {}), **extra}
    except Exception:  # noqa: BLE001 - a model whose prompts cannot be set keeps its own; the manifest records ours
        pass
    try:
        model.save(str(path), create_model_card=False)
    finally:
        model.max_seq_length = training_length
    write_json(path / MANIFEST_FILE, info)


def read_manifest(model_dir: Path) -> dict:
    """A model folder's xldiag_manifest.json ({} when missing)."""
    return read_json(Path(model_dir) / MANIFEST_FILE) or {}
