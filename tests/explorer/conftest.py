"""A small trained and clustered run, its explorer page, and a headless Chromium to open it."""

import os
import shutil

import numpy as np
import pandas as pd
import pytest

from brainembed.data.subjects import subject_key
from tests.conftest import make_small_crowd

TAG = "k3_7T_1-3T_1"
#: Set (e.g. in CI) to make a missing browser a failure instead of a skip.
REQUIRE_BROWSER = "BRAINEMBED_REQUIRE_BROWSER"
CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--no-first-run", "--disable-quic", "--window-size=1440,1000")


@pytest.fixture(scope="session")
def clustered_run(tmp_path_factory):
    """A run of subjects 7T:1 and 3T:1 clustered together (k=3) with ``brainembed cluster``'s function."""
    from brainembed.data import save_crowd
    from brainembed.pipeline.explore import cluster_run
    from brainembed.training.config import TrainConfig
    from brainembed.training.loop import train_encoder

    root = tmp_path_factory.mktemp("explorer")
    crowd = make_small_crowd(n_images=40, n_voxels=(60, 45), n_train=20, n_test=10)
    rng = np.random.default_rng(1)
    for subject in crowd:
        n = len(subject.voxels)
        # voxels on distinct fsaverage5 vertices, in three ROIs
        subject.voxels["vertex"] = rng.choice(np.arange(0, 10242, 7), n, replace=False)
        subject.voxels["roi"] = rng.choice(["V1", "FFA", "PPA"], n)
        ffa = subject.voxels["roi"] == "FFA"
        subject.voxels["region"] = np.where(ffa, "FFA", "V1")
        subject.voxels["preferred_category"] = np.where(ffa, "face", "none")
    store = save_crowd(crowd, root / "data")
    run = root / "run"
    train_encoder(crowd, run, encoder="ube_tiny", data_path=str(store), progress=False,
                  training=TrainConfig(epochs=1, batch_size=8, voxels_per_image=16, device="cpu"))
    result = cluster_run(run, ["7T:1", "3T:1"], k=3, n_top=5, device="cpu", progress=False, figures=False)
    assert result["tag"] == TAG
    return run


@pytest.fixture(scope="session")
def site(clustered_run, tmp_path_factory):
    """The explorer page of the run's clustering (small flatmaps, so the tests stay quick)."""
    from brainembed.pipeline.explorer import write_explorer

    out = tmp_path_factory.mktemp("site")
    return write_explorer(clustered_run, clusters=TAG, out=out, map_width=900, progress=False)


def cluster_tables(run):
    """The CSV tables of the clustering, read as a user would."""
    folder = run / "clusters" / TAG
    read = {name: pd.read_csv(folder / f"{name}.csv", dtype={"dataset": str, "subject": str})
            for name in ("sizes", "overlap", "top_images", "truth_clusters", "truth")}
    read["labels"] = pd.read_csv(folder / "labels.csv", dtype={"dataset": str, "subject": str})
    read["labels"]["key"] = subject_key(read["labels"]["dataset"], read["labels"]["subject"])
    return read


def _find_browser():
    """Paths of Chromium and ChromeDriver, or a reason why they cannot be used."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return None, None, "the selenium package is not installed (pip install selenium)"
    chrome = os.environ.get("BRAINEMBED_CHROMIUM") or next(
        (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
    driver = os.environ.get("BRAINEMBED_CHROMEDRIVER") or shutil.which("chromedriver")
    missing = [name for name, path in (("chromium", chrome), ("chromedriver", driver)) if not path]
    if missing:
        return None, None, f"{' and '.join(missing)} not found (Debian: apt-get install chromium chromium-driver)"
    return chrome, driver, None


@pytest.fixture
def browser(tmp_path):
    """Headless Chromium driven by Selenium, with a fresh profile and a 1440 x 1000 viewport."""
    chrome, driver_path, reason = _find_browser()
    if reason:
        if os.environ.get(REQUIRE_BROWSER):
            pytest.fail(f"{REQUIRE_BROWSER} is set but the browser tests cannot run: {reason}")
        pytest.skip(f"chromium/chromedriver not installed: {reason}")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chrome
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    try:
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": 1440, "height": 1000, "deviceScaleFactor": 1, "mobile": False})
        yield driver
    finally:
        driver.quit()
