"""The crowd-of-datasets experiment: two runs differing only in their data, compared on the targets."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from brainembed.cli import main
from brainembed.data.subjects import subject_key
from brainembed.errors import BrainembedError
from brainembed.pipeline.datasets import compare_runs, crowd_of_datasets
from tests.conftest import make_small_crowd

TRAINING = {"epochs": 1, "batch_size": 4, "voxels_per_image": 8, "device": "cpu", "max_shift": 0}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from brainembed.data import save_crowd

    crowd = make_small_crowd(n_voxels=(10, 8, 6), n_images=24, n_train=12, n_test=6)  # 7T:1, 3T:1, 4T:1
    return save_crowd(crowd, tmp_path_factory.mktemp("datasets") / "data")


def test_compare_runs_recovers_a_planted_gain():
    rng = np.random.default_rng(0)
    alone = pd.DataFrame({"dataset": "3T", "subject": "1", "model": "universal", "voxel": np.arange(200),
                          "r": rng.uniform(0, 0.5, 200)})
    joint = alone.assign(r=alone["r"] + 0.1 + rng.normal(0, 0.01, 200))
    comparison, voxels = compare_runs(alone, joint)
    row = comparison.iloc[0]
    assert row["median_r_joint"] == pytest.approx(np.median(joint["r"]))
    assert row["gain"] == pytest.approx(np.median(joint["r"]) - np.median(alone["r"]))
    assert row["share_voxels_improved"] == 1.0
    assert row["wilcoxon_p"] == pytest.approx(stats.wilcoxon(joint["r"], alone["r"]).pvalue)
    assert len(voxels) == 200 and (voxels["r_joint"] > voxels["r_alone"]).all()
    with pytest.raises(BrainembedError, match="no scores"):
        compare_runs(alone, joint.assign(subject="2"))


def test_two_runs_are_trained_compared_and_reused(store, tmp_path):
    out = tmp_path / "cod"
    result = crowd_of_datasets(store, out, encoder="ube_tiny", training=TRAINING, progress=False, figures=False)
    table = result["comparison"]
    assert subject_key(table["dataset"], table["subject"]).tolist() == ["3T:1", "4T:1"]
    from brainembed.training.run import RunDirectory

    assert RunDirectory(out / "targets_only").read_config().subjects == ("3T:1", "4T:1")
    assert set(RunDirectory(out / "with_added").read_config().subjects) == {"3T:1", "4T:1", "7T:1"}
    alone = pd.read_csv(out / "targets_only" / "evaluation_targets" / "voxels.csv", dtype={"subject": str})
    mine = alone[(alone["dataset"] == "3T")]["r"].median()
    assert table.loc[0, "median_r_alone"] == pytest.approx(mine)
    assert np.isfinite(table[["median_r_alone", "median_r_joint", "wilcoxon_p"]].to_numpy()).all()
    stamp = (out / "targets_only" / "checkpoints" / "last.pt").stat().st_mtime_ns
    again = crowd_of_datasets(store, out, encoder="ube_tiny", training=TRAINING, progress=False, figures=False)
    assert (out / "targets_only" / "checkpoints" / "last.pt").stat().st_mtime_ns == stamp  # finished: not retrained
    pd.testing.assert_frame_equal(again["comparison"], table)

    # An existing joint run is used as it is, and its settings train the targets-only run.
    reuse = crowd_of_datasets(store, tmp_path / "reuse", joint_run=out / "with_added", progress=False, figures=False)
    assert reuse["runs"]["with_added"] == out / "with_added" and not (tmp_path / "reuse" / "with_added").exists()
    assert RunDirectory(tmp_path / "reuse" / "targets_only").read_config().encoder.backbone == \
        RunDirectory(out / "with_added").read_config().encoder.backbone


def test_bad_datasets_give_one_line_errors(store, tmp_path, capsys):
    assert main(["datasets", "--data", str(store), "--out", str(tmp_path / "x"), "--targets", "9T"]) == 2
    err = capsys.readouterr().err
    assert "unknown target dataset(s) 9T" in err and "Traceback" not in err
    with pytest.raises(BrainembedError, match="both a target and added"):
        crowd_of_datasets(store, tmp_path / "y", targets=["3T"], added=["3T"], progress=False)
    with pytest.raises(BrainembedError, match="not a brainembed run"):
        crowd_of_datasets(store, tmp_path / "z", targets=["3T"], added=["7T"], joint_run=tmp_path / "nope",
                          progress=False)
