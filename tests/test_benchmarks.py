"""The benchmark scripts run (quick mode) and print their ratios, so they cannot rot.

Whether a goal is met depends on the machine and its load; it is reported by
the scripts, not asserted here.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
RATIO_LINE = re.compile(r"^ratio (\w+) = (\S+) \((?:goal [^)]*|no goal)\): (met|not met|no goal) -- .+$", re.MULTILINE)
EXPECTED = {
    "bench_head.py": {"head_fraction_of_matmul_peak", "speedup_vs_literal_shared", "speedup_vs_literal_per_image",
                      "speedup_vs_literal_train_step", "memory_growth_1k_to_30k_voxels"},
    "bench_transfer.py": {"transfer_epoch_speedup_with_cache"},
    "bench_ridge.py": {"encoder_over_ridge_himalaya", "encoder_over_ridge_sklearn"},
}


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(EXPECTED))
def test_benchmark_runs_in_quick_mode_and_prints_ratios(script, tmp_path):
    out = tmp_path / "results.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(BENCHMARKS.parent)}
    done = subprocess.run([sys.executable, str(BENCHMARKS / script), "--quick", "--threads", "1", "--out", str(out)],
                          capture_output=True, text=True, env=env, timeout=900, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    printed = {m.group(1): float(m.group(2)) for m in RATIO_LINE.finditer(done.stdout)}
    assert set(printed) == EXPECTED[script], done.stdout
    assert all(value == value for value in printed.values())  # not NaN
    assert "nproc=" in done.stdout and "torch threads=1" in done.stdout
    results = json.loads(out.read_text())
    assert {row["ratio"] for row in results["ratios"]} == EXPECTED[script]
    assert results["quick"] is True and results["machine"]["torch_threads"] == 1


@pytest.mark.slow
def test_results_can_be_written_as_csv(tmp_path):
    out = tmp_path / "results.csv"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(BENCHMARKS.parent)}
    done = subprocess.run([sys.executable, str(BENCHMARKS / "bench_transfer.py"), "--quick", "--out", str(out)],
                          capture_output=True, text=True, env=env, timeout=900, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    header, *rows = out.read_text().splitlines()
    assert header.startswith("benchmark,ratio,value,goal,verdict") and len(rows) == 1


GPU_CHECK_RATIOS = {"loss_last_over_first_eager", "resume_weight_difference_eager",
                    "head_bf16_fraction_of_bf16_matmul_peak", "head_fp32_fraction_of_fp32_matmul_peak",
                    "trunk_forward_over_head_train_step", "memory_growth_1k_to_30k_voxels"}


@pytest.mark.slow
def test_gpu_check_runs_on_cpu_and_resume_is_identical(tmp_path):
    out = tmp_path / "gpu.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(BENCHMARKS.parent)}
    done = subprocess.run([sys.executable, str(BENCHMARKS / "bench_gpu.py"), "--device", "cpu", "--quick",
                           "--threads", "1", "--out", str(out), "--workdir", str(tmp_path / "runs")],
                          capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = {m.group(1): m.group(0) for m in RATIO_LINE.finditer(done.stdout)}
    assert set(lines) == GPU_CHECK_RATIOS, done.stdout
    # Training checks: every step's loss finite, and SIGKILL + resume in a fresh torchrun process is bit-identical.
    assert "(goal finite): met -- 6 steps" in lines["loss_last_over_first_eager"]
    resume = lines["resume_weight_difference_eager"]
    assert resume.startswith("ratio resume_weight_difference_eager = 0 (goal = 0): met -- "), resume
    assert ": 0 of " in resume and resume.endswith("step losses equal")
    assert "wall time:" in done.stdout and "torch threads=1" in done.stdout
    results = json.loads(out.read_text())
    assert {row["ratio"] for row in results["ratios"]} == GPU_CHECK_RATIOS
    assert [run["error"] for run in results["measurements"]["training_launches"]] == [None, None]
    assert set(results["measurements"]["training_jobs"]) == {"eager_straight", "eager_resumed"}


def test_gpu_check_without_a_gpu_prints_one_line(capsys):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a GPU is visible: the check would run")
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import bench_gpu
    finally:
        sys.path.remove(str(BENCHMARKS))
    assert bench_gpu.main([]) == 0
    out, err = capsys.readouterr()
    assert out == bench_gpu.NO_GPU + "\n" and err == ""
    assert "--device cpu --quick" in out
