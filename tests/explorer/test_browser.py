"""The explorer page in a real browser: headless Chromium, driven by Selenium, opens it from disk.

Skipped with a message where Chromium or ChromeDriver is missing, unless
BRAINEMBED_REQUIRE_BROWSER is set (CI), which makes that a failure.
"""

import numpy as np
import pytest

from brainembed.data.subjects import subject_key
from tests.explorer.conftest import TAG, cluster_tables

WAIT_S = 30


def _open(browser, page):
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(page.resolve().as_uri())
    WebDriverWait(browser, WAIT_S).until(
        lambda d: d.execute_script("return document.body.getAttribute('data-ready')") in ("1", "error"))
    assert browser.execute_script("return document.body.getAttribute('data-ready')") == "1"


def _inner_pixel(ids: np.ndarray, voxel: int) -> tuple[int, int]:
    """A pixel of a voxel's patch whose 5 x 5 neighbourhood is all that voxel (safe to click)."""
    mask = ids == voxel
    inner = mask.copy()
    for dy in range(-2, 3):
        for dx in range(-2, 3):
            inner &= np.roll(np.roll(mask, dy, axis=0), dx, axis=1)
    rows, cols = np.nonzero(inner if inner.any() else mask)
    k = len(rows) // 2
    return int(cols[k]), int(rows[k])


def _click_picture_point(browser, subject_index, x, y):
    from selenium.webdriver.common.action_chains import ActionChains

    canvas = browser.find_elements("css selector", "#maps canvas")[subject_index]
    point = browser.execute_script("return window.brainembedExplorer.canvasPoint(arguments[0], arguments[1], "
                                   "arguments[2]);", subject_index, x + 0.5, y + 0.5)
    assert 0 <= point["x"] < point["width"] and 0 <= point["y"] < point["height"], "the point is off the view"
    # Selenium 4 offsets count from the element's centre
    ActionChains(browser).move_to_element_with_offset(canvas, int(round(point["x"] - point["width"] / 2)),
                                                      int(round(point["y"] - point["height"] / 2))).click().perform()


def _severe_console_messages(browser):
    return [entry["message"] for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]


def test_click_a_cluster_on_the_map_then_search_an_roi(browser, site, clustered_run, tmp_path):
    from selenium.webdriver.common.keys import Keys

    from brainembed.explorer import decode_voxel_ids
    from brainembed.explorer.raster import image_from_data_uri

    tables = cluster_tables(clustered_run)
    data = site["data"]
    _open(browser, site["path"])
    assert browser.find_element("id", "cluster-panel").get_attribute("data-cluster") is None

    # click the middle of the largest drawn patch of subject 7T:1's map
    subject = data["subjects"][0]
    ids = decode_voxel_ids(image_from_data_uri(subject["ids"]))
    voxel = int(np.bincount(ids[ids >= 0]).argmax())
    expected = subject["cluster"][voxel]
    _click_picture_point(browser, 0, *_inner_pixel(ids, voxel))
    assert browser.execute_script("return document.body.dataset.selectedCluster") == str(expected)
    panel = browser.find_element("id", "cluster-panel")
    assert panel.get_attribute("data-cluster") == str(expected)
    assert f"Cluster {expected}" in panel.find_element("css selector", ".cluster-name").text

    # its top images are there and decoded, in the order of top_images.csv
    top = tables["top_images"][tables["top_images"]["cluster"] == expected]
    figures = panel.find_elements("css selector", ".top-image")
    assert [int(f.get_attribute("data-image-id")) for f in figures] == top["image_id"].tolist()
    loaded = browser.execute_script("return Array.from(document.querySelectorAll('#cluster-panel .top-image img'))"
                                    ".map(i => i.complete && i.naturalWidth > 0);")
    assert loaded == [True] * len(top)

    # its numbers: voxels per subject (sizes.csv), Jaccard (overlap.csv), ground truth (truth_clusters.csv)
    sizes = tables["sizes"][tables["sizes"]["cluster"] == expected]
    for key, n in zip(subject_key(sizes["dataset"], sizes["subject"]), sizes["n_voxels"]):
        cell = panel.find_element("css selector", f'table.sizes tr[data-subject="{key}"] td.n-voxels')
        assert cell.text == str(n)
    jaccard = tables["overlap"].set_index("cluster").loc[expected, "jaccard"]
    assert panel.find_element("css selector", "table.overlap td.jaccard").text == f"{jaccard:.3f}"
    truth = tables["truth_clusters"].set_index("cluster").loc[expected]
    assert "Ground truth (simulation)".upper() in panel.text.upper()
    assert f"{truth['planted_region']} (" in panel.text

    # the legend selects too
    other = (expected + 1) % 3
    browser.find_element("css selector", f'#legend .chip[data-cluster="{other}"]').click()
    assert panel.get_attribute("data-cluster") == str(other)

    # search an ROI by typing its name (any case): the clusters its voxels fall into, with counts
    box = browser.find_element("id", "roi-search")
    box.send_keys("ffa", Keys.ENTER)
    roi_panel = browser.find_element("id", "roi-panel")
    assert roi_panel.is_displayed() and roi_panel.get_attribute("data-roi") == "FFA"
    labels = tables["labels"][tables["labels"]["roi"] == "FFA"]
    counts = labels.groupby(["cluster", "key"]).size()
    rows = roi_panel.find_elements("css selector", "table.roi-clusters tr[data-cluster]")
    assert sorted(int(r.get_attribute("data-cluster")) for r in rows) == sorted(labels["cluster"].unique())
    for row in rows:
        c = int(row.get_attribute("data-cluster"))
        cells = [td.text for td in row.find_elements("css selector", "td.n")]
        assert cells == [str(counts.get((c, key), 0)) for key in data["meta"]["subjects"]]
    largest = int(labels["cluster"].value_counts().sort_index().idxmax())
    assert panel.get_attribute("data-cluster") == str(largest)  # the ROI's largest cluster is shown

    browser.find_element("css selector", f'#roi-panel tr[data-cluster="{largest}"]').click()
    shot = tmp_path / "explorer.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    print(f"explorer screenshot: {shot}")

    # an unknown ROI name says so
    box.clear()
    box.send_keys("nowhere", Keys.ENTER)
    assert "No ROI matches" in browser.find_element("id", "roi-message").text
    assert _severe_console_messages(browser) == []


def test_hover_names_the_voxel_and_zoom_buttons_work(browser, site):
    from selenium.webdriver.common.action_chains import ActionChains

    from brainembed.explorer import decode_voxel_ids
    from brainembed.explorer.raster import image_from_data_uri

    _open(browser, site["path"])
    subject = site["data"]["subjects"][1]
    ids = decode_voxel_ids(image_from_data_uri(subject["ids"]))
    voxel = int(np.bincount(ids[ids >= 0]).argmax())
    x, y = _inner_pixel(ids, voxel)
    canvas = browser.find_elements("css selector", "#maps canvas")[1]
    point = browser.execute_script("return window.brainembedExplorer.canvasPoint(1, arguments[0], arguments[1]);",
                                   x + 0.5, y + 0.5)
    ActionChains(browser).move_to_element_with_offset(canvas, int(round(point["x"] - point["width"] / 2)),
                                                      int(round(point["y"] - point["height"] / 2))).perform()
    tip = browser.find_element("id", "tooltip")
    assert tip.is_displayed()
    assert f"{subject['key']} · voxel {subject['voxel'][voxel]}" in tip.text
    assert f"Cluster {subject['cluster'][voxel]}" in tip.text
    before = browser.execute_script("return Object.assign({}, window.brainembedExplorer.state.view);")
    browser.find_element("id", "zoom-all").click()
    after = browser.execute_script("return Object.assign({}, window.brainembedExplorer.state.view);")
    assert after["w"] > before["w"] >= 0
    browser.find_element("id", "zoom-data").click()
    assert browser.execute_script("return window.brainembedExplorer.state.view.w;") == pytest.approx(before["w"])


def test_a_page_without_flatmaps_still_works(browser, clustered_run, tmp_path):
    from brainembed.explorer import explorer_data, write_site
    from tests.explorer.test_site_data import volume_only_clustering

    page = write_site(explorer_data(volume_only_clustering(clustered_run, tmp_path), TAG), tmp_path / "site")
    _open(browser, page)
    assert "No flatmap" in browser.find_element("id", "maps").text
    browser.find_element("css selector", '#legend .chip[data-cluster="1"]').click()
    panel = browser.find_element("id", "cluster-panel")
    assert panel.get_attribute("data-cluster") == "1" and len(panel.find_elements("css selector", ".top-image")) == 5
    assert _severe_console_messages(browser) == []


def test_missing_browser_is_a_skip_with_a_reason_or_a_failure_in_ci(monkeypatch):
    from tests.explorer import conftest

    monkeypatch.setattr(conftest.shutil, "which", lambda name: None)
    monkeypatch.delenv("BRAINEMBED_CHROMIUM", raising=False)
    monkeypatch.delenv("BRAINEMBED_CHROMEDRIVER", raising=False)
    chrome, driver, reason = conftest._find_browser()
    assert chrome is None and ("chromium and chromedriver not found" in reason or "selenium" in reason)
