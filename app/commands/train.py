"""``reid train``: train TF-CLIP on a video-ReID dataset (implemented in ``training``)."""

from __future__ import annotations

import argparse
import os

from app.commands._common import UserError, say


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "train", help="train TF-CLIP on MARS / LS-VID / iLIDS-VID / PRID-2011 / synthetic data",
        description="Train TF-CLIP. Settings come from the defaults (the paper's MARS recipe), "
        "then --config, then the explicit flags, then key=value overrides "
        "(e.g. epochs=10 dataset_options.split_index=3). Use torchrun for multi-GPU.")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides")
    parser.add_argument("--config", help="YAML or JSON config file")
    parser.add_argument("--dataset", help="dataset name (mars, lsvid, ilidsvid, prid2011, synthetic)")
    parser.add_argument("--root", help="dataset folder")
    parser.add_argument("--output-dir", help="run folder (checkpoints, metrics, plots)")
    parser.add_argument("--resume", action="store_true", help="continue from <output-dir>/last.pt")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from training import load_config, run_training

    overrides = list(args.overrides)
    for key, value in (("dataset", args.dataset), ("root", args.root),
                       ("output_dir", args.output_dir)):
        if value is not None:
            overrides.insert(0, f"{key}={value}")
    if args.resume:
        overrides.append("resume=true")
    cfg = load_config(args.config, overrides)
    if not cfg.root:
        raise UserError("no dataset folder: pass --root DIR (or root: in the config file)")
    summary = run_training(cfg, progress=not args.no_progress)
    if int(os.environ.get("RANK", "0")) != 0:  # under torchrun only rank 0 reports
        return 0
    ev = summary.get("last_eval") or {}
    if ev:
        say(f"mAP {100 * ev['mAP']:.1f}  Rank-1 {100 * ev['rank1']:.1f}  "
              f"({ev['sampling']} sampling, last evaluation)")
    say(f"run folder: {summary['output_dir']}")
    return 0
