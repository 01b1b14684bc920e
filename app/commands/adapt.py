"""``reid adapt``: learn from the gallery's own tracklets (no labels), then re-embed the gallery.

Each stored tracklet is a pseudo-identity (``reid.adapt.dataset``), exported in the MARS layout.
``--method head`` (default, CPU, minutes): a site head over the current descriptors
(``reid.adapt.head``). ``--method tfclip`` (GPU): TF-CLIP fine-tuned with the paper's losses on the
pseudo-identities by the ``training`` package (the CLIP-Memory is built per pseudo-identity).
Every result is kept in ``<data dir>/models/``; ``--rollback`` returns to the previous one.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.commands import reindex
from app.commands._common import UserError, open_store, progress_bar, say
from app.settings import Settings, add_settings_arguments

if TYPE_CHECKING:
    from reid.adapt import PseudoIdentities, SiteModels
    from reid.embed import Embedder


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "adapt", help="learn from the gallery's own tracklets (no labels) and re-embed the gallery")
    add_settings_arguments(p)
    p.add_argument("--method", choices=("head", "tfclip"), default="head",
                   help="head (default): a site head over the current descriptors, CPU, minutes; "
                        "tfclip: fine-tune TF-CLIP on the pseudo-identities (a GPU)")
    p.add_argument("--min-crops", type=int, default=4, help="fewest crops a tracklet needs (default 4)")
    p.add_argument("--shrinkage", type=float, default=None,
                   help="head: whitening shrinkage, larger stays closer to the current descriptor")
    p.add_argument("--refine-steps", type=int, default=None,
                   help="head: contrastive refinement steps with co-occurring tracklets as negatives")
    p.add_argument("--arch", default="tfclip-vit-b16", help="tfclip: architecture (default tfclip-vit-b16)")
    p.add_argument("--init", default="openai",
                   help="tfclip: CLIP weights tag or file, or a TF-CLIP inference checkpoint to start "
                        "from (default openai; `none`: random, for tests)")
    p.add_argument("--epochs", type=int, default=20, help="tfclip: epochs (default 20)")
    p.add_argument("--max-iters", type=int, default=0, help="tfclip: batches per epoch (0: all)")
    p.add_argument("--export-only", metavar="DIR",
                   help="only write the pseudo-identity dataset (MARS layout) to DIR, e.g. to train "
                        "on another machine with `reid train --dataset mars --root DIR`")
    p.add_argument("--no-reindex", action="store_true",
                   help="keep the new model active but leave re-embedding to `reid reindex`")
    p.add_argument("--rollback", action="store_true",
                   help="make the previously active model (or none) active again and re-embed")
    p.add_argument("--list", action="store_true", help="list the gallery's adapted models")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from reid.adapt import SiteModels

    settings = Settings.from_sources(args)
    models = SiteModels(settings.data_dir)
    if args.list:
        return _list(models)
    if args.rollback:
        try:
            now = models.rollback()
        except ValueError as exc:
            raise UserError(str(exc)) from None
        say(f"active model: {now.file if now else 'none (no adaptation)'}")
        return 0 if args.no_reindex else reindex.run(args)
    if args.min_crops < 2:
        raise UserError("--min-crops must be 2 or more")
    if args.method == "head" and (args.epochs != 20 or args.max_iters or args.init != "openai"):
        raise UserError("--epochs, --max-iters and --init belong to --method tfclip")
    if args.method == "tfclip" and (args.shrinkage is not None or args.refine_steps is not None):
        raise UserError("--shrinkage and --refine-steps belong to --method head")
    return _adapt(args, settings, models)


def _list(models: SiteModels) -> int:
    active = models.active()
    listed = models.models()
    if not listed:
        say("no adapted models: the gallery uses its embedder as it is (`reid adapt` makes one)")
    for m in listed:
        mark = "*" if active and m.file == active.file else " "
        facts = ", ".join(f"{k} {v}" for k, v in m.summary.items() if k in
                          ("method", "pseudo_identities", "hard_negative_pairs", "seconds"))
        say(f"{mark} {m.file}  {m.kind}  {m.created}  {facts}")
    return 0


def _adapt(args: argparse.Namespace, settings: Settings, models: SiteModels) -> int:
    from app.compose import site_embedder
    from reid.adapt import export_pseudo_identities

    t0 = time.perf_counter()
    with open_store(settings) as store:  # the gallery and the embedder only: no detector is built
        tracklets = store.list_tracklets(limit=None)
    embedder = site_embedder(settings)
    base: Embedder = getattr(embedder, "base", embedder)  # a new head replaces the old one
    work = Path(tempfile.mkdtemp(prefix="adapt-", dir=settings.data_dir))
    try:
        root = Path(args.export_only) if args.export_only else work / "dataset"
        try:
            data = export_pseudo_identities(tracklets, root, min_crops=args.min_crops)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        say(f"{len(data)} pseudo-identities ({sum(map(len, data.crop_paths))} crops, "
            f"{len(data.hard_negatives)} pairs seen together) -> {root}")
        if args.export_only:
            return 0
        if args.method == "head":
            source, summary = _fit_head(args, base, data, work)
        else:
            source, summary = _fine_tune(args, settings, data, work)
        summary["seconds"] = round(time.perf_counter() - t0, 1)
        model = models.add(source, args.method if args.method == "head" else "checkpoint", summary)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    say(f"active model: {model.file} ({summary['method']}, {summary['seconds']} s); "
        f"`reid adapt --rollback` returns to {model.previous or 'no adaptation'}")
    return 0 if args.no_reindex else reindex.run(args)


def _fit_head(args: argparse.Namespace, base: Embedder, data: PseudoIdentities,
              work: Path) -> tuple[Path, dict[str, Any]]:
    """Fit a site head over ``base``'s descriptors: (head file in ``work``, fit summary)."""
    from reid.adapt import DEFAULT_REFINE_STEPS, DEFAULT_SHRINKAGE, fit_site_head, save_head

    with progress_bar("embedding crops") as update:
        projection, summary = fit_site_head(
            base, data, progress=update,
            shrinkage=DEFAULT_SHRINKAGE if args.shrinkage is None else args.shrinkage,
            refine_steps=DEFAULT_REFINE_STEPS if args.refine_steps is None else args.refine_steps)
    return save_head(work / "head.pt", projection, base.fingerprint, summary), summary


def _fine_tune(args: argparse.Namespace, settings: Settings, data: PseudoIdentities,
               work: Path) -> tuple[Path, dict[str, Any]]:
    """Fine-tune TF-CLIP on the pseudo-identities: (inference checkpoint in ``work``, summary)."""
    from reid.embed.describe import inference_checkpoint_header
    from training import TrainConfig, export_inference, run_training

    # our inference checkpoint (read by its header) starts the model; anything else is CLIP weights
    init_checkpoint = args.init if inference_checkpoint_header(args.init) is not None else None
    pretrained = None if init_checkpoint or args.init == "none" else args.init
    cfg = TrainConfig(dataset="mars", root=str(data.root), model=args.arch, pretrained=pretrained,
                      init_checkpoint=init_checkpoint, epochs=args.epochs, eval_every=0,
                      warmup_epochs=min(10, max(args.epochs // 4, 0)),
                      milestones=[max(1, int(args.epochs * f)) for f in (0.4, 0.6, 0.8)],
                      max_iters_per_epoch=args.max_iters, device=settings.device,
                      num_workers=2, output_dir=str(work / "run"))
    t0 = time.perf_counter()
    run_training(cfg, progress=True)
    source = export_inference(work / "run" / "last.pt", work / "tfclip-site.pt")
    summary: dict[str, Any] = {
        "method": "TF-CLIP fine-tuned on pseudo-identities", "arch": args.arch, "init": args.init,
        "epochs": args.epochs, "pseudo_identities": len(data),
        "hard_negative_pairs": int(len(data.hard_negatives)),
        "train_seconds": round(time.perf_counter() - t0, 1)}
    return source, summary
