import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from brainembed.cli import main
from brainembed.data import save_crowd
from brainembed.errors import BrainembedError
from brainembed.evaluation.metrics import pearson_per_voxel
from brainembed.pipeline.refit import refit_run
from brainembed.training.checkpoint import load_checkpoint, save_checkpoint
from brainembed.training.config import TrainConfig
from brainembed.training.loop import train_encoder
from brainembed.training.predict import predict_subject
from brainembed.training.run import RunDirectory, load_encoder
from tests.conftest import make_small_crowd

TABLE = "head.embeddings.weight"


@pytest.fixture(scope="module")
def setting(tmp_path_factory):
    root = tmp_path_factory.mktemp("refit")
    crowd = make_small_crowd(n_images=60, n_voxels=(20, 18, 16), n_train=30, n_test=10)
    # Strong, voxel-specific tuning to the images' mean colour, so that which voxel is which matters.
    rng = np.random.default_rng(1)
    colour = crowd.images.pixels.reshape(len(crowd.images.ids), -1, 3).mean(1)
    for subject in crowd.subjects:
        signal = colour[np.searchsorted(crowd.images.ids, subject.image_ids)] @ rng.normal(size=(3, subject.n_voxels))
        signal = (signal - signal.mean(0)) / signal.std(0)
        subject.responses[:] = signal + 0.3 * rng.normal(size=signal.shape)
    save_crowd(crowd, root / "data")
    train_encoder(crowd, root / "run", encoder="ube_tiny", data_path=str(root / "data" / "crowd.h5"),
                  training=TrainConfig(epochs=4, batch_size=8, voxels_per_image=16, device="cpu"), progress=False)
    # A damaged copy: the first subject's embeddings are shuffled across its voxels, so they no longer
    # say which voxel is which; refitting must restore that information from the subject's data.
    shutil.copytree(root / "run", root / "damaged")
    best = RunDirectory(root / "damaged").best
    state = load_checkpoint(best)
    n = crowd.subject(crowd.keys[0]).n_voxels
    state["model"][TABLE][:n] = state["model"][TABLE][:n][torch.randperm(n, generator=torch.Generator().manual_seed(0))]
    save_checkpoint(state, best)
    return root, crowd


def _test_median_r(run, crowd, key):
    model, _ = load_encoder(run)
    subject = crowd.subject(key)
    rows = subject.rows("test")
    offset = crowd.offsets[crowd.keys.index(key)]
    pred = predict_subject(model, crowd, key, rows, voxel_offset=offset)
    return float(np.median(pearson_per_voxel(pred, subject.responses[rows])))


def test_refit_restores_shuffled_embeddings_and_touches_nothing_else(setting, tmp_path):
    root, crowd = setting
    key = crowd.keys[0]
    result = refit_run(root / "damaged", tmp_path / "refit", [key], max_epochs=30, patience=30, progress=False)
    damaged = _test_median_r(root / "damaged", crowd, key)
    refitted = _test_median_r(tmp_path / "refit", crowd, key)
    assert refitted > damaged + 0.2, (damaged, refitted)

    before = load_checkpoint(RunDirectory(root / "damaged").best)["model"]
    after = load_checkpoint(RunDirectory(tmp_path / "refit").best)["model"]
    n = crowd.subject(key).n_voxels
    assert set(before) == set(after)
    assert all(torch.equal(before[k], after[k]) for k in before if k != TABLE)  # shared weights untouched
    assert torch.equal(before[TABLE][n:], after[TABLE][n:])  # the other subjects keep their embeddings
    assert not torch.equal(before[TABLE][:n], after[TABLE][:n])
    table = pd.read_csv(tmp_path / "refit" / "refit.csv")
    assert list(table["subject"]) == [key] and table.loc[0, "epochs"] == 30
    assert 1 <= table.loc[0, "best_epoch"] <= 30 and np.isfinite(table.loc[0, "val_p75_r"])
    source, refit = RunDirectory(root / "damaged"), RunDirectory(tmp_path / "refit")
    # the same configuration; the store recorded relative to the new folder too
    assert refit.read_config().replace(data_relative="") == source.read_config().replace(data_relative="")
    assert refit.store_path() == source.store_path()
    assert result["out"] == tmp_path / "refit"
    # The same seed gives the same embeddings.
    again = refit_run(root / "damaged", tmp_path / "again", [key], max_epochs=30, patience=30, progress=False)
    assert again["table"].loc[0, "best_epoch"] == table.loc[0, "best_epoch"]
    assert torch.equal(load_checkpoint(RunDirectory(tmp_path / "again").best)["model"][TABLE], after[TABLE])


def test_refit_refuses_bad_input_and_keeps_results(setting, tmp_path, capsys):
    root, crowd = setting
    with pytest.raises(BrainembedError, match="must differ"):
        refit_run(root / "run", root / "run", progress=False)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("results")
    with pytest.raises(BrainembedError, match="overwrite"):
        refit_run(root / "run", tmp_path / "full", progress=False)
    assert (tmp_path / "full" / "keep.txt").read_text() == "results"
    with pytest.raises(BrainembedError, match="patience"):
        refit_run(root / "run", tmp_path / "x", patience=0, progress=False)
    assert main(["refit", "--run", str(root / "run"), "--out", str(tmp_path / "y"), "--subjects", "NOPE:9"]) == 2
    with pytest.raises(SystemExit) as exit_info:  # argparse refuses it
        main(["refit", "--run", str(root / "run"), "--out", str(tmp_path / "y"), "--lr", "-1"])
    assert exit_info.value.code == 2
    assert not (tmp_path / "y").exists()
    capsys.readouterr()


def test_cli_refit_then_cluster(setting, tmp_path, capsys):
    root, crowd = setting
    out = tmp_path / "refit"
    ids = list(crowd.keys[:2])
    assert main(["refit", "--run", str(root / "run"), "--out", str(out), "--subjects", *ids,
                 "--max-epochs", "3"]) == 0, capsys.readouterr().err
    assert "refitted embeddings written" in capsys.readouterr().out
    assert len(pd.read_csv(out / "refit.csv")) == 2
    assert main(["cluster", "--run", str(out), "--subjects", *ids, "--k", "3", "--n-top", "2"]) == 0, \
        capsys.readouterr().err
    assert (out / "clusters" / "LATEST").is_file()
