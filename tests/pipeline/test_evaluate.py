import numpy as np
import pandas as pd
import pytest
import yaml

from brainembed.cli import main
from brainembed.data import save_crowd
from brainembed.pipeline.evaluate import evaluate_run
from tests.conftest import make_small_crowd


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("evaluate")
    crowd = make_small_crowd(n_images=60, n_voxels=(20, 16), n_train=24, n_test=12)
    save_crowd(crowd, root / "data")
    settings = root / "settings.yaml"
    settings.write_text(yaml.safe_dump({"encoder": "ube_tiny", "training": {
        "epochs": 2, "batch_size": 8, "voxels_per_image": 16, "device": "cpu", "val_fraction": 0.15}}))
    assert main(["train", "--data", str(root / "data"), "--out", str(root / "run"), "--config", str(settings)]) == 0
    return root


def test_evaluate_writes_every_table_with_baselines(trained_run, capsys):
    run = trained_run / "run"
    assert main(["evaluate", "--run", str(run), "--candidates", "10"]) == 0
    out = capsys.readouterr().out
    assert "evaluation tables and figures written to" in out
    ev = run / "evaluation"
    for name in ("voxels.csv", "summary.csv", "by_roi.csv", "rsa.csv", "retrieval_repeats.csv", "anova.csv",
                 "voxel_significance.csv", "retrieval_ttests.csv", "median_r.png", "retrieval.png"):
        assert (ev / name).is_file(), name
    summary = pd.read_csv(ev / "summary.csv")
    assert set(summary["model"]) == {"universal", "single", "ridge"}
    assert len(summary) == 2 * 3
    assert {"median_r", "p25_r", "p75_r", "median_r2_over_nc", "median_r_over_true_ceiling", "mse", "top1",
            "top5"} <= set(summary.columns)
    assert ((summary["p25_r"] <= summary["median_r"]) & (summary["median_r"] <= summary["p75_r"])).all()
    voxels = pd.read_csv(ev / "voxels.csv")
    assert len(voxels) == 3 * (20 + 16)
    # The single-subject baselines are real runs, kept for reuse.
    assert (run / "baselines" / "single" / "7T_1" / "checkpoints" / "last.pt").is_file()
    # A second evaluation does not silently replace the first.
    assert main(["evaluate", "--run", str(run), "--candidates", "10", "--baselines", "none"]) == 2
    assert "--overwrite" in capsys.readouterr().err


def test_evaluate_ridge_only_matches_independent_metrics(trained_run, tmp_path):
    from scipy.stats import pearsonr

    result = evaluate_run(trained_run / "run", baselines=("ridge",), out=tmp_path, n_candidates=10,
                          progress=False, figures=False)
    vox = result["voxels"]
    assert set(vox["model"]) == {"universal", "ridge"}
    # summary median equals the median of the per-voxel table
    for (ds, sub, model), part in vox.groupby(["dataset", "subject", "model"]):
        summary = result["summary"]
        row = summary[(summary["dataset"] == ds) & (summary["subject"] == sub) & (summary["model"] == model)].iloc[0]
        assert row["median_r"] == pytest.approx(np.median(part["r"]))
    # one voxel's r recomputed with scipy from fresh predictions
    from brainembed.data import load_crowd
    from brainembed.training.predict import predict_subject
    from brainembed.training.run import load_encoder

    model, config = load_encoder(trained_run / "run")
    crowd = load_crowd(config.data)
    key = crowd.keys[0]
    subject = crowd.subject(key)
    pred = predict_subject(model, crowd, key)
    expected = pearsonr(pred[:, 3], subject.responses[subject.rows("test"), 3])[0]
    got = vox.query("model == 'universal' and dataset == @subject.dataset and voxel == 3")["r"].iloc[0]
    assert got == pytest.approx(expected, abs=1e-5)


def test_evaluate_bad_input(trained_run, tmp_path, capsys):
    assert main(["evaluate", "--run", str(tmp_path / "nothing")]) == 2
    assert main(["evaluate", "--run", str(trained_run / "run"), "--baselines", "magic", "--out",
                 str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "not a brainembed run" in err and "unknown baseline" in err


def test_single_subject_baseline_only_for_the_subjects_named(trained_run, tmp_path):
    keys = [f"{d}:1" for d in ("7T", "3T")]
    result = evaluate_run(trained_run / "run", baselines=("single",), single_subjects=[keys[1]], out=tmp_path,
                          n_candidates=10, progress=False, figures=False)
    summary = result["summary"]
    with_single = {f"{d}:{s}" for d, s in summary.loc[summary["model"] == "single", ["dataset", "subject"]]
                   .astype(str).itertuples(index=False)}
    assert with_single == {keys[1]}
    assert len(summary[summary["model"] == "universal"]) == 2  # every subject is still evaluated


def test_evaluate_with_fewer_than_five_candidates(trained_run, tmp_path):
    # A crowd of small datasets can have subjects with fewer than 5 test images; --candidates 3 used to fail
    # with "top_k must be between 1 and 3, got 5".
    result = evaluate_run(trained_run / "run", baselines=(), out=tmp_path, n_candidates=3, n_repeats=4,
                          progress=False, figures=False)
    summary = result["summary"]
    assert (summary["n_candidates"] == 3).all()
    np.testing.assert_allclose(summary["chance_top1"], 1 / 3)
    assert summary["top1"].between(0, 1).all()
    assert (summary["top5"] == 1.0).all() and (summary["chance_top5"] == 1.0).all()    # every candidate
