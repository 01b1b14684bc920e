"""``reid eval``: evaluate a checkpoint with the video-ReID protocol (CMC / mAP, spec 9)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from app.commands._common import UserError, say


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "eval", help="evaluate a checkpoint on a dataset's query/gallery split (CMC, mAP)")
    parser.add_argument("--checkpoint", required=True,
                        help="training (last.pt/best.pt) or inference (reid export) checkpoint")
    parser.add_argument("--dataset", required=True, help="mars, lsvid, ilidsvid, prid2011, synthetic")
    parser.add_argument("--root", required=True, help="dataset folder")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="dataset loader option, e.g. split_index=3 (repeatable)")
    parser.add_argument("--sampling", choices=("dense", "rrs_test"), default="dense",
                        help="dense 8-frame chunks (paper's final numbers) or one rrs_test clip")
    parser.add_argument("--rerank", action="store_true", help="k-reciprocal re-ranking")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, ... (default auto)")
    parser.add_argument("--batch-size", type=int, default=16, help="clips per forward pass")
    parser.add_argument("--num-workers", type=int, default=4, help="data-loading processes")
    parser.add_argument("--out", default="eval.json",
                        help="results JSON (a CMC plot is written next to it as .png)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch
    import yaml

    from training import evaluate, load_dataset, load_eval_model
    from training.logbook import plot_cmc

    options = {}
    for item in args.option:
        if "=" not in item:
            raise UserError(f"--option {item!r} must look like key=value")
        key, value = item.split("=", 1)
        options[key] = yaml.safe_load(value)
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    data = load_dataset(args.dataset, args.root, **options)
    model = load_eval_model(args.checkpoint, device=device)
    result = evaluate(model, data.query, data.gallery, sampling=args.sampling, device=device,
                      batch_size=args.batch_size, amp=device.startswith("cuda"),
                      rerank=args.rerank, num_workers=args.num_workers, progress=True)
    result.update({"checkpoint": str(args.checkpoint), "dataset": data.name,
                   "dataset_info": data.info})
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, default=str))
    plot_cmc(result["cmc"], out.with_suffix(".png"), title=f"{data.name} CMC")
    say(f"mAP {100 * result['mAP']:.1f}  Rank-1 {100 * result['rank1']:.1f}  "
          f"Rank-5 {100 * result['rank5']:.1f}  Rank-10 {100 * result['rank10']:.1f}  "
          f"Rank-20 {100 * result['rank20']:.1f}")
    say(f"results: {out}  CMC plot: {out.with_suffix('.png')}")
    return 0
