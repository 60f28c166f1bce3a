"""GPU check: train ``ube_paper`` under torchrun (bf16, compile on and off), kill and resume, time head and trunk.

On one GPU, within five minutes (issue 18, item 3):

1. **Training.** ``ube_paper`` (DINOv2 ViT-L/14 with registers at 224 px,
   random weights: time does not depend on them) trains on a synthetic crowd
   for ``steps`` steps of the paper's batch (32 images x 5000 voxels) with
   bf16 autocast, under ``torchrun --nproc_per_node 1``, once with
   ``torch.compile`` off (``eager``) and once on (``compiled``). For each:

   - ``loss_last_over_first_<mode>``: last over first training loss of the
     straight run; goal: every step's loss finite.
   - ``resume_weight_difference_<mode>``: largest absolute difference between
     the weights after ``steps`` steps straight and those of a run that
     SIGKILLs itself after ``kill_after`` steps (it checkpoints every
     ``checkpoint_every`` steps, so it resumes from an earlier step and
     redoes logged ones) and is resumed in a fresh torchrun process to
     ``steps``; goal 0 (every tensor and every step's loss identical). The
     training processes run with ``torch.use_deterministic_algorithms(True)``
     (strict: flash attention's backward is deterministic only then), so that
     atomic-add kernels cannot make two identical runs differ; an operation
     without a deterministic kernel fails the check with its name.

2. **Head and trunk** (this process, the paper's head: L=5, P=257, C=128, E=256):

   - ``head_bf16_fraction_of_bf16_matmul_peak`` and
     ``head_fp32_fraction_of_fp32_matmul_peak``: FLOP/s of ``VoxelHead.predict``
     (voxels shared by a batch of images, the inference path; FLOPs counted as
     in ``bench_head.py``, those the fast head executes) with and without bf16
     autocast, over the FLOP/s of a large square matmul of the same dtype,
     timed in the same rounds. No goal.
   - ``memory_growth_10k_to_316k_voxels``: peak GPU memory
     (``torch.cuda.max_memory_allocated``) while predicting 316k voxels over
     that while predicting 10k, for the same images and the same 316k-voxel
     table, the (B, V) output subtracted; goal < 10 % (chunked prediction).
   - ``trunk_forward_over_head_train_step``: time of the trunk's forward pass
     (backbone, adapter, projection; no gradients) over that of the head's
     forward and backward, for one training batch. No goal.

Without a CUDA device it prints one line and exits 0, unless ``--device cpu``
is given: then the same code runs on the CPU (gloo, fp32 training since bf16
autocast is CUDA-only in the training loop; compile off unless ``--compile``
says otherwise; the memory verdict from ``bench_head.py``'s RSS probe, since
``torch.cuda`` counters do not exist there). With ``--quick`` the sizes are
tiny (``ube_tiny``'s ViT); that is what CI runs.

The exit status is 1 when a training check (finite loss, identical resume)
fails, 0 otherwise; performance ratios never change it.

Run ``python benchmarks/bench_gpu.py [--out gpu.json]`` on a GPU machine, or
``python benchmarks/bench_gpu.py --device cpu --quick`` anywhere.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common  # noqa: E402
import bench_head  # noqa: E402
import bench_transfer  # noqa: E402

NO_GPU = ("bench_gpu: no CUDA device here; run it on a GPU machine, or pass --device cpu --quick for the CPU "
          "smoke run")
BUDGET_SECONDS = 300
LAUNCH_TIMEOUT = 600  # seconds; a torchrun launch still running then is stopped and fails the check


@dataclass(frozen=True)
class Sizes:
    """What the check trains and times.

    Attributes
    ----------
    steps : int
        Training steps of the straight runs.
    checkpoint_every, kill_after : int
        The killed run writes its checkpoint every ``checkpoint_every`` steps
        and dies after step ``kill_after`` (not a multiple of it, so the
        resumed run redoes logged steps).
    batch, voxels_per_image : int
        Training batch: images, and voxels drawn for each image.
    crowd_voxels : int
        Voxels of the synthetic one-subject crowd trained on.
    head_images, head_voxels : int
        Batch of the throughput measurement (voxels shared by the images).
    memory_voxels : tuple of int
        Voxel counts whose prediction memory is compared; the larger is the
        size of the embedding table.
    memory_images : int
        Images predicted in the memory measurement.
    peak_size : int
        Side of the square matmul timed as the peak.
    """

    steps: int
    checkpoint_every: int
    kill_after: int
    batch: int
    voxels_per_image: int
    crowd_voxels: int
    head_images: int
    head_voxels: int
    memory_voxels: tuple[int, int]
    memory_images: int
    peak_size: int

    @property
    def resume_from(self) -> int:
        """Step of the last checkpoint the killed run wrote."""
        return self.kill_after // self.checkpoint_every * self.checkpoint_every


PAPER = Sizes(steps=24, checkpoint_every=8, kill_after=13, batch=32, voxels_per_image=5000, crowd_voxels=10_000,
              head_images=64, head_voxels=16_384, memory_voxels=(10_000, 316_000), memory_images=32,
              peak_size=16_384)
QUICK = Sizes(steps=6, checkpoint_every=2, kill_after=3, batch=4, voxels_per_image=16, crowd_voxels=50,
              head_images=4, head_voxels=64, memory_voxels=(1_000, 30_000), memory_images=2, peak_size=512)
MODES = {"eager": False, "compiled": True}


# --------------------------------------------------------------------------- training (torchrun workers)
def training_plan(sizes: Sizes, device: str, modes: list[str], seed: int, threads: int | None) -> dict:
    """Everything a training worker needs, as plain data (written to ``plan.json``).

    Returns
    -------
    dict with the encoder configuration, the crowd's size, one training
    configuration per mode and run, and the jobs in the order they run.
    """
    encoder = bench_transfer.encoder_config(sizes is QUICK)
    common = dict(epochs=1, batch_size=sizes.batch, voxels_per_image=sizes.voxels_per_image, val_fraction=0.0,
                  seed=seed, device=device, bf16=True)
    jobs = []
    for mode in modes:
        straight = {**common, "compile": MODES[mode], "checkpoint_every": 0}
        killed = {**common, "compile": MODES[mode], "checkpoint_every": sizes.checkpoint_every}
        jobs += [{"name": f"{mode}_straight", "run": f"{mode}_straight", "training": straight,
                  "max_steps": sizes.steps, "overwrite": True},
                 {"name": f"{mode}_killed", "run": f"{mode}_resumed", "training": killed,
                  "max_steps": sizes.steps, "overwrite": True, "kill_after": sizes.kill_after},
                 {"name": f"{mode}_resumed", "run": f"{mode}_resumed", "training": killed,
                  "max_steps": sizes.steps - sizes.resume_from, "overwrite": False}]
    # One epoch longer than the run: no partial batch (a new shape to compile), no validation.
    return {"encoder": encoder.to_dict(), "crowd_images": (sizes.steps + 1) * sizes.batch,
            "crowd_voxels": sizes.crowd_voxels, "seed": seed, "threads": threads, "jobs": jobs}


def launches(jobs: list[dict], nproc: int) -> list[list[dict]]:
    """Group jobs into torchrun launches: a launch ends with a job that kills its process.

    With several processes each job gets a launch of its own: ``train_encoder``
    joins and leaves a process group, and joining a second one through the
    same torchrun store can hang or pair the ranks wrongly.
    """
    groups, current = [], []
    for job in jobs:
        current.append(job)
        if "kill_after" in job or nproc > 1:
            groups.append(current)
            current = []
    return groups + ([current] if current else [])


def _kill_after(steps: int) -> None:
    """Make the training loop SIGKILL its process once step ``steps`` is logged (rank 0 logs)."""
    from brainembed.training import loop

    log_row = loop._append_csv

    def log_then_die(path, fields, row):
        log_row(path, fields, row)
        if Path(path).name == "steps.csv" and int(row["global_step"]) + 1 >= steps:
            os.kill(os.getpid(), signal.SIGKILL)

    loop._append_csv = log_then_die


def train_worker(plan_file: Path, names: list[str]) -> int:
    """Run some jobs of a plan in this (torchrun) process; rank 0 appends a line per job to ``results.jsonl``."""
    import torch

    from brainembed.config import EncoderConfig
    from brainembed.training.config import TrainConfig
    from brainembed.training.loop import train_encoder

    plan = json.loads(plan_file.read_text())
    if plan["threads"] is not None:
        torch.set_num_threads(plan["threads"])
    torch.use_deterministic_algorithms(True)  # with CUBLAS_WORKSPACE_CONFIG set by run_launch
    crowd = _common.synthetic_crowd(plan["crowd_images"], plan["crowd_voxels"], seed=plan["seed"])
    encoder = EncoderConfig.from_dict(plan["encoder"])
    main_rank = int(os.environ.get("RANK", "0")) == 0
    results = plan_file.parent / "results.jsonl"
    for job in (j for j in plan["jobs"] if j["name"] in names):
        if "kill_after" in job:
            _kill_after(job["kill_after"])
        start = time.perf_counter()
        done = train_encoder(crowd, plan_file.parent / job["run"], encoder=encoder,
                             training=TrainConfig(**job["training"]), overwrite=job["overwrite"],
                             max_steps=job["max_steps"], progress=False)
        if main_rank:
            with open(results, "a") as handle:
                handle.write(json.dumps({"job": job["name"], "seconds": time.perf_counter() - start,
                                         "finished": done["finished"]}) + "\n")
    return 0


def run_launch(plan_file: Path, group: list[dict], nproc: int) -> dict:
    """Start one torchrun launch of ``group`` and wait for it.

    Returns
    -------
    dict with the jobs, the launch's wall ``seconds`` and ``error``: None, or
    why the launch failed (a launch meant to be killed must die, the others
    must exit 0) followed by the end of its output.
    """
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc),
           str(Path(__file__).resolve()), "--train-worker", str(plan_file),
           "--jobs", ",".join(job["name"] for job in group)]
    env = {**os.environ, "CUBLAS_WORKSPACE_CONFIG": ":4096:8", "PYTHONHASHSEED": "0"}
    start = time.perf_counter()
    # A session of its own, so that a launch that hangs is stopped with all its processes.
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                               start_new_session=True)
    try:
        output, _ = process.communicate(timeout=LAUNCH_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output = process.communicate()[0] + f"\nTimeoutError: launch stopped after {LAUNCH_TIMEOUT} s"
    seconds = time.perf_counter() - start
    killed = "kill_after" in group[-1]
    expected = {job["name"] for job in (group[:-1] if killed else group)}
    error = None
    if (process.returncode == 0) == killed or not expected <= set(finished_jobs(plan_file.parent)):
        error = (f"{first_error(output) or 'no error message'} (exit status {process.returncode}"
                 f"{', expected to be killed' if killed else ''})\n{output[-4000:]}")
    return {"jobs": [job["name"] for job in group], "seconds": seconds, "error": error}


def finished_jobs(workdir: Path) -> dict:
    """Job name -> the line a training worker wrote when the job returned."""
    results = workdir / "results.jsonl"
    if not results.is_file():
        return {}
    return {row["job"]: row for row in map(json.loads, results.read_text().splitlines())}


def first_error(output: str) -> str | None:
    """The worker's exception line (``SomethingError: ...``) in a launch's output, not torchrun's own."""
    for line in output.splitlines():
        name = line.split(":", 1)[0].strip()
        if name.endswith(("Error", "Exception")) and " " not in name and "ChildFailedError" not in name:
            return line.strip()
    return None


def step_losses(run_dir: Path) -> list[float]:
    """Losses of every logged step of a run (``steps.csv``)."""
    from brainembed.training.run import RunDirectory

    with open(RunDirectory(run_dir).steps, newline="") as handle:
        return [float(row["loss"]) for row in csv.DictReader(handle)]


def weight_difference(run_a: Path, run_b: Path) -> dict:
    """Largest absolute difference between the last weights of two runs, and how many tensors differ."""
    import torch

    from brainembed.training.checkpoint import load_checkpoint
    from brainembed.training.run import RunDirectory

    a = load_checkpoint(RunDirectory(run_a).last)["model"]
    b = load_checkpoint(RunDirectory(run_b).last)["model"]
    if a.keys() != b.keys():
        return {"max_abs": math.inf, "tensors": len(a), "unequal": len(a.keys() ^ b.keys())}
    unequal = [k for k in a if not torch.equal(a[k], b[k])]
    largest = max((float((a[k].double() - b[k].double()).abs().max()) for k in unequal if a[k].numel()),
                  default=0.0 if not unequal else math.inf)
    return {"max_abs": largest, "tensors": len(a), "unequal": len(unequal)}


def check_training(report: _common.Report, workdir: Path, sizes: Sizes, modes: list[str], device: str,
                   args) -> bool:
    """Train every mode straight and killed-then-resumed; report two verdicts per mode. True if all are met.

    The launches stop at the first that fails; a mode whose runs did not all
    finish gets both verdicts "not met" with the failure as the reason.
    """
    plan = training_plan(sizes, device, modes, args.seed, args.threads)
    plan_file = workdir / "plan.json"
    plan_file.write_text(json.dumps(plan, indent=2))
    runs = []
    for group in launches(plan["jobs"], args.nproc):
        runs.append(run_launch(plan_file, group, args.nproc))
        if runs[-1]["error"]:
            print(f"bench_gpu: training launch {runs[-1]['jobs']} failed: {runs[-1]['error']}", file=sys.stderr,
                  flush=True)
            break
    report.measure("training_launches", runs)
    report.measure("training_jobs", finished_jobs(workdir))
    failure = next((run["error"].splitlines()[0] for run in runs if run["error"]), None)
    all_met = True
    for mode in modes:
        if any(f"{mode}_{part}" not in finished_jobs(workdir) for part in ("straight", "resumed")):
            for name in ("loss_last_over_first", "resume_weight_difference"):
                report.ratio(f"{name}_{mode}", math.nan, "finite" if name.startswith("loss") else "= 0", False,
                             f"training failed: {failure}")
            all_met = False
            continue
        all_met = report_mode(report, workdir, sizes, mode, device) and all_met
    return all_met


def report_mode(report: _common.Report, workdir: Path, sizes: Sizes, mode: str, device: str) -> bool:
    """The two verdicts of one mode's finished runs: finite losses, identical resume. True if both are met."""
    precision = "bf16 autocast" if device == "cuda" else "fp32 (bf16 autocast is CUDA-only)"
    straight, resumed = workdir / f"{mode}_straight", workdir / f"{mode}_resumed"
    losses = step_losses(straight)
    finite = len(losses) == sizes.steps and all(math.isfinite(x) for x in losses)
    report.ratio(f"loss_last_over_first_{mode}", losses[-1] / losses[0], "finite", finite,
                 f"{len(losses)} steps of {sizes.batch} images x {sizes.voxels_per_image} voxels, {precision}, "
                 f"compile {'on' if MODES[mode] else 'off'}: loss {losses[0]:.4g} -> {losses[-1]:.4g}")
    diff = weight_difference(straight, resumed)
    same_losses = step_losses(resumed) == losses
    identical = diff["unequal"] == 0 and same_losses
    report.ratio(f"resume_weight_difference_{mode}", diff["max_abs"], "= 0", identical,
                 f"{sizes.steps} steps straight vs SIGKILLed after step {sizes.kill_after}, resumed from the "
                 f"step-{sizes.resume_from} checkpoint in a fresh torchrun process: {diff['unequal']} of "
                 f"{diff['tensors']} tensors differ, step losses {'equal' if same_losses else 'differ'}")
    return finite and identical


# --------------------------------------------------------------------------- head and trunk (this process)
def on_device(function, device):
    """``function`` followed by a wait for the device, so that wall time measures its work."""
    import torch

    if device.type != "cuda":
        return function

    def call():
        function()
        torch.cuda.synchronize(device)
    return call


def autocast(device, enabled: bool):
    """bf16 autocast on ``device`` when ``enabled``."""
    import torch

    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled)


def build_model(sizes: Sizes, device):
    """The check's encoder (random weights) with an embedding table of the larger memory size."""
    from brainembed.models import create_encoder

    config = bench_transfer.encoder_config(sizes is QUICK).replace(n_voxels=sizes.memory_voxels[1])
    return create_encoder(config).to(device)


def timing_functions(model, sizes: Sizes, device) -> tuple[dict, float]:
    """The functions timed in turn: matmul peaks, head predictions (bf16, fp32), trunk forward, head train step.

    Returns
    -------
    functions : dict of name -> callable
        Each waits for the device before returning.
    peak_flops : float
        FLOPs of one call of either matmul.
    """
    import torch

    from brainembed.training.config import TrainConfig
    from brainembed.training.loss import encoder_loss

    L, P, C = model.feature_shape
    features = torch.randn(sizes.head_images, L, P, C, device=device)
    shared = torch.randperm(model.n_voxels, device=device)[:sizes.head_voxels]
    chunk = model.config.chunk_size
    images = torch.randn(sizes.batch, 3, model.config.img_size, model.config.img_size, device=device)
    per_image = torch.randint(0, model.n_voxels, (sizes.batch, sizes.voxels_per_image), device=device)
    targets = torch.randn(sizes.batch, sizes.voxels_per_image, device=device)
    bf16 = device.type == "cuda"
    with torch.no_grad(), autocast(device, bf16):
        train_features = model.eval().forward_features(images)

    def predict(use_bf16: bool):
        def call():
            with autocast(device, use_bf16):
                model.head.predict(features, shared, chunk)
        return call

    def trunk_forward():
        with torch.no_grad(), autocast(device, bf16):
            model.forward_features(images)

    def head_train_step():
        model.head.train().zero_grad(set_to_none=True)
        with autocast(device, bf16):
            prediction = model.head(train_features, per_image)
        encoder_loss(prediction, targets, TrainConfig.cosine_weight).backward()
        model.head.eval()

    peaks = {dtype: _common.matmul(sizes.peak_size, device=device, dtype=getattr(torch, dtype))
             for dtype in ("bfloat16", "float32")}
    functions = {"peak_bf16": peaks["bfloat16"][0], "head_bf16": predict(True),
                 "peak_fp32": peaks["float32"][0], "head_fp32": predict(False),
                 "trunk_forward": trunk_forward, "head_train_step": head_train_step}
    return {name: on_device(fn, device) for name, fn in functions.items()}, peaks["float32"][1]


def _rate(flops_per_second: float) -> str:
    return f"{flops_per_second / 1e12:.3g} TFLOP/s" if flops_per_second >= 1e12 else \
        f"{flops_per_second / 1e9:.3g} GFLOP/s"


def report_timing(report: _common.Report, model, sizes: Sizes, device, repeats: int) -> None:
    """Throughput against the matmul peaks, and the trunk's cost against the head's."""
    functions, peak_flops = timing_functions(model, sizes, device)
    times = _common.interleaved(functions, repeats)
    report.measure("seconds", times)
    L, P, C = model.feature_shape
    executed = bench_head.fast_shared_flops(sizes.head_images, sizes.head_voxels, L, P, C, model.config.embed_dim,
                                            model.config.mlp_ratio)
    report.measure("head_flops_per_prediction_batch", executed)
    for dtype, name in (("bf16", "bf16 autocast"), ("fp32", "fp32")):
        fractions = [executed / head / (peak_flops / peak) for head, peak in zip(times[f"head_{dtype}"],
                                                                              times[f"peak_{dtype}"])]
        head_rate = executed / _common.median(times[f"head_{dtype}"])
        peak_rate = peak_flops / _common.median(times[f"peak_{dtype}"])
        pairs = sizes.head_images * sizes.head_voxels / _common.median(times[f"head_{dtype}"])
        report.measure(f"head_{dtype}_flops_per_s", head_rate)
        report.measure(f"matmul_{dtype}_flops_per_s", peak_rate)
        report.ratio(f"head_{dtype}_fraction_of_{dtype}_matmul_peak", _common.median(fractions), None, None,
                     f"predict ({name}, {sizes.head_images} images x {sizes.head_voxels} shared voxels): "
                     f"{_rate(head_rate)} executed, {pairs:.3g} voxel-images/s, vs {_rate(peak_rate)} for a "
                     f"{sizes.peak_size}^2 {dtype} matmul")
    ratios = [t / h for t, h in zip(times["trunk_forward"], times["head_train_step"])]
    report.ratio("trunk_forward_over_head_train_step", _common.median(ratios), None, None,
                 f"{sizes.batch} images: trunk forward {_common.median(times['trunk_forward']) * 1e3:.3g} ms "
                 f"(no gradients) vs head forward + backward on {sizes.voxels_per_image} voxels per image "
                 f"{_common.median(times['head_train_step']) * 1e3:.3g} ms")


def cuda_prediction_memory(head, n_voxels: int, n_images: int, chunk: int, device) -> dict:
    """Peak GPU memory of predicting ``n_voxels`` voxels for ``n_images`` images (bf16 autocast), in bytes."""
    import torch

    features = torch.randn(n_images, head.n_layers, head.n_tokens, head.feature_dim, device=device)
    voxel_idx = torch.arange(n_voxels, device=device)
    with autocast(device, True):
        head.predict(features, voxel_idx[:64], chunk)  # kernels and cuBLAS workspace, before the baseline
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    with autocast(device, True):
        out = head.predict(features, voxel_idx, chunk)
    torch.cuda.synchronize(device)
    peak = torch.cuda.max_memory_allocated(device)
    output = out.numel() * out.element_size()
    return {"voxels": n_voxels, "images": n_images, "table_voxels": head.n_voxels, "peak_extra": peak - before,
            "output_bytes": output, "working": peak - before - output,
            "method": "torch.cuda.max_memory_allocated"}


def report_memory(report: _common.Report, model, sizes: Sizes, device, args) -> None:
    """Prediction memory at the smaller voxel count against the larger one."""
    small, large = sizes.memory_voxels
    if device.type == "cuda":
        probes = [cuda_prediction_memory(model.head, n, sizes.memory_images, model.config.chunk_size, device)
                  for n in (small, large)]
    else:  # bench_head.py's RSS probe, in fresh processes, with the same head sizes
        probes = [bench_head.run_probe(n, large, sizes.memory_images, sizes is QUICK, args.threads, args.seed)
                  for n in (small, large)]
    report.measure("memory_probes", probes)
    growth = probes[1]["working"] / max(probes[0]["working"], 1) - 1.0
    report.ratio(f"memory_growth_{small // 1000}k_to_{large // 1000}k_voxels", growth, "< 0.10", growth < 0.10,
                 f"peak extra memory besides the (B, V) output predicting {sizes.memory_images} images: "
                 f"{probes[0]['working'] / 2**20:.1f} MiB vs {probes[1]['working'] / 2**20:.1f} MiB "
                 f"({probes[0]['method']})")


def gpu_facts(device) -> str:
    """One line about the GPU, for the report."""
    import torch

    props = torch.cuda.get_device_properties(device)
    return (f"{props.name}, {props.total_memory / 2**30:.1f} GiB, compute capability {props.major}.{props.minor}, "
            f"CUDA {torch.version.cuda}, fp32 matmul precision {torch.get_float32_matmul_precision()}")


# --------------------------------------------------------------------------- main
def parse_args(argv=None):
    parser = _common.make_parser(__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("auto", "cuda", "cpu"), default="auto",
                        help="cuda (default when a GPU is visible) or cpu (small sizes with --quick)")
    parser.add_argument("--compile", choices=("both", "off", "on"),
                        help="train with torch.compile off, on, or both (default: both on CUDA, off on CPU)")
    parser.add_argument("--nproc", type=int, default=1, help="torchrun --nproc_per_node (one per GPU; default 1)")
    parser.add_argument("--workdir", type=Path, help="keep the training runs here (default: a temporary folder)")
    parser.add_argument("--train-worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--jobs", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.nproc < 1:
        sys.exit("--nproc must be at least 1")
    if args.train_worker is not None:
        return train_worker(args.train_worker, args.jobs.split(","))
    import torch

    if args.device != "cpu" and not torch.cuda.is_available():
        print(NO_GPU, flush=True)
        return 0
    _common.setup(args)
    device = torch.device("cuda" if args.device != "cpu" else "cpu")
    sizes = QUICK if args.quick else PAPER
    compile_setting = args.compile or ("both" if device.type == "cuda" else "off")
    modes = {"both": ["eager", "compiled"], "off": ["eager"], "on": ["compiled"]}[compile_setting]
    start = time.perf_counter()
    report = _common.Report("gpu", args)
    if device.type == "cuda":
        report.machine["gpu"] = gpu_facts(device)
    report.measure("sizes", asdict(sizes))
    with tempfile.TemporaryDirectory(prefix="bench_gpu-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "results.jsonl").unlink(missing_ok=True)
        trained_ok = check_training(report, workdir, sizes, modes, device.type, args)
    training_seconds = time.perf_counter() - start
    model = build_model(sizes, device)
    report_timing(report, model, sizes, device, args.repeats)
    report_memory(report, model, sizes, device, args)
    seconds = time.perf_counter() - start
    report.measure("wall_seconds", {"total": seconds, "training": training_seconds})
    budget = f"; budget {BUDGET_SECONDS} s on one GPU" if device.type == "cuda" and not args.quick else ""
    print(f"wall time: {seconds:.0f} s (training {training_seconds:.0f} s, head and trunk "
          f"{seconds - training_seconds:.0f} s{budget})", flush=True)
    report.finish()
    return 0 if trained_ok else 1


if __name__ == "__main__":
    sys.exit(main())
