"""Flatmaps and the demo beside whatever the user's machine already holds (issue 22).

Each environment is built for real and ``brainembed`` runs in a fresh
process under it, since pycortex reads its configuration when imported: a
stale pycortex ``options.cfg`` (filestore, colour maps and cache in a deleted
virtual environment, or pointing at a file), one pycortex cannot read or
write, cache folders that cannot be written, matplotlib's and nilearn's
folders under a file, and paths with spaces and non-ASCII characters.
Paths under a regular file cannot be written even by root, so they stand in
for read-only folders; ``chmod`` is tried too where it holds.
"""

import configparser
import importlib.util
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("cortex")

from brainembed._paths import data_home, writable_data_folder  # noqa: E402
from brainembed.data import save_crowd  # noqa: E402
from brainembed.errors import BrainembedWarning  # noqa: E402
from brainembed.training.run import RunConfig  # noqa: E402
from brainembed.viz import pycortex_flatmap as pf  # noqa: E402
from tests.conftest import make_small_crowd  # noqa: E402

#: A folder name with a space, non-ASCII letters and a per cent sign (configparser's interpolation character).
ODD_NAME = "dir é ü 50%"


# --------------------------------------------------------------------------- helpers
def pycortex_config(config_home: Path, **paths) -> Path:
    """Write ``config_home/pycortex/options.cfg`` as pycortex does, from its defaults, with ``paths`` changed.

    ``filestore`` and ``cache`` go in ``[basic]``, ``colormaps`` in ``[webgl]``.
    """
    config = configparser.ConfigParser(interpolation=None)
    config.read(Path(importlib.util.find_spec("cortex").origin).parent / "defaults.cfg")
    for key, value in paths.items():
        config.set("webgl" if key == "colormaps" else "basic", key, str(value))
    path = config_home / "pycortex" / "options.cfg"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fp:
        config.write(fp)
    return path


def user_env(tmp_path: Path, **changes) -> dict:
    """The test process's environment with its own config, cache and temporary folders; None removes a variable."""
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_CACHE_HOME=str(tmp_path / "cache"),
               BRAINEMBED_DATA=str(tmp_path / "brainembed-data"), TMPDIR=str(tmp_path / "tmp"), PYTHONUTF8="1")
    (tmp_path / "tmp").mkdir(exist_ok=True)
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = str(value)
    return env


def brainembed(env: dict, *args, cwd=None, timeout: int = 600) -> subprocess.CompletedProcess:
    """``brainembed ARGS`` in a new process."""
    return subprocess.run([sys.executable, "-m", "brainembed", *map(str, args)], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def assert_drew(result: subprocess.CompletedProcess, figure: Path) -> None:
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert figure.is_file() and figure.stat().st_size > 10_000


def warnings_in(result: subprocess.CompletedProcess) -> list[str]:
    """brainembed's own warnings, one line each (``brainembed COMMAND: warning: ...``)."""
    return [line for line in result.stderr.splitlines() if line.startswith("brainembed ") and ": warning: " in line]


def a_file(tmp_path: Path) -> Path:
    """A regular file: nothing can be created under it, not even by root."""
    path = tmp_path / "a-file"
    path.write_text("not a folder")
    return path


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A run folder (config and crowd store, no training) under a folder with an odd name."""
    root = tmp_path_factory.mktemp("run") / ODD_NAME
    crowd = make_small_crowd(n_voxels=(600,))
    store = save_crowd(crowd, root / "data")
    (root / "run").mkdir()
    RunConfig(data=str(store), subjects=tuple(crowd.keys), voxels_per_subject=(600,)).save_yaml(
        root / "run" / "config.yaml")
    return root / "run"


def draw_rois(run, env, out):
    """``brainembed flatmap --value roi`` of the run with pycortex."""
    return brainembed(env, "flatmap", "--run", run, "--value", "roi", "--renderer", "pycortex", "--out", out)


# --------------------------------------------------------------------------- the user's pycortex set-up
@pytest.mark.parametrize("stale", ["missing folder", "a file"])
def test_flatmap_beside_a_stale_pycortex_configuration(run, tmp_path, stale):
    """The filestore, colour maps and cache of a deleted virtual environment (or a file in their place)."""
    old = tmp_path / "old clone" / ".venv" / "share" / "pycortex"
    if stale == "a file":
        filestore = colormaps = a_file(tmp_path)
    else:
        filestore, colormaps = old / "db", old / "colormaps"
    config = pycortex_config(tmp_path / "config", filestore=filestore, colormaps=colormaps, cache=filestore / "cache")
    before = config.read_bytes()
    out = tmp_path / "rois.png"
    result = draw_rois(run, user_env(tmp_path), out)
    assert_drew(result, out)
    assert warnings_in(result) == []  # nothing to say: the user's database simply holds no fsaverage
    assert config.read_bytes() == before  # the user's set-up is left as it was
    assert not (tmp_path / "old clone").exists()


@pytest.mark.parametrize("problem", ["config home is a file", "malformed options.cfg"])
def test_flatmap_when_pycortex_cannot_use_its_configuration_file(run, tmp_path, problem):
    config_home = tmp_path / "config"
    if problem == "config home is a file":
        config_home = a_file(tmp_path)
    else:
        (config_home / "pycortex").mkdir(parents=True)
        (config_home / "pycortex" / "options.cfg").write_text("filestore = /old\n")  # no section header
    out = tmp_path / "rois.png"
    result = draw_rois(run, user_env(tmp_path, XDG_CONFIG_HOME=config_home), out)
    assert_drew(result, out)
    [warning] = warnings_in(result)
    assert str(config_home / "pycortex" / "options.cfg") in warning and "XDG_CONFIG_HOME" in warning


# --------------------------------------------------------------------------- caches that cannot be written
@pytest.mark.parametrize("variable", ["BRAINEMBED_DATA", "XDG_CACHE_HOME", "HOME"])
def test_flatmap_with_a_cache_folder_that_cannot_be_written(run, tmp_path, variable):
    blocked = a_file(tmp_path)
    changes = {"BRAINEMBED_DATA": {"BRAINEMBED_DATA": blocked / "data"},
               "XDG_CACHE_HOME": {"BRAINEMBED_DATA": None, "XDG_CACHE_HOME": blocked / "cache"},
               "HOME": {"BRAINEMBED_DATA": None, "XDG_CACHE_HOME": None, "HOME": tmp_path / "home"}}[variable]
    if variable == "HOME":
        (tmp_path / "home").mkdir()
        (tmp_path / "home" / ".cache").write_text("a file where ~/.cache should be")
    env = user_env(tmp_path, **changes)
    out = tmp_path / "rois.png"
    result = draw_rois(run, env, out)
    assert_drew(result, out)
    [warning] = warnings_in(result)
    assert "cannot write" in warning and "Set BRAINEMBED_DATA to a writable folder" in warning
    assert not list((tmp_path / "tmp").glob("brainembed-*"))  # the fallback folder went with the process


def test_flatmap_with_a_read_only_cache_folder(run, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    cache.chmod(0o555)
    try:
        try:
            (cache / "probe").touch()
        except PermissionError:
            pass
        else:
            pytest.skip("this user writes into read-only folders (root); the paths under a file cover it")
        out = tmp_path / "rois.png"
        result = draw_rois(run, user_env(tmp_path, BRAINEMBED_DATA=None), out)
        assert_drew(result, out)
        [warning] = warnings_in(result)
        assert str(cache / "brainembed" / "pycortex") in warning and "BRAINEMBED_DATA" in warning
    finally:
        cache.chmod(0o755)


def test_flatmap_with_matplotlib_and_nilearn_folders_under_a_file(run, tmp_path):
    blocked = a_file(tmp_path)
    out = tmp_path / "rois.png"
    result = draw_rois(run, user_env(tmp_path, MPLCONFIGDIR=blocked / "mpl", NILEARN_DATA=blocked / "nilearn"), out)
    assert_drew(result, out)
    assert "MPLCONFIGDIR" in result.stderr  # matplotlib's own line: it worked in a temporary folder


def test_flatmap_in_folders_with_spaces_and_non_ascii_names(run, tmp_path):
    odd = tmp_path / ODD_NAME
    env = user_env(tmp_path, XDG_CONFIG_HOME=odd / "config", BRAINEMBED_DATA=odd / "data", MPLCONFIGDIR=odd / "mpl")
    out = odd / "figures é" / "rois é.png"
    result = draw_rois(run, env, out)
    assert_drew(result, out)
    assert (odd / "data" / "pycortex" / "fsaverage5" / "surfaces" / "flat_lh.gii").is_file()
    assert (odd / "config" / "pycortex" / "options.cfg").is_file()


# --------------------------------------------------------------------------- in this process
@pytest.fixture(scope="module")
def filestore(tmp_path_factory):
    return pf.build_fsaverage5_subject(tmp_path_factory.mktemp("pycortex") / "store").parent


@pytest.fixture
def stale_database(monkeypatch, tmp_path):
    """pycortex's database pointed at a folder that does not exist, as a stale options.cfg leaves it."""
    cortex = pf._import_cortex()
    state = vars(cortex.db)
    monkeypatch.setitem(state, "filestore", str(tmp_path / "deleted" / "db"))
    monkeypatch.setitem(state, "_subjects", None)
    monkeypatch.delitem(state, "_memocache", raising=False)
    monkeypatch.setitem(cortex.options.config["basic"], "cache", str(a_file(tmp_path) / "cache"))
    monkeypatch.setitem(cortex.options.config["webgl"], "colormaps", str(tmp_path / "deleted" / "colormaps"))
    return cortex


def test_using_filestore_never_lists_the_configured_filestore(stale_database, filestore):
    with pf.using_filestore(filestore) as cortex:
        assert "fsaverage5" in cortex.db.subjects
        assert cortex.db.get_cache("fsaverage5") == str(filestore / "fsaverage5" / "cache")
    state = vars(stale_database.db)
    assert state["filestore"].endswith("db") and state["_subjects"] is None and "_memocache" not in state
    assert stale_database.options.config.get("basic", "cache").endswith("cache")  # the user's setting, restored
    assert pf.user_fsaverage_subject(10242) is None


def test_drawing_beside_a_stale_database(stale_database, filestore):
    per_hemi = {"lh": np.linspace(0, 1, 10242), "rh": np.linspace(1, 0, 10242)}
    ax = pf.plot_flatmap_pycortex(per_hemi, data_dir=filestore, height=200)
    assert len(ax.get_images()) >= 2  # data over curvature


def users_copy(filestore: Path, tmp_path: Path) -> Path:
    """A filestore of the user's holding a copy of our fsaverage5 subject, without pycortex's caches or our marker."""
    user_store = tmp_path / "user db"
    shutil.copytree(filestore / "fsaverage5", user_store / "fsaverage5",
                    ignore=shutil.ignore_patterns("*.npz", "brainembed.json"))
    return user_store


def test_a_users_subject_is_only_read(monkeypatch, tmp_path, filestore):
    user_store = users_copy(filestore, tmp_path)
    monkeypatch.setattr(pf, "_user_filestore", lambda: user_store)
    monkeypatch.setenv("BRAINEMBED_DATA", str(tmp_path / "ours"))
    pf.plot_flatmap_pycortex({"lh": np.ones(10242), "rh": np.zeros(10242)}, height=200)
    assert not list((user_store / "fsaverage5" / "cache").iterdir())  # pycortex's caches went to our folder
    assert list((tmp_path / "ours" / "pycortex-caches").rglob("flatmask_200.npz"))


def test_a_users_subject_pycortex_cannot_use_gives_way_to_ours(monkeypatch, tmp_path, filestore):
    user_store = users_copy(filestore, tmp_path)
    shutil.rmtree(user_store / "fsaverage5" / "views")
    (user_store / "fsaverage5" / "views").write_text("a file where pycortex wants a folder")
    with pytest.warns(BrainembedWarning, match="cannot draw on your pycortex subject 'fsaverage5'"):
        pf.plot_flatmap_pycortex({"lh": np.ones(10242), "rh": np.zeros(10242)}, subject=("fsaverage5", user_store),
                                 data_dir=filestore, height=200)


def test_an_unwritable_data_folder_falls_back_for_this_process_and_says_so_once(monkeypatch, tmp_path):
    blocked = a_file(tmp_path) / "data"
    monkeypatch.setenv("BRAINEMBED_DATA", str(blocked))
    assert data_home() == blocked
    with pytest.warns(BrainembedWarning, match=r"cannot write .*a-file/data/things \(Not a directory\).*"
                                                r"Set BRAINEMBED_DATA"):
        first = writable_data_folder("things", "its things")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert writable_data_folder("things", "its things") == first
    assert first.is_dir() and first != blocked / "things"


# --------------------------------------------------------------------------- the tiny demo
@pytest.mark.slow
def test_tiny_demo_and_flatmap_beside_a_stale_pycortex_configuration(tmp_path):
    old = tmp_path / "old clone" / ".venv" / "share" / "pycortex"
    config = pycortex_config(tmp_path / "config", filestore=old / "db", colormaps=old / "colormaps")
    env = user_env(tmp_path)
    out = tmp_path / ODD_NAME / "demo"
    result = brainembed(env, "demo", "--preset", "tiny", "--out", out, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr and "flatmap skipped" not in result.stdout
    for figure in ("planted_regions_flatmap.png", "clusters_flatmap_pycortex.png", "clusters_flatmap_nilearn.png"):
        assert (out / "figures" / figure).stat().st_size > 10_000, figure
    figure = tmp_path / "clusters.png"
    assert_drew(brainembed(env, "flatmap", "--run", out / "run", "--subjects", "1", "2", "--out", figure), figure)
    assert "(pycortex)" in brainembed(env, "flatmap", "--run", out / "run", "--value", "region", "--out",
                                      tmp_path / "region.png").stdout
    assert config.read_text().count(str(old)) == 2 and not old.exists()


@pytest.mark.slow
def test_tiny_demo_with_caches_that_cannot_be_written(tmp_path):
    blocked = a_file(tmp_path)
    env = user_env(tmp_path, BRAINEMBED_DATA=blocked / "data", MPLCONFIGDIR=blocked / "mpl",
                   NILEARN_DATA=blocked / "nilearn", XDG_CONFIG_HOME=blocked / "config")
    out = tmp_path / "demo"
    result = brainembed(env, "demo", "--preset", "tiny", "--out", out, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr and "flatmap skipped" not in result.stdout
    assert (out / "figures" / "clusters_flatmap_pycortex.png").stat().st_size > 10_000
    assert any("Set BRAINEMBED_DATA" in line for line in warnings_in(result))
    assert not list((tmp_path / "tmp").glob("brainembed-*"))
