"""The demo end to end on the tiny crowd (what `make demo` runs, at test size)."""

import pandas as pd
import pytest

from brainembed.cli import main


@pytest.mark.slow
def test_demo_runs_end_to_end(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("BRAINEMBED_DATA", str(tmp_path / "brainembed-data"))
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--preset", "tiny"]) == 0
    printed = capsys.readouterr().out
    assert f"everything is under {out}" in printed
    for path in ("data/crowd.h5", "figures/stimuli_per_category.png", "figures/planted_regions_flatmap.png",
                 "run/config.yaml", "run/checkpoints/best.pt", "run/evaluation/summary.csv", "summary.md"):
        assert (out / path).is_file(), path
    summary = pd.read_csv(out / "run" / "evaluation" / "summary.csv")
    assert {"universal", "single", "ridge", "gabor"} <= set(summary["model"])
    assert (out / "run" / "clusters" / "LATEST").read_text().strip().startswith("k6_")
    tag = (out / "run" / "clusters" / "LATEST").read_text().strip()
    relative = pd.read_csv(out / "run" / "analysis" / "top_images" / f"{tag}_test_relative" / "clusters.csv")
    assert len(relative) == 6 and {"top_category", "dominated"} <= set(relative.columns)
    text = (out / "summary.md").read_text()
    assert "top images ranked relative to the mean voxel" in text
    assert "Categories with a cluster of >= 50 % its regions' voxels" in text
    between = pd.read_csv(out / "run" / "evaluation" / "region_correlations.csv")
    assert {"roi_a", "roi_b", "measured_r", "predicted_r", "model"} <= set(between.columns)
    if {"FFA", "EBA"} <= set(between["roi_a"]) | set(between["roi_b"]):
        assert "How alike the category regions respond" in text
    assert list((out / "run" / "transfer").glob("*/curve.csv"))
    # a second demo into the same folder needs --overwrite
    assert main(["demo", "--out", str(out), "--preset", "tiny"]) == 2


def test_example_folders_follow_the_environment(tmp_path, monkeypatch):
    from brainembed.demo import EXAMPLES_OUT_ENV, example_folders

    monkeypatch.setenv(EXAMPLES_OUT_ENV, str(tmp_path / "ex"))
    out, figures = example_folders()
    assert out == tmp_path / "ex" and figures == out / "figures" and figures.is_dir()
    monkeypatch.delenv(EXAMPLES_OUT_ENV)
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    fresh, _ = example_folders()
    assert fresh.parent == tmp_path / "tmp" and str(fresh) == __import__("os").environ[EXAMPLES_OUT_ENV]
