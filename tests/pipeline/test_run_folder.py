"""A run works from any current folder, and after it moves together with its store (issue 19).

The run is trained the way ``make demo`` does it: from its project folder, with
a store path relative to that folder. Every command that reads a run is then
called from another folder.
"""

import shutil

import numpy as np
import pandas as pd
import pytest
import yaml

from brainembed.cli import main
from brainembed.data import save_crowd
from brainembed.training.run import RunDirectory
from tests.conftest import make_small_crowd

SUBJECTS = ["7T:1", "3T:1"]  # 4T:1 stays out of the run, for transfer learning


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """``PROJECT/data/crowd.h5`` and ``PROJECT/run``, trained with PROJECT as the current folder."""
    project = tmp_path_factory.mktemp("project")
    crowd = make_small_crowd(n_images=40, n_voxels=(20, 16, 14), n_train=20, n_test=10)
    rng = np.random.default_rng(1)
    for subject in crowd:
        subject.voxels["vertex"] = rng.choice(np.arange(0, 10242, 7), subject.n_voxels, replace=False)
        ffa = subject.voxels["roi"] == "FFA"
        subject.voxels["region"] = np.where(ffa, "FFA", "V1")
        subject.voxels["preferred_category"] = np.where(ffa, "face", "none")
    save_crowd(crowd, project / "data")
    (project / "settings.yaml").write_text(yaml.safe_dump({"encoder": "ube_tiny", "training": {
        "epochs": 1, "batch_size": 8, "voxels_per_image": 16, "device": "cpu"}}))
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(project)
        assert main(["train", "--data", "data", "--out", "run", "--config", "settings.yaml",
                     "--subjects", *SUBJECTS]) == 0
    return project


OUTPUTS = ("clusters", "analysis", "evaluation", "transfer", "explorer", "figures", "feature_cache")


def _copy(project, where):
    """The project's store and run, without what earlier tests wrote into it."""
    shutil.copytree(project, where, ignore=shutil.ignore_patterns(*OUTPUTS))
    return where


def _one_line_error(capsys):
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


def _every_command(run, out, capsys):
    """cluster, top-images, flatmap, evaluate, transfer and explore on ``run``; each must exit 0."""
    run = str(run)
    commands = [
        ["cluster", "--run", run, "--subjects", *SUBJECTS, "--k", "3", "--n-top", "3", "--device", "cpu"],
        ["top-images", "--run", run, "--n", "3", "--device", "cpu"],
        ["flatmap", "--run", run, "--value", "clusters", "--renderer", "nilearn", "--out", str(out / "map.png")],
        ["evaluate", "--run", run, "--baselines", "none", "--candidates", "5"],
        ["transfer", "--run", run, "--subject", "4T:1", "--n-train", "5", "--seeds", "1", "--no-scratch"],
        ["explore", "--run", run, "--clusters", "latest", "--out", str(out / "site")],
    ]
    for argv in commands:
        code = main(argv)
        assert code == 0, (argv[0], capsys.readouterr().err)


def test_config_records_the_store_absolute_and_relative_to_the_run(project):
    config = RunDirectory(project / "run").read_config()
    assert config.data == str(project / "data" / "crowd.h5")
    assert config.data_relative == "../data/crowd.h5"


def test_every_command_works_from_another_folder(project, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _every_command(project / "run", tmp_path, capsys)
    assert (project / "run" / "evaluation" / "summary.csv").is_file()
    assert (project / "run" / "transfer" / "4T_1" / "curve.csv").is_file()
    assert (tmp_path / "site" / "index.html").is_file()


def test_a_run_moved_with_its_store_still_works(project, tmp_path, monkeypatch, capsys):
    moved = _copy(project, tmp_path / "moved" / "project")
    shutil.rmtree(project / "data")  # the recorded absolute path no longer exists
    try:
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        monkeypatch.chdir(elsewhere)
        assert RunDirectory(moved / "run").store_path() == moved / "data" / "crowd.h5"
        _every_command(moved / "run", elsewhere, capsys)
    finally:
        shutil.copytree(moved / "data", project / "data")


def test_a_run_moved_without_its_store_asks_for_data(project, tmp_path, monkeypatch, capsys):
    alone = tmp_path / "alone" / "run"
    shutil.copytree(project / "run", alone, ignore=shutil.ignore_patterns(*OUTPUTS))
    shutil.move(str(project / "data"), str(tmp_path / "stored"))
    try:
        monkeypatch.chdir(tmp_path)
        for argv in (["cluster", "--run", str(alone), "--k", "2", "--n-top", "0"],
                     ["flatmap", "--run", str(alone), "--value", "roi", "--renderer", "nilearn"],
                     ["evaluate", "--run", str(alone), "--baselines", "none"],
                     ["transfer", "--run", str(alone), "--subject", "4T:1"]):
            assert main(argv) == 2
            err = _one_line_error(capsys)
            assert "crowd store" in err and "pass it with --data" in err, err
        assert main(["cluster", "--run", str(alone), "--k", "2", "--n-top", "0", "--data",
                     str(tmp_path / "stored")]) == 0
    finally:
        shutil.move(str(tmp_path / "stored"), str(project / "data"))


def test_a_run_written_before_data_relative_still_loads(project, tmp_path, monkeypatch, capsys):
    """Earlier versions recorded the store relative to the folder training started from."""
    old = _copy(project, tmp_path / "old")
    config = yaml.safe_load((old / "run" / "config.yaml").read_text())
    config["data"] = "data/crowd.h5"
    del config["data_relative"]
    (old / "run" / "config.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.chdir(old)  # where training started
    assert RunDirectory("run").store_path().resolve() == (old / "data" / "crowd.h5").resolve()
    monkeypatch.chdir(tmp_path)  # anywhere else: found beside the run folder
    assert RunDirectory(old / "run").store_path().resolve() == (old / "data" / "crowd.h5").resolve()
    assert main(["cluster", "--run", str(old / "run"), "--subjects", "7T:1", "--k", "2", "--n-top", "0"]) == 0
    labels = pd.read_csv(old / "run" / "clusters" / "k2_7T_1" / "labels.csv")
    assert len(labels) == 20
    # resuming it with the same settings and the same store is not "a different configuration"
    from brainembed.data import load_crowd
    from brainembed.training.loop import train_encoder

    config = RunDirectory(old / "run").read_config()
    result = train_encoder(load_crowd(old / "data", SUBJECTS, repeats=False), old / "run", encoder=config.encoder,
                           training=config.training, data_path=str(old / "data" / "crowd.h5"), progress=False)
    assert result["finished"]


def test_cluster_reads_the_config_the_checkpoint_and_the_store_once(project, tmp_path, monkeypatch):
    import torch

    from brainembed.data import CrowdStore
    from brainembed.training.run import RunConfig

    counts = {"config": 0, "checkpoint": 0, "store": 0}

    def counted(name, function):
        def wrapper(*args, **kwargs):
            counts[name] += 1
            return function(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(RunConfig, "load_yaml", classmethod(counted("config", RunConfig.load_yaml.__func__)))
    monkeypatch.setattr(torch, "load", counted("checkpoint", torch.load))
    monkeypatch.setattr(CrowdStore, "__init__", counted("store", CrowdStore.__init__))
    run = _copy(project, tmp_path / "counted") / "run"
    assert main(["cluster", "--run", str(run), "--subjects", *SUBJECTS, "--k", "3", "--n-top", "3",
                 "--device", "cpu"]) == 0
    assert counts == {"config": 1, "checkpoint": 1, "store": 1}
