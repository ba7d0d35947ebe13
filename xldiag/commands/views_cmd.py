"""`python -m xldiag views DIR [--with OTHER]`: write the derived views the dashboard pages read
(xldiag.views) for an evaluation folder — one from before they existed, or one whose views were
interrupted — and with --with the joint map of DIR's model and OTHER's (cached per model pair).

`python -m xldiag eval` writes DIR's views itself; this is the same code, run as a job in DIR
(kind "views": the evaluation stays readable meanwhile; the dashboard's "Compute the views"
button launches exactly this command).
"""

from __future__ import annotations

import sys
from pathlib import Path

from xldiag import jobs, views
from xldiag.atomic import read_json
from xldiag.embeddings import Encoder
from xldiag.fixes.registry import variant_or_none
from xldiag.vocab import CONFIG_FILE, VIEWS_KIND


def register(subparsers) -> None:
    parser = subparsers.add_parser("views", help="compute the dashboard's views of an evaluation (maps, alignment)",
                                   description="Write DIR/views (alignment tables, PCA and UMAP maps, language "
                                   "preference) from the embedding cache; with --with, the joint map of two models.")
    parser.add_argument("folder", help="an evaluation folder (written by `python -m xldiag eval --out`)")
    parser.add_argument("--with", dest="other", default=None,
                        help="a second evaluation (same dataset and --limit): fit one map on both models")
    parser.add_argument("--data-dir", default=None, help="data folder (default: $XLDIAG_DATA_DIR)")
    parser.add_argument("--trust-remote-code", action="store_true",
                        help="allow models whose code lives in their hub repository")
    parser.set_defaults(func=run)


def encoder_for(folder: Path, trust_remote_code: bool) -> Encoder:
    """The Encoder of the model `folder` evaluated; a warning when its cache fingerprint is not the
    evaluation's (other prompts or files: the views would be computed from other vectors)."""
    cfg = read_json(folder / CONFIG_FILE)
    if cfg is None:
        raise FileNotFoundError(f"{folder} has no {CONFIG_FILE}: not a finished evaluation.")
    if variant_or_none(cfg["model"]) is not None:  # its vectors are corrected per language set at evaluation
        raise ValueError(f"{folder} evaluated the fix variant {cfg['model']}: its views are written by its evaluation "
                         f"(re-run `python -m xldiag eval --model {cfg['model']} ...` into a new folder); this command "
                         "computes views of plain models and checkpoints only.")
    encoder = Encoder(cfg["model"], trust_remote_code=trust_remote_code, show_progress=False)
    if cfg.get("fingerprint") and encoder.fingerprint != cfg["fingerprint"]:
        print(f"warning: {cfg['model']} now has cache fingerprint {encoder.fingerprint}, the evaluation in {folder} "
              f"used {cfg['fingerprint']} (other prompts, files or cache format); its texts are re-encoded.",
              file=sys.stderr)
    return encoder


def run(args) -> int:
    folder = Path(args.folder)
    encoder = encoder_for(folder, args.trust_remote_code)
    if args.other:
        other = Path(args.other)
        other_encoder = encoder_for(other, args.trust_remote_code)
        target = views.joint_map_dir([read_json(f / CONFIG_FILE).get("fingerprint") for f in (folder, other)],
                                     read_json(folder / CONFIG_FILE).get("dataset"),
                                     read_json(folder / CONFIG_FILE).get("limit"))
        with jobs.Job(target, VIEWS_KIND) as job:
            out = views.write_joint_map(folder, other, encoder, other_encoder, progress=job.progress,
                                        data_dir=args.data_dir)
        print(f"wrote the joint map of {folder} and {other} in {out}", file=sys.stderr)
        return 0
    with jobs.Job(folder, VIEWS_KIND) as job:
        views.write_views(folder, encoder, progress=lambda m, f: job.progress(m, f, phase=VIEWS_KIND),
                          data_dir=args.data_dir)
    print(f"wrote {views.views_dir(folder)}", file=sys.stderr)
    return 0
