"""The command line: one clear sentence and exit status 2 for bad input, never a traceback."""

import h5py
import pytest

from brainembed.cli import main
from brainembed.data import save_crowd
from tests.conftest import make_small_crowd


def _one_line_error(capsys):
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    return err.splitlines()[-1]


@pytest.fixture
def store(tmp_path):
    save_crowd(make_small_crowd(), tmp_path / "good")
    return tmp_path / "good"


def test_info_prints_a_table(store, capsys):
    assert main(["info", str(store)]) == 0
    out = capsys.readouterr().out
    assert "7T" in out and "3T" in out and "n_voxels" in out


def test_info_leaves_other_datasets_columns_blank(tmp_path, capsys):
    crowd = make_small_crowd()
    crowd.subjects[0].attrs.update(runs=5, space="fsLR32k")
    crowd.subjects[1].attrs.update(sessions=3, zscore="per session")
    save_crowd(crowd, tmp_path / "two")
    assert main(["info", str(tmp_path / "two")]) == 0
    header, first, second = capsys.readouterr().out.splitlines()[1:]
    assert header.split()[-4:] == ["runs", "space", "sessions", "zscore"]
    assert "NaN" not in first + second
    assert first.split()[-2:] == ["5", "fsLR32k"] and second.split()[-3:] == ["3", "per", "session"]


def _corrupt_stores(tmp_path, store):
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"\x89HDF\r\n" + b"\x00" * 64)
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes((store / "crowd.h5").read_bytes()[:2000])
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["data"] = [1, 2, 3]
    empty = tmp_path / "empty.h5"
    with h5py.File(empty, "w") as f:
        f.attrs["format"] = "brainembed-crowd"
        f.attrs["format_version"] = 1
        f.create_group("images")
        f["images/pixels"] = [0]
        f["images/ids"] = [0]
        f.create_group("subjects")
    future = tmp_path / "future.h5"
    future.write_bytes((store / "crowd.h5").read_bytes())
    with h5py.File(future, "a") as f:
        f.attrs["format_version"] = 99
    no_voxels = tmp_path / "no_voxels.h5"
    no_voxels.write_bytes((store / "crowd.h5").read_bytes())
    with h5py.File(no_voxels, "a") as f:
        del f["subjects/7T/1/voxels"]
    return {"junk": (junk, "not a readable HDF5"), "truncated": (truncated, "HDF5"),
            "foreign": (foreign, "not a brainembed crowd store"), "empty": (empty, "holds no subjects"),
            "future": (future, "newer brainembed"), "no_voxels": (no_voxels, "lacks 'voxels'"),
            "missing": (tmp_path / "absent", "no crowd store")}


def test_malformed_stores_give_exit_2(tmp_path, store, capsys):
    for name, (path, message) in _corrupt_stores(tmp_path, store).items():
        assert main(["info", str(path)]) == 2, name
        assert message in _one_line_error(capsys), name


@pytest.mark.parametrize("argv, message", [
    (["simulate", "--preset", "galaxy", "--out", "{tmp}/x"], "preset"),
    (["simulate", "--preset", "tiny", "--out", "{tmp}/x", "--seed", "-3"], "non-negative"),
    (["simulate", "--preset", "tiny", "--out", "{tmp}/x", "--set", "nonsense"], "KEY=VALUE"),
    (["simulate", "--preset", "tiny", "--out", "{tmp}/x", "--set", "n_train=-5"], "n_train"),
    (["train", "--data", "{tmp}/good", "--out", "{tmp}/r", "--epochs", "0"], "positive"),
    (["evaluate", "--run", "{tmp}/good"], "not a brainembed run"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_arguments_give_exit_2(argv, message, tmp_path, store, capsys):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert run_cli(argv) == 2
    assert message in _one_line_error(capsys)


def run_cli(argv) -> int:
    """Exit status of the command line, whether argparse exits or main returns."""
    try:
        return main(argv)
    except SystemExit as exit_:
        return exit_.code


def test_simulate_never_overwrites(tmp_path, store, capsys):
    before = (store / "crowd.h5").read_bytes()
    assert main(["simulate", "--preset", "tiny", "--out", str(store)]) == 2
    assert "already exists" in _one_line_error(capsys)
    assert (store / "crowd.h5").read_bytes() == before


def test_demo_refuses_a_non_empty_folder(tmp_path, capsys):
    (tmp_path / "precious.txt").write_text("keep me")
    assert main(["demo", "--out", str(tmp_path), "--preset", "tiny"]) == 2
    assert "--overwrite" in _one_line_error(capsys)
    assert (tmp_path / "precious.txt").read_text() == "keep me"


def test_a_bad_parameter_is_a_value_error_and_still_exits_2(monkeypatch, tmp_path, capsys):
    """BrainembedValueError (bad parameters, also a ValueError) is a BrainembedError: one line, exit 2."""
    import brainembed.pipeline.cluster as cluster
    from brainembed.errors import BrainembedError, BrainembedValueError
    from brainembed.validation import check_count

    assert issubclass(BrainembedValueError, BrainembedError) and issubclass(BrainembedValueError, ValueError)
    monkeypatch.setattr(cluster, "cluster_run", lambda *args, **kwargs: check_count("the number of clusters k", 0))
    assert main(["cluster", "--run", str(tmp_path)]) == 2
    assert "the number of clusters k must be a positive integer, got 0." in _one_line_error(capsys)


def test_brainembed_warnings_print_as_one_line():
    import warnings

    from brainembed.cli import _one_line_warnings
    from brainembed.errors import BrainembedWarning

    fmt = _one_line_warnings("import", warnings.formatwarning)
    text = fmt(BrainembedWarning("no split files found; using each trial's phase."), BrainembedWarning, "x.py", 3)
    assert text == "brainembed import: warning: no split files found; using each trial's phase.\n"
    other = fmt(UserWarning("something else"), UserWarning, "x.py", 4)
    assert other == warnings.formatwarning(UserWarning("something else"), UserWarning, "x.py", 4)
    assert warnings.formatwarning is not fmt  # main() installs it only while a command runs
