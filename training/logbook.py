"""Run records: metrics as JSONL + CSV, PNG plots of loss / mAP curves and of a CMC curve."""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


def append_metrics(run_dir: str | Path, record: dict[str, Any]) -> None:
    """Append one record (scalars; lists are dropped from the CSV) to metrics.jsonl / metrics.csv."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / "metrics.jsonl", "a") as f:
        f.write(json.dumps(record) + "\n")
    rows = read_metrics(run_dir)
    keys: list[str] = []
    for row in rows:
        keys += [k for k, v in row.items() if k not in keys and not isinstance(v, list | dict)]
    with open(run_dir / "metrics.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def read_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    """All records of ``metrics.jsonl`` (empty if none)."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def plot_metrics(records: Sequence[dict[str, Any]], path: str | Path) -> Path:
    """Loss per epoch (left) and mAP / Rank-1 per evaluated epoch (right) -> PNG."""
    from matplotlib.figure import Figure  # no pyplot: no global backend state

    fig = Figure(figsize=(10, 4))
    ax_l, ax_m = fig.subplots(1, 2)
    train = [r for r in records if "loss" in r]
    ax_l.plot([r["epoch"] for r in train], [r["loss"] for r in train], marker="o")
    ax_l.set(xlabel="epoch", ylabel="training loss", title="loss")
    ev = [r for r in records if "mAP" in r]
    ax_m.plot([r["epoch"] for r in ev], [100 * r["mAP"] for r in ev], marker="o", label="mAP")
    ax_m.plot([r["epoch"] for r in ev], [100 * r.get("rank1", 0) for r in ev], marker="s",
              label="Rank-1")
    ax_m.set(xlabel="epoch", ylabel="%", title="evaluation")
    ax_m.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return Path(path)


def plot_cmc(cmc: Sequence[float], path: str | Path, title: str = "CMC") -> Path:
    """CMC curve (rank 1..len) -> PNG."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 4))
    ax = fig.subplots()
    ax.plot(range(1, len(cmc) + 1), [100 * c for c in cmc], marker=".")
    ax.set(xlabel="rank", ylabel="matching rate (%)", title=title, ylim=(0, 101))
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return Path(path)
