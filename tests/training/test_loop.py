import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from brainembed.cli import main
from brainembed.data import save_crowd
from brainembed.errors import BrainembedError
from brainembed.training.checkpoint import load_checkpoint
from brainembed.training.config import TrainConfig
from brainembed.training.loop import train_encoder
from brainembed.training.run import load_encoder
from tests.conftest import make_small_crowd

FAST = dict(epochs=3, batch_size=4, voxels_per_image=16, val_fraction=0.25, device="cpu")


@pytest.fixture(scope="module")
def crowd():
    return make_small_crowd(n_images=40, n_voxels=(30, 20))


def _weights(run):
    return load_checkpoint(Path(run) / "checkpoints" / "last.pt")["model"]


@pytest.mark.parametrize("sampling", ["images", "subjects"])
def test_interrupted_run_resumes_to_identical_weights(crowd, tmp_path, sampling):
    cfg = TrainConfig(**FAST, sampling=sampling)
    full = train_encoder(crowd, tmp_path / "full", encoder="ube_tiny", training=cfg, progress=False)
    assert full["finished"]
    part = tmp_path / "part"
    first = train_encoder(crowd, part, encoder="ube_tiny", training=cfg, max_steps=4, progress=False)
    assert not first["finished"]
    second = train_encoder(crowd, part, encoder="ube_tiny", training=cfg, max_steps=1, progress=False)
    assert not second["finished"]
    train_encoder(crowd, part, encoder="ube_tiny", training=cfg, progress=False)
    a, b = _weights(tmp_path / "full"), _weights(part)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    steps_full = pd.read_csv(tmp_path / "full" / "steps.csv")
    steps_part = pd.read_csv(part / "steps.csv")
    np.testing.assert_array_equal(steps_full["loss"].to_numpy(), steps_part["loss"].to_numpy())


def test_training_moves_trainable_weights_only(crowd, tmp_path):
    from brainembed.models import create_encoder

    cfg = TrainConfig(**{**FAST, "epochs": 2, "voxels_per_image": 30})
    train_encoder(crowd, tmp_path / "run", encoder="ube_tiny", training=cfg, progress=False)
    steps = pd.read_csv(tmp_path / "run" / "steps.csv")
    n_train = sum(len(s.rows("train")) - 1 for s in crowd)  # one image per subject held out for validation
    assert len(steps) == 2 * int(np.ceil(n_train / 4))
    model, config = load_encoder(tmp_path / "run", "last")
    torch.manual_seed(cfg.seed)  # the run built its initial weights right after this seed
    initial = create_encoder(config.encoder).state_dict()
    trained = model.state_dict()
    moved = {name for name in initial if not torch.equal(initial[name], trained[name])}
    assert {"head.embeddings.weight", "head.readout.weight", "projection.layers.0.1.weight"} <= moved
    assert any(name.startswith("backbone.adapters.") for name in moved)
    assert not any(name.startswith("backbone.vit.") for name in moved)


def test_best_score_is_validation_r_only_with_three_validation_images(crowd, tmp_path):
    cfg = TrainConfig(**{**FAST, "epochs": 1})
    result = train_encoder(crowd, tmp_path / "loss", encoder="ube_tiny", training=cfg, progress=False)
    losses = pd.read_csv(tmp_path / "loss" / "steps.csv")["loss"]
    assert not result["validated"] and result["best_score"] == pytest.approx(-losses.mean(), rel=1e-5)
    larger = make_small_crowd(n_images=40, n_voxels=(30, 20), n_train=12)       # 3 validation images each
    result = train_encoder(larger, tmp_path / "val", encoder="ube_tiny", training=cfg, progress=False)
    metrics = pd.read_csv(tmp_path / "val" / "metrics.csv")
    assert result["validated"] and result["best_score"] == pytest.approx(metrics["val_p75_r"].max(), abs=1e-5)


def test_existing_run_is_protected(crowd, tmp_path):
    cfg = TrainConfig(**{**FAST, "epochs": 1})
    train_encoder(crowd, tmp_path, encoder="ube_tiny", training=cfg, progress=False)
    before = (tmp_path / "checkpoints" / "last.pt").read_bytes()
    with pytest.raises(BrainembedError, match="different configuration"):
        train_encoder(crowd, tmp_path, encoder="ube_tiny", training=cfg.replace(lr=0.5), progress=False)
    with pytest.raises(BrainembedError, match="--resume"):
        train_encoder(crowd, tmp_path, encoder="ube_tiny", training=cfg, resume=False, progress=False)
    assert (tmp_path / "checkpoints" / "last.pt").read_bytes() == before


def _cli_store(tmp_path, crowd):
    save_crowd(crowd, tmp_path / "data")
    cfg = tmp_path / "settings.yaml"
    cfg.write_text(yaml.safe_dump({"encoder": {"name": "ube_tiny", "mlp_dropout": 0.0},
                                   "training": {**FAST, "epochs": 2, "max_shift": 2}}))
    return tmp_path / "data", cfg


def test_cli_train_and_bad_input(crowd, tmp_path, capsys):
    data, cfg = _cli_store(tmp_path, crowd)
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "run"), "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "run written to" in out
    # one validation image per subject: epochs are compared by training loss, and the message says so
    assert "no subject has 3 validation images, so the best epoch is the one of lowest training loss" in out
    assert "best validation p75 r" not in out
    assert (tmp_path / "run" / "config.yaml").is_file()
    cases = [
        ["train", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r2")],
        ["train", "--data", str(data), "--out", str(tmp_path / "r3"), "--subjects", "42"],
        ["train", "--data", str(data), "--out", str(tmp_path / "r4"), "--encoder", "vit_huge_from_mars"],
        ["train", "--data", str(data), "--out", str(tmp_path / "run"), "--config", str(cfg), "--lr", "0.3"],
        ["train", "--data", str(data), "--out", str(tmp_path / "r5"), "--config", str(tmp_path / "none.yaml")],
    ]
    for argv in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err, err


def _torchrun(args, **kw):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m",
           "brainembed", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, **kw)


def _single_and_ddp_losses(tmp_path, data, cfg):
    """Per-step losses of one process and of two torchrun processes trained from the same config."""
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "single"), "--config", str(cfg)]) == 0
    result = _torchrun(["train", "--data", str(data), "--out", str(tmp_path / "ddp"), "--config", str(cfg),
                        "--device", "cpu"])
    assert result.returncode == 0, result.stderr[-3000:]
    return [pd.read_csv(tmp_path / run / "steps.csv")["loss"].to_numpy() for run in ("single", "ddp")]


@pytest.mark.slow
def test_ddp_two_processes_match_single_process(crowd, tmp_path):
    single, ddp = _single_and_ddp_losses(tmp_path, *_cli_store(tmp_path, crowd))
    assert single.shape == ddp.shape
    # Same batches, same voxels, gradients averaged over ranks: equal up to float summation order.
    np.testing.assert_allclose(ddp, single, rtol=1e-4, atol=1e-6)


@pytest.mark.slow
def test_ddp_subject_blocks_match_single_process(tmp_path):
    # 16 training rows per subject: blocks of 4 images, 2 per rank, all voxels on both ranks.
    crowd = make_small_crowd(n_images=40, n_train=22, n_voxels=(30, 20))
    data, cfg = _cli_store(tmp_path, crowd)
    settings = yaml.safe_load(cfg.read_text())
    settings["training"].update(sampling="subjects", max_shift=0)
    cfg.write_text(yaml.safe_dump(settings))
    single, ddp = _single_and_ddp_losses(tmp_path, data, cfg)
    assert single.shape == ddp.shape == (2 * 8,)
    np.testing.assert_allclose(ddp, single, rtol=1e-4, atol=1e-6)


@pytest.mark.slow
def test_sigkill_at_any_moment_then_resume_gives_identical_weights(crowd, tmp_path):
    data, cfg = _cli_store(tmp_path, crowd)
    settings = yaml.safe_load(cfg.read_text())
    settings["training"].update(epochs=4, checkpoint_every=1)
    cfg.write_text(yaml.safe_dump(settings))
    base = [sys.executable, "-m", "brainembed", "train", "--data", str(data), "--config", str(cfg)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(base + ["--out", str(tmp_path / "clean")], check=True, env=env, capture_output=True)
    run = tmp_path / "killed"
    rng = np.random.default_rng(0)
    for delay in rng.uniform(2.5, 6.0, size=5):
        proc = subprocess.Popen(base + ["--out", str(run), "--resume"], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    subprocess.run(base + ["--out", str(run), "--resume"], check=True, env=env, capture_output=True)
    a, b = _weights(tmp_path / "clean"), _weights(run)
    for key in a:
        assert torch.equal(a[key], b[key]), key
