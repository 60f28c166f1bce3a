import numpy as np
import pandas as pd
import pytest
import torch

from brainembed.cli import main
from brainembed.data import save_crowd
from brainembed.training.config import TrainConfig
from brainembed.training.loop import train_encoder
from brainembed.training.run import load_encoder
from brainembed.training.transfer import fit_new_subject, predict_new_subject
from tests.conftest import make_small_crowd


@pytest.fixture(scope="module")
def setting(tmp_path_factory):
    root = tmp_path_factory.mktemp("transfer")
    crowd = make_small_crowd(n_images=60, n_voxels=(20, 18, 16), n_train=30, n_test=10)
    save_crowd(crowd, root / "data")
    pretrain = crowd.select(crowd.keys[:2])
    train_encoder(pretrain, root / "run", encoder="ube_tiny", data_path=str(root / "data" / "crowd.h5"),
                  training=TrainConfig(epochs=3, batch_size=8, voxels_per_image=16, device="cpu"), progress=False)
    return root, crowd


def test_only_new_embeddings_learn_and_predictions_improve(setting):
    root, crowd = setting
    model, _ = load_encoder(root / "run")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    key = crowd.keys[2]
    fitted = fit_new_subject(model, crowd, key, max_epochs=15, patience=15, seed=0)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # shared weights untouched
    assert {n for n, p in model.named_parameters() if p.requires_grad} == trainable  # flags restored
    assert fitted["embeddings"].shape == (crowd.subject(key).n_voxels, model.config.embed_dim)
    losses = [h[0] for h in fitted["history"]]
    assert losses[-1] < losses[0]
    pred = predict_new_subject(model, crowd, key, fitted["embeddings"], fitted["bias"])
    assert pred.shape == (10, 16) and np.isfinite(pred).all()


def test_cli_transfer_curve(setting, capsys):
    root, crowd = setting
    code = main(["transfer", "--run", str(root / "run"), "--subject", crowd.keys[2], "--n-train", "10", "all",
                 "--seeds", "2"])
    assert code == 0, capsys.readouterr().err
    out = root / "run" / "transfer" / crowd.keys[2].replace(":", "_")
    curve = pd.read_csv(out / "curve.csv")
    assert set(curve["model"]) == {"transfer", "scratch"} and set(curve["n_train"]) == {10, 30}
    assert len(curve) == 2 * 2 * 2
    assert (out / "transfer_curve.png").is_file()
    # a subject the run already knows is refused; so is N beyond the training set
    assert main(["transfer", "--run", str(root / "run"), "--subject", crowd.keys[0]]) == 2
    assert main(["transfer", "--run", str(root / "run"), "--subject", crowd.keys[2], "--n-train", "999",
                 "--out", str(root / "x")]) == 2
    err = capsys.readouterr().err
    assert "never saw" in err and "exceeds" in err


def test_scratch_models_only_on_the_sizes_asked_for(setting, tmp_path):
    root, crowd = setting
    out = tmp_path / "curve"
    code = main(["transfer", "--run", str(root / "run"), "--subject", crowd.keys[2], "--n-train", "10",
                 "--scratch-n-train", "all", "--seeds", "1", "--out", str(out)])
    assert code == 0
    curve = pd.read_csv(out / "curve.csv")
    assert sorted(zip(curve["model"], curve["n_train"])) == [("scratch", 30), ("transfer", 10)]
    assert not (out / "scratch" / "n10_seed0").exists()
