"""Training and evaluation present texts to the model identically, for every model family.

Evaluation embeds through `xldiag.embeddings.Encoder` (`model.encode(texts,
**family.encode_kwargs(role, model.prompts))`); training tokenises through
`xldiag.training.st_adapter.resolve_prompts` / `resolve_tasks` / `batch_features`. For each family a
tiny stand-in model (the 2-layer BERT of tests/training/tiny.py, in a folder named like the family, with the
family's kind of sentence-transformers prompts) is run through both paths, and every call into
`SentenceTransformer.preprocess` — prompt, task and the token ids it produced — is compared.
"""

from __future__ import annotations

import json

import pytest

from xldiag.models import family_of

from training.tiny import family_stand_in, make_triples

# (folder name, expected family, the model's own prompts, its default_prompt_name,
#  expected query prefix, expected passage prefix, expected query task, expected passage task)
CASES = [
    # e5: the family's explicit prefixes, whatever the model folder says
    ("multilingual-e5-tiny", "multilingual-e5", {}, None, "query: ", "passage: ", None, None),
    # bge-m3 and gte: no prompts (the real models have none)
    ("bge-m3-tiny", "bge-m3", {}, None, "", "", None, None),
    ("gte-multilingual-tiny", "gte-multilingual", {}, None, "", "", None, None),
    # jina v3: the task adapters, and the model's own prompt named after each task (eval passes
    # prompt_name=task; training used to pass no prompt at all)
    ("jina-embeddings-v3-tiny", "jina-embeddings-v3",
     {"retrieval.query": "query : w1 ", "retrieval.passage": "passage : w2 "}, None,
     "query : w1 ", "passage : w2 ", "retrieval.query", "retrieval.passage"),
    # an unknown model: its own query / document prompts
    ("generic-tiny", "generic", {"query": "query : w3 ", "document": "passage : w4 "}, None,
     "query : w3 ", "passage : w4 ", None, None),
    # an unknown model whose prompts apply through default_prompt_name (encode() uses it implicitly)
    ("generic-default-tiny", "generic", {"always": "w5 w6 "}, "always", "w5 w6 ", "w5 w6 ", None, None),
]




@pytest.fixture
def preprocess_calls(monkeypatch):
    """Every SentenceTransformer.preprocess call as (texts, prompt or "", task, token ids per text)."""
    from sentence_transformers import SentenceTransformer

    calls = []
    original = SentenceTransformer.preprocess

    def spy(self, inputs, prompt=None, **kwargs):
        features = original(self, inputs, prompt=prompt, **kwargs)
        ids = [[int(i) for i, keep in zip(row, mask) if keep]
               for row, mask in zip(features["input_ids"].tolist(), features["attention_mask"].tolist())]
        calls.append((list(inputs), prompt or "", kwargs.get("task"), ids))
        return features

    monkeypatch.setattr(SentenceTransformer, "preprocess", spy)
    return calls


@pytest.mark.parametrize("name,family,prompts,default,query_prefix,passage_prefix,query_task,passage_task", CASES,
                         ids=[c[0] for c in CASES])
def test_training_tokenises_exactly_as_evaluation_encodes(tmp_path_factory, preprocess_calls, name, family, prompts,
                                                          default, query_prefix, passage_prefix, query_task,
                                                          passage_task):
    from xldiag.data import Triple
    from xldiag.embeddings import Encoder
    from xldiag.training import TrainConfig
    from xldiag.training.st_adapter import (batch_features, load_sentence_transformer, resolve_prompts,
                                            resolve_tasks)

    root = tmp_path_factory.mktemp("families")
    path = family_stand_in(root / name, prompts, default)
    assert family_of(path).name == family
    query, passage = "w10 w11 w12", "w13 w14 w15 w16"

    encoder = Encoder(str(path), device="cpu", cache_root=root / "embeddings", trust_remote_code=True,
                      show_progress=False)
    encoder.encode([query], "query")
    encoder.encode([passage], "passage")
    # Encoding tokenises each text twice (once to count its tokens, once for the model): the same call.
    evaluation = [c for i, c in enumerate(preprocess_calls) if i == 0 or c != preprocess_calls[i - 1]]
    preprocess_calls.clear()

    cfg = TrainConfig(model=str(path), trust_remote_code=True)
    model = load_sentence_transformer(str(path), "cpu", trust_remote_code=True)
    prompts_used, tasks_used = resolve_prompts(cfg, model), resolve_tasks(cfg, model)
    batch_features(model, [Triple("0", "zh", query, passage, "w17")], ("query", "passage_en"),
                   prompts_used[0], prompts_used[1], "cpu", tasks_used)
    training = list(preprocess_calls)

    assert evaluation == [([query], query_prefix, query_task, evaluation[0][3]),
                          ([passage], passage_prefix, passage_task, evaluation[1][3])]
    assert training == evaluation  # same texts, prompts, tasks and token ids
    assert prompts_used == (query_prefix, passage_prefix) and tasks_used == (query_task, passage_task)
    if query_prefix:  # the prompt really is in the token ids, not only passed along
        bare = model.tokenizer(query)["input_ids"]
        assert len(evaluation[0][3][0]) > len(bare)


def test_a_tuned_checkpoint_is_evaluated_with_the_prompts_it_was_trained_with(tiny_model, tmp_path):
    """Prompt overrides in the training config are recorded in final/'s manifest, so family_of(final/)
    — hence its evaluation — uses them, not the family's defaults."""
    from xldiag.training import TrainConfig, train

    cfg = TrainConfig(model=str(tiny_model), langs=["de", "zh"], batch_size=8, out=str(tmp_path / "run"), eval=False,
                      lr=1e-3, threads=1, query_prompt="w7 ", passage_prompt="w8 ")
    run_dir = train(cfg, triples=make_triples(16))
    resolved = json.loads((run_dir / "config.json").read_text())["resolved"]
    assert (resolved["query_prompt"], resolved["passage_prompt"]) == ("w7 ", "w8 ")
    tuned = family_of(run_dir / "final")
    assert tuned.prompts() == {"query": "w7 ", "passage": "w8 "}
    assert family_of(tiny_model).prompts() == {"query": "query: ", "passage": "passage: "}  # the base's own
