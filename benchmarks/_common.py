"""Shared pieces of the ratio benchmarks: options, interleaved timing, machine facts, reports.

Every benchmark reports ratios measured within one run: the quantities
compared are timed in turn, round after round, and each verdict is the median
over rounds, so a machine shared with other work slows both sides alike.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np


def make_parser(description: str) -> argparse.ArgumentParser:
    """Options every benchmark script takes."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="small sizes that run in seconds (CI)")
    parser.add_argument("--out", type=Path, help="write the results to this .json or .csv file")
    parser.add_argument("--repeats", type=int, help="rounds of interleaved timing (default 5, quick 3)")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's own choice)")
    parser.add_argument("--seed", type=int, default=0)
    return parser


def setup(args) -> None:
    """Apply ``--threads`` and ``--seed``, fill in ``--repeats``."""
    import torch

    if args.threads is not None:
        if args.threads < 1:
            sys.exit("--threads must be at least 1")
        torch.set_num_threads(args.threads)
    if args.repeats is None:
        args.repeats = 3 if args.quick else 5
    if args.repeats < 1:
        sys.exit("--repeats must be at least 1")
    torch.manual_seed(args.seed)


def machine() -> dict:
    """Facts about the machine and the software that the numbers depend on."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = None
    return {"cpu": cpu, "nproc": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "python": platform.python_version(), "platform": platform.platform(),
            "load_average_at_start": load}


def interleaved(functions: dict[str, Callable[[], object]], repeats: int, warmup: int = 1) -> dict[str, list[float]]:
    """Seconds of each function, called in turn ``repeats`` times (after ``warmup`` untimed rounds)."""
    times: dict[str, list[float]] = {name: [] for name in functions}
    for round_ in range(warmup + repeats):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            elapsed = time.perf_counter() - start
            if round_ >= warmup:
                times[name].append(elapsed)
    return times


def median(values) -> float:
    return float(statistics.median(values))


def matmul(n: int, device="cpu", dtype=None):
    """A square matmul (fp32 unless ``dtype`` says otherwise) for measuring the peak: (function, FLOPs per call).

    On a GPU the function only queues the work; time it together with a
    synchronisation.
    """
    import torch

    dtype = dtype or torch.float32
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    out = torch.empty(n, n, device=device, dtype=dtype)
    return (lambda: torch.mm(a, b, out=out)), 2.0 * n ** 3


class Report:
    """Collects measurements and verdicts; prints them and writes them to ``--out``."""

    def __init__(self, name: str, args) -> None:
        self.name = name
        self.quick = bool(args.quick)
        self.out = args.out
        self.settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
        self.machine = machine()
        self.ratios: list[dict] = []
        self.measurements: dict = {}

    def measure(self, key: str, value) -> None:
        """Record a supporting measurement (times, sizes, errors)."""
        self.measurements[key] = value

    def ratio(self, name: str, value: float, goal: str | None, met: bool | None, why: str) -> None:
        """Record and print one verdict line: ``ratio NAME = VALUE (goal GOAL): met|not met|no goal -- WHY``."""
        verdict = "no goal" if met is None else ("met" if met else "not met")
        row = {"benchmark": self.name, "ratio": name, "value": float(value), "goal": goal or "", "verdict": verdict,
               "why": why}
        self.ratios.append(row)
        goal_text = f"goal {goal}" if goal else "no goal"
        print(f"ratio {name} = {value:.4g} ({goal_text}): {verdict} -- {why}", flush=True)

    def finish(self) -> None:
        """Print the machine line and write the results file if ``--out`` was given."""
        m = self.machine
        gpu = f", GPU {m['gpu']}" if m.get("gpu") else ""
        print(f"machine: {m['cpu']}, nproc={m['nproc']}, torch threads={m['torch_threads']}, torch {m['torch']}, "
              f"load average at start {m['load_average_at_start']}{gpu}", flush=True)
        if self.out is None:
            return
        self.out.parent.mkdir(parents=True, exist_ok=True)
        if self.out.suffix.lower() == ".csv":
            with open(self.out, "w", newline="") as handle:
                fields = ["benchmark", "ratio", "value", "goal", "verdict", "why", "quick", "nproc", "torch_threads"]
                writer = csv.DictWriter(handle, fieldnames=fields)
                writer.writeheader()
                for row in self.ratios:
                    writer.writerow({**row, "quick": self.quick, "nproc": m["nproc"],
                                     "torch_threads": m["torch_threads"]})
        else:
            payload = {"benchmark": self.name, "quick": self.quick, "machine": m, "settings": self.settings,
                       "ratios": self.ratios, "measurements": self.measurements}
            self.out.write_text(json.dumps(payload, indent=2, default=_plain) + "\n")
        print(f"results written to {self.out}", flush=True)


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def synthetic_crowd(n_images: int, n_voxels: int, *, image_size: int = 32, n_test: int = 0, seed: int = 0,
                    dataset: str = "7T", subject: str = "new"):
    """A one-subject crowd whose responses are a noisy linear function of the colours of 4 x 4 image blocks.

    The first ``n_images - n_test`` images are the training split.
    """
    import pandas as pd

    from brainembed.data import Crowd, ImageStore, SubjectData

    rng = np.random.default_rng(seed)
    blocks = rng.uniform(0, 255, (n_images, 4, 4, 3))
    side = -(-image_size // 4)
    pixels = np.kron(blocks, np.ones((1, side, side, 1)))[:, :image_size, :image_size]
    pixels = np.clip(pixels + rng.normal(0, 8, pixels.shape), 0, 255).astype(np.uint8)
    ids = np.arange(1000, 1000 + n_images)
    coarse = blocks.reshape(n_images, -1)
    coarse = (coarse - coarse.mean(0)) / (coarse.std(0) + 1e-6)
    signal = coarse @ rng.normal(size=(coarse.shape[1], n_voxels)) / np.sqrt(coarse.shape[1])
    responses = (signal + rng.normal(size=signal.shape)).astype(np.float32)
    voxels = pd.DataFrame({"hemi": rng.choice(["lh", "rh"], n_voxels)})
    split = ["train"] * (n_images - n_test) + ["test"] * n_test
    data = SubjectData(dataset, subject, responses, ids, split, voxels)
    return Crowd([data], ImageStore(pixels, ids))
