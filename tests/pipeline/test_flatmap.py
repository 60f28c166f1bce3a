"""``brainembed flatmap`` on a small hand-made run folder."""

import numpy as np
import pandas as pd
import pytest

from brainembed.cli import main
from brainembed.data import save_crowd
from brainembed.pipeline.flatmap import flatmap_run
from brainembed.training.run import RunConfig
from tests.conftest import make_small_crowd


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A run folder with a config, a store, per-voxel accuracy and one clustering (no training)."""
    root = tmp_path_factory.mktemp("flatmap")
    crowd = make_small_crowd(n_voxels=(400, 300))
    # Voxels of a patch of occipital cortex, so the maps show something.
    rng = np.random.default_rng(1)
    for subject in crowd.subjects:
        subject.voxels["vertex"] = rng.choice(np.arange(4000, 9000), subject.n_voxels, replace=False)
    store = save_crowd(crowd, root / "data")
    run = root / "run"
    run.mkdir()
    RunConfig(data=str(store), subjects=tuple(crowd.keys),
              voxels_per_subject=tuple(s.n_voxels for s in crowd.subjects)).save_yaml(run / "config.yaml")
    rows, labels = [], []
    for s in crowd.subjects:
        for model in ("universal", "ridge"):
            rows.append(pd.DataFrame({"dataset": s.dataset, "subject": s.subject, "model": model,
                                      "voxel": np.arange(s.n_voxels), "r": rng.uniform(-0.1, 0.8, s.n_voxels)}))
        labels.append(pd.DataFrame({"dataset": s.dataset, "subject": s.subject, "voxel": np.arange(s.n_voxels),
                                    "hemi": s.voxels["hemi"], "vertex": s.voxels["vertex"], "roi": s.voxels["roi"],
                                    "cluster": s.voxels["vertex"].to_numpy() // 1000}))
    (run / "evaluation").mkdir()
    pd.concat(rows).to_csv(run / "evaluation" / "voxels.csv", index=False)
    (run / "clusters" / "k5").mkdir(parents=True)
    pd.concat(labels).to_csv(run / "clusters" / "k5" / "labels.csv", index=False)
    (run / "clusters" / "LATEST").write_text("k5\n")
    return run


@pytest.mark.parametrize("value", ["clusters", "roi", "accuracy"])
def test_cli_writes_a_flatmap(run, tmp_path, capsys, value):
    out = tmp_path / f"{value}.png"
    code = main(["flatmap", "--run", str(run), "--value", value, "--subjects", "7T:1", "3T:1", "--out", str(out),
                 "--renderer", "nilearn"])
    assert code == 0
    printed = capsys.readouterr().out
    assert str(out) in printed and "7T:1, 3T:1" in printed
    assert out.is_file() and out.stat().st_size > 10_000


def test_cluster_flatmap_with_pycortex_to_svg(run, tmp_path, capsys):
    pytest.importorskip("cortex")
    out = tmp_path / "clusters.svg"
    assert main(["flatmap", "--run", str(run), "--subjects", "7T:1", "--out", str(out), "--renderer", "pycortex",
                 "--clusters", "k5"]) == 0
    assert out.read_text().lstrip().startswith("<?xml")
    assert "(pycortex)" in capsys.readouterr().out


def test_default_output_goes_into_the_run(run):
    result = flatmap_run(run, value="roi", renderer="nilearn")
    assert result["path"] == run / "figures" / "flatmap_roi.png" and result["path"].is_file()
    assert result["subjects"] == ["7T:1", "3T:1"]


@pytest.mark.parametrize("args, message", [
    (["--value", "colour"], "unknown value 'colour'"),
    (["--value", "region"], "no 'region' column"),
    (["--subjects", "9"], "unknown subject '9'"),
    (["--clusters", "k99"], "k99/labels.csv is missing"),
    (["--renderer", "blender"], "unknown flatmap renderer"),
    (["--out", "map.gif"], "must end in .png, .svg, .pdf"),
])
def test_bad_input_exits_2_with_one_line(run, tmp_path, capsys, args, message):
    if "--out" not in args:
        args = args + ["--out", str(tmp_path / "x.png")]
    assert main(["flatmap", "--run", str(run), "--renderer", "nilearn", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "x.png").exists()


def test_missing_evaluation_and_clustering_are_named(tmp_path, run, capsys):
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "config.yaml").write_text((run / "config.yaml").read_text())
    for value, message in (("accuracy", "evaluation/voxels.csv is missing; run `brainembed evaluate"),
                           ("clusters", "holds no clustering")):
        assert main(["flatmap", "--run", str(bare), "--value", value, "--renderer", "nilearn"]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1
    assert main(["flatmap", "--run", str(tmp_path / "nothing"), "--renderer", "nilearn"]) == 2
    assert "not a brainembed run" in capsys.readouterr().err
