"""Verdict logic and helpers of the ablation and training-defaults experiments, on planted numbers."""

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from analyses import ablations, training_defaults
from analyses.verdicts import NOT_REPRODUCED, REPRODUCED


def _ctx(tmp_path, preset="tiny", store=None, held_out=None):
    from analyses.runner import Context

    return Context(out=tmp_path / "report", preset=preset, seed=3, store=store, held_out=held_out, progress=False)


# --------------------------------------------------------------------------- ablations


def test_embedding_size_flat_is_reproduced():
    row = ablations.embedding_size_verdict({64: 0.300, 128: 0.305, 256: 0.310, 512: 0.309, 1024: 0.311})
    assert row["verdict"] == REPRODUCED
    assert "spread max - min 0.0110 < 0.02" in row["ours"]
    assert "0.5170" in row["paper"] and "spread 0.0073" in row["paper"]


def test_embedding_size_trend_is_not_reproduced():
    row = ablations.embedding_size_verdict({64: 0.25, 128: 0.30, 256: 0.33, 512: 0.34, 1024: 0.35})
    assert row["verdict"] == NOT_REPRODUCED
    assert "0.1000 >= 0.02" in row["ours"]


def test_embedding_size_tolerance_and_missing_values():
    assert ablations.embedding_size_verdict({64: 0.30, 128: 0.34}, tolerance=0.05)["verdict"] == REPRODUCED
    row = ablations.embedding_size_verdict({64: 0.30, 128: float("nan")})
    assert row["verdict"].startswith("differs because")


@pytest.mark.parametrize("ablated, expected", [(0.28, REPRODUCED), (0.31, NOT_REPRODUCED), (0.30, NOT_REPRODUCED)])
def test_component_verdict_needs_a_drop(ablated, expected):
    row = ablations.component_verdict("spatial attention", 'attention="mean"', 0.30, ablated)
    assert row["verdict"] == expected
    assert row["claim"] == 'Removing the spatial attention (attention="mean") lowers median r'
    assert f"{ablated - 0.30:+.4f}" in row["ours"]


def test_component_verdict_counts_subjects():
    row = ablations.component_verdict("functional readout", "shared", 0.30, 0.29, subject_default=[0.3, 0.3, 0.3],
                                      subject_ablated=[0.2, 0.31, 0.25])
    assert "lower for 2/3 subjects" in row["ours"]
    assert ablations.component_verdict("x", "y", float("nan"), 0.2)["verdict"].startswith("differs because")


def test_small_training_per_preset(tmp_path):
    from brainembed.demo import DEMO_TRAINING

    tiny = ablations.small_training(_ctx(tmp_path, "tiny"))
    assert (tiny.epochs, tiny.voxels_per_image, tiny.seed) == (1, 32, 3)
    demo = ablations.small_training(_ctx(tmp_path, "demo"), embedding_lr_mult=30)
    assert demo.epochs == ablations.EPOCHS["demo"] and demo.voxels_per_image == 500
    assert demo.sampling == tiny.sampling == "images"  # the paper's sampling, within the report's time budget
    assert demo.batch_size == DEMO_TRAINING["batch_size"] and demo.feature_cache and demo.embedding_lr_mult == 30
    assert ablations.small_training(_ctx(tmp_path, "paper")).epochs == ablations.EPOCHS["demo"]


def test_training_subjects_keep_first_dataset_minus_held_out(tmp_path):
    subjects = [SimpleNamespace(dataset=d, key=f"{d}:{i}") for d, i in
                [("7T", 1), ("7T", 2), ("7T", 3), ("3T", 4), ("4T", 5)]]
    crowd = SimpleNamespace(subjects=subjects)
    assert ablations.training_subjects(_ctx(tmp_path, held_out="7T:3"), crowd) == ["7T:1", "7T:2"]
    assert ablations.training_subjects(_ctx(tmp_path), crowd) == ["7T:1", "7T:2", "7T:3"]


def test_store_path_links_an_outside_store(tmp_path):
    outside = tmp_path / "elsewhere" / "crowd.h5"
    outside.parent.mkdir()
    outside.write_bytes(b"store")
    (outside.parent / "feature_cache").mkdir()
    (outside.parent / "feature_cache" / "backbone-0123.h5").write_bytes(b"cache")
    ctx = _ctx(tmp_path, store=outside)
    link = ablations.store_path(ctx)
    assert link == ctx.out / ablations.RUNS_FOLDER / "data" / "crowd.h5"
    assert link.is_symlink() and link.resolve() == outside.resolve()
    cache = link.parent / "feature_cache" / "backbone-0123.h5"
    assert cache.is_symlink() and cache.read_bytes() == b"cache"
    assert ablations.store_path(ctx) == link  # idempotent
    inside = ctx.out / "data" / "crowd.h5"
    inside.parent.mkdir(parents=True)
    inside.write_bytes(b"store")
    assert ablations.store_path(_ctx(tmp_path, store=inside)) == inside.resolve()


def test_encoder_variants_are_valid():
    default = ablations.encoder_config()
    assert default.embed_dim in ablations.EMBED_DIMS
    assert default.replace(layers=(default.layers[-1],)).layers == (6,)
    assert default.replace(attention="mean").attention == "mean"
    assert default.replace(readout="shared").readout == "shared"


def test_subjects_table_is_one_row_per_subject():
    subjects = pd.DataFrame({"dataset": ["7T", "7T"], "subject": ["1", "2"], "median_r": [0.1, 0.2]})
    scores = [{"tag": "default", "subjects": subjects},
              {"tag": "embed_64", "subjects": subjects.assign(median_r=[0.3, 0.4])}]
    table = ablations.subjects_table(scores)
    assert list(table.columns) == ["dataset", "subject", "default", "embed_64"]
    assert table["embed_64"].tolist() == [0.3, 0.4] and table["subject"].tolist() == ["1", "2"]


def test_embedding_trend_flags_slow_large_embeddings():
    table = pd.DataFrame({"group": ["embedding size"] * 3 + ["component"], "embed_dim": [256, 64, 1024, 128],
                          "test_median_r": [0.48, 0.50, 0.44, 0.1], "train_loss": [0.93, 0.92, 0.99, 2.0]})
    text = ablations.embedding_trend(table)
    assert "E = 64, 256, 1024" in text and "rho with E -1.00" in text and "slower to fit" in text
    flat = table.assign(test_median_r=[0.50, 0.49, 0.51, 0.1])
    assert "slower to fit" not in ablations.embedding_trend(flat)


def test_plot_ablations_writes_a_png(tmp_path):
    rows = [{"tag": "default", "group": "embedding size", "embed_dim": 128}]
    rows += [{"tag": f"embed_{e}", "group": "embedding size", "embed_dim": e} for e in (64, 256, 512, 1024)]
    rows += [{"tag": t, "group": "component", "embed_dim": 128} for t in ablations.COMPONENTS]
    table = pd.DataFrame(rows).assign(test_median_r=np.linspace(0.2, 0.3, len(rows)),
                                      test_median_r_over_true_ceiling=np.linspace(0.4, 0.5, len(rows)))
    path = ablations.plot_ablations(table, tmp_path / "figs" / "ablations.png")
    assert path.is_file() and path.stat().st_size > 1000


# --------------------------------------------------------------------------- training defaults


def test_noise_tolerance_uses_seed_difference_and_paired_floor():
    assert training_defaults.noise_tolerance(0.30, 0.31) == pytest.approx(0.01)
    d = [0.01, 0.03, 0.02, 0.04]  # std 0.0129, SE 0.00645
    assert training_defaults.noise_tolerance(0.30, 0.301, d) == pytest.approx(2 * np.std(d, ddof=1) / 2)
    assert training_defaults.noise_tolerance(0.30, 0.35, d) == pytest.approx(0.05)
    assert training_defaults.noise_tolerance(0.30, 0.301, [0.5]) == pytest.approx(0.001)


def test_best_or_within_noise():
    scores = {"1": 0.30, "10": 0.34, "30": 0.345}
    assert training_defaults.best_or_within_noise(scores, "10", 0.01) == (True, "30", pytest.approx(0.005))
    assert training_defaults.best_or_within_noise(scores, "10", 0.001)[0] is False
    assert training_defaults.best_or_within_noise(scores, "30", 0.0) == (True, "30", 0.0)


def test_default_verdict_cases():
    val = {"10": 0.45, "1": 0.40, "30": 0.44}
    test = {"10": 0.33, "1": 0.25, "30": 0.335}
    row = training_defaults.default_verdict("embedding_lr_mult", val, test, "10", (0.005, 0.01), "SPEC")
    assert row["verdict"] == REPRODUCED and row["paper"] == "SPEC"
    assert "(default best)" in row["ours"] and "best 30, +0.0050 over the default; noise 0.0100" in row["ours"]
    row = training_defaults.default_verdict("embedding_lr_mult", val, test, "10", (0.005, 0.001))
    assert row["verdict"].startswith("differs because on test median r 30 beats the default by 0.0050")
    worse_val = {"10": 0.40, "1": 0.45, "30": 0.44}
    row = training_defaults.default_verdict("embedding_lr_mult", worse_val, test, "10", (0.005, 0.001))
    assert row["verdict"] == NOT_REPRODUCED


def test_sweep_settings():
    encoder, training = ablations.encoder_config(), ablations.small_training(_ctx(Path("/nonexistent")))
    sweep = training_defaults.settings(encoder, training)
    by_tag = {s["tag"]: s for s in sweep}
    assert [s["knob"] for s in sweep if s["is_default"]] == list(training_defaults.ALTERNATIVES)
    assert all(s["tag"] == ablations.DEFAULT_TAG for s in sweep if s["is_default"])
    assert by_tag["embedding_lr_mult_10"]["training"].embedding_lr_mult == 10.0
    assert by_tag["embedding_lr_mult_30"]["encoder"] == encoder
    fan_in = [s for s in sweep if s["label"] == "1/sqrt(E)"][0]
    assert fan_in["encoder"].readout_init_std == pytest.approx(1 / math.sqrt(encoder.embed_dim))
    assert by_tag["voxel_bias_true"]["encoder"].voxel_bias is True
    assert len(by_tag) == 6  # the default and 5 alternatives


def test_plot_sweep_writes_a_png(tmp_path):
    table = pd.DataFrame({"knob": ["a", "a", "b", "b"], "label": ["1", "2", "x", "y"],
                          "is_default": [True, False, True, False], "test_median_r": [0.3, 0.31, 0.3, 0.2],
                          "val_p75_r": [0.4, 0.42, 0.4, 0.3]})
    path = training_defaults.plot_sweep(table, {"validation": 0.01, "test": 0.02}, tmp_path / "sweep.png")
    assert path.is_file() and path.stat().st_size > 1000
