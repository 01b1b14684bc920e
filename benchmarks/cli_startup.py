"""How long the ``reid`` command line takes to answer: each command run ``--runs`` times, each in a
fresh process with the offline environment; median and max wall-clock seconds.

Commands: ``reid --help``, ``reid models``, ``reid status`` and ``reid videos`` on an empty
gallery (a new temporary folder each run) and ``reid serve --host 0.0.0.0`` without ``--auth``
(refused before anything is loaded; its exit code 1 is expected). With ``--importtime`` it also
prints the modules that took longest to import in one run of each command (``python -X
importtime``, cumulative microseconds).

    .venv/bin/python benchmarks/cli_startup.py
    .venv/bin/python benchmarks/cli_startup.py --runs 5 --importtime --json out.json
    mkdir /tmp/before && git archive <commit> | tar -x -C /tmp/before    # an older version:
    .venv/bin/python benchmarks/cli_startup.py --repo /tmp/before
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

ENV = {"YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "False", "HF_HUB_OFFLINE": "1",
       "HF_HUB_DISABLE_TELEMETRY": "1", "GRADIO_ANALYTICS_ENABLED": "False",
       "YOLO_CONFIG_DIR": str(REPO / ".cache" / "ultralytics")}

OURS = frozenset({"app", "reid", "tracking", "training", "site", "encodings"})
# name -> (reid arguments, expected exit code); "{data}" becomes a fresh empty folder
COMMANDS: dict[str, tuple[list[str], int]] = {
    "help": (["--help"], 0),
    "models": (["models"], 0),
    "status": (["status", "--data-dir", "{data}"], 0),
    "videos": (["videos", "--data-dir", "{data}"], 0),
    "serve-refused": (["serve", "--host", "0.0.0.0"], 1),
}


def _argv(args: list[str], data_dir: str, repo: Path | None, importtime: bool = False) -> list[str]:
    """The console script of this venv, as a user runs it; with ``repo``, ``python -m app`` run
    in that checkout (its packages come first on ``sys.path``)."""
    script = Path(sys.executable).with_name("reid")
    entry = [str(script)] if repo is None and script.exists() else ["-m", "app"]
    prefix = [sys.executable] + (["-X", "importtime"] if importtime else []) + entry
    return prefix + [a.replace("{data}", data_dir) for a in args]


def _env() -> dict[str, str]:
    env = {**os.environ, **ENV}
    env.pop("REID_AUTH", None)  # serve must be refused
    return env


def time_command(args: list[str], expected_rc: int, runs: int, repo: Path | None = None) -> list[float]:
    """Wall-clock seconds of ``runs`` fresh ``reid ARGS`` processes."""
    seconds = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as data_dir:
            t0 = time.perf_counter()
            proc = subprocess.run(_argv(args, data_dir, repo), cwd=repo or REPO, env=_env(),
                                  capture_output=True, text=True, check=False)
            seconds.append(time.perf_counter() - t0)
        if proc.returncode != expected_rc:
            raise SystemExit(f"reid {' '.join(args)}: exit code {proc.returncode}, expected "
                             f"{expected_rc}\n{proc.stderr[-2000:]}")
    return seconds


def import_offenders(args: list[str], top: int, repo: Path | None = None) -> list[tuple[str, float]]:
    """The ``top`` third-party packages by cumulative import time in one run, in seconds (each
    package's own top-level import; ``torch`` includes what torch imports)."""
    with tempfile.TemporaryDirectory() as data_dir:
        proc = subprocess.run(_argv(args, data_dir, repo, importtime=True), cwd=repo or REPO, env=_env(),
                              capture_output=True, text=True, check=False)
    packages: dict[str, float] = {}
    for line in proc.stderr.splitlines():  # "import time: self [us] | cumulative | imported package"
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = (part.strip() for part in line[len("import time:"):].split("|"))
        if "." not in name and name not in OURS:
            packages[name] = max(packages.get(name, 0.0), int(cumulative) / 1e6)
    return sorted(packages.items(), key=lambda kv: -kv[1])[:top]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per command (default 5)")
    parser.add_argument("--commands", nargs="+", choices=tuple(COMMANDS), default=list(COMMANDS))
    parser.add_argument("--importtime", action="store_true", help="also list the slowest imports")
    parser.add_argument("--top", type=int, default=6, help="imports listed per command (default 6)")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--repo", type=Path, help="time the code of another checkout instead (e.g. a "
                        "`git worktree` of an older commit), run as `python -m app` there")
    args = parser.parse_args()

    results = {}
    for name in args.commands:
        argv, expected = COMMANDS[name]
        seconds = time_command(argv, expected, args.runs, args.repo)
        row = {"command": "reid " + " ".join(argv).replace("{data}", "<empty dir>"),
               "runs": args.runs, "median_s": round(statistics.median(seconds), 3),
               "max_s": round(max(seconds), 3)}
        if args.importtime:
            row["imports_s"] = {k: round(v, 3) for k, v in import_offenders(argv, args.top, args.repo)}
        results[name] = row
        if args.repo:
            row["repo"] = str(args.repo)
        print(f"{row['command']:<45} median {row['median_s']:6.2f} s   max {row['max_s']:6.2f} s")
        for module, s in row.get("imports_s", {}).items():
            print(f"    import {module:<30} {s:6.2f} s")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"1-minute load average after: {load:.2f} on {os.cpu_count()} cores")
    if args.json:
        args.json.write_text(json.dumps({"results": results, "load_after": load,
                                         "cores": os.cpu_count()}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
