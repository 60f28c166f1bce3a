"""The simulated crowd: datasets, shared test sets, disjoint training sets, determinism, storage."""

import os

import numpy as np
import pandas as pd
import pytest

from brainembed.data import Crowd, load_crowd
from brainembed.errors import BrainembedError
from brainembed.simulate import ROI_LABELS, resolve_preset, simulate_crowd


@pytest.fixture(scope="module")
def crowd():
    return simulate_crowd("tiny", seed=0)


def test_crowd_has_the_three_datasets(crowd):
    assert isinstance(crowd, Crowd)
    assert crowd.datasets == ["7T", "3T", "4T"]
    summary = crowd.summary()
    sizes = resolve_preset("tiny").sizes()
    for name, group in summary.groupby("dataset"):
        assert len(group) == sizes[name]["n_subjects"]
        assert (group["n_train"] == sizes[name]["n_train"]).all()
        assert (group["n_test"] == sizes[name]["n_test"]).all()
        assert (group["n_voxels"] <= sizes[name]["n_voxels"]).all()
    assert dict(zip(summary["dataset"], summary["field_strength"])) == {"7T": 7.0, "3T": 3.0, "4T": 4.0}
    seven = summary[summary["dataset"] == "7T"]
    assert seven["n_voxels"].nunique() > 1  # different voxel counts per subject
    assert len(set(crowd.keys)) == len(crowd) and crowd.subject("1").key == "7T:1"  # ids unique in the crowd
    assert summary.set_index("dataset")["snr"]["7T"].min() > summary.set_index("dataset")["snr"]["3T"].max()
    assert crowd.attrs["preset"] == "tiny" and crowd.attrs["seed"] == 0
    assert crowd.attrs["image_size"] == crowd.images.image_size[0] == 40
    assert crowd.attrs["sizes"] == sizes


def test_images_test_sets_and_training_sets(crowd):
    meta = crowd.images.metadata.assign(id=crowd.images.ids)
    assert {"category", "dataset", "pool", "x", "y", "size"} <= set(meta.columns)
    train_ids = []
    for dataset in crowd.datasets:
        subs = [s for s in crowd if s.dataset == dataset]
        tests = [set(s.image_ids[s.split == "test"]) for s in subs]
        assert all(t == tests[0] for t in tests)  # one shared test set per dataset
        rows = meta.set_index("id").loc[sorted(tests[0])]
        assert (rows["pool"] == "test").all() and (rows["dataset"] == dataset).all()
        for s in subs:
            own = s.image_ids[s.split == "train"]
            assert not set(own) & tests[0]
            assert (meta.set_index("id").loc[own, "pool"] == "train").all()
            train_ids.append(own)
    everything = np.concatenate(train_ids)
    assert len(np.unique(everything)) == len(everything)  # training sets disjoint across all subjects
    assert len(crowd.images) == len(meta["id"].unique())
    # Test images are different pictures from every training image.
    flat = crowd.images.pixels.reshape(len(crowd.images), -1)
    assert len(np.unique(flat, axis=0)) == len(flat)


def test_4t_images_are_grayscale(crowd):
    meta = crowd.images.metadata
    gray = crowd.images.pixels[(meta["dataset"] == "4T").to_numpy()]
    colour = crowd.images.pixels[(meta["dataset"] == "7T").to_numpy()]
    assert (gray[..., 0] == gray[..., 1]).all() and (gray[..., 1] == gray[..., 2]).all()
    assert (colour[..., 0] != colour[..., 1]).mean() > 0.2
    assert meta.loc[meta["dataset"] == "4T", "grayscale"].all()


def test_responses_repeats_and_ground_truth(crowd):
    for s in crowd:
        train, test = s.rows("train"), s.rows("test")
        np.testing.assert_array_equal(s.responses[train], s.repeats[train, 0])  # single trials
        np.testing.assert_allclose(s.responses[test], s.repeats[test].mean(axis=1), atol=1e-5)  # averages
        assert s.repeats.shape[1] == s.attrs["n_repeats"]
        v = s.voxels
        assert {"hemi", "vertex", "x", "y", "z", "roi", "region", "preferred_category", "rf_x", "rf_y",
                "rf_size", "true_ncsnr", "true_noise_ceiling"} <= set(v.columns)
        assert set(v["roi"]) <= set(ROI_LABELS) and set(v["hemi"]) <= {"lh", "rh"}
        assert v["vertex"].between(0, 10241).all()
        assert v["true_noise_ceiling"].between(0, 1).all()
        assert np.isfinite(s.responses).all() and s.responses.dtype == np.float32
    ceiling = {d: np.concatenate([np.sqrt(s.voxels["true_noise_ceiling"]) for s in crowd if s.dataset == d])
               for d in crowd.datasets}
    assert 0.5 < np.median(ceiling["7T"]) < 0.8
    assert np.median(ceiling["3T"]) < np.median(ceiling["7T"])


def test_same_seed_same_crowd_and_other_seed_differs():
    a = simulate_crowd("tiny", seed=3, datasets=["4T"], n_train=25, n_test=5, n_voxels=60)
    b = simulate_crowd("tiny", seed=3, datasets=["4T"], n_train=25, n_test=5, n_voxels=60)
    c = simulate_crowd("tiny", seed=4, datasets=["4T"], n_train=25, n_test=5, n_voxels=60)
    np.testing.assert_array_equal(a.images.pixels, b.images.pixels)
    for sa, sb in zip(a, b):
        np.testing.assert_array_equal(sa.repeats, sb.repeats)
        pd.testing.assert_frame_equal(sa.voxels, sb.voxels)
    assert a.attrs == b.attrs
    assert not np.array_equal(a.images.pixels, c.images.pixels)


@pytest.mark.parametrize("kwargs, match", [
    ({"preset": "huge"}, "unknown preset"),
    ({"n_train": -5}, "n_train must be at least"),
    ({"n_subjects_7t": 0}, "n_subjects must be at least"),
    ({"n_voxels": 2.5}, "n_voxels must be an integer"),
    ({"snr": -1}, "snr"),
    ({"colour": True}, "unknown simulation setting"),
    ({"datasets": ["9T"]}, "unknown dataset"),
    ({"seed": -1}, "seed"),
])
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(BrainembedError, match=match):
        simulate_crowd(**{"preset": "tiny", **kwargs})


def test_overrides_apply_per_dataset():
    config = resolve_preset("demo", n_train=100, n_train_3t=20, n_subjects_7t=4, image_size=64)
    sizes = config.sizes()
    assert sizes["7T"]["n_train"] == sizes["4T"]["n_train"] == 100 and sizes["3T"]["n_train"] == 20
    assert sizes["7T"]["n_subjects"] == 4 and config.image_size == 64
    assert resolve_preset("demo", n_train_3t=20, n_train=100).sizes()["3T"]["n_train"] == 20  # order-free


def test_save_and_load_round_trip(tmp_path):
    small = simulate_crowd("tiny", seed=2, datasets=["7T", "4T"], n_subjects=1, n_train=20, n_test=5,
                           n_voxels=50, out=tmp_path)
    back = load_crowd(tmp_path)
    assert back.keys == small.keys and back.attrs == small.attrs
    np.testing.assert_array_equal(back.images.pixels, small.images.pixels)
    np.testing.assert_array_equal(back.images.ids, small.images.ids)
    pd.testing.assert_frame_equal(back.images.metadata, small.images.metadata, check_dtype=False)
    for s, t in zip(small, back):
        np.testing.assert_array_equal(s.responses, t.responses)
        np.testing.assert_array_equal(s.repeats, t.repeats)
        np.testing.assert_array_equal(s.image_ids, t.image_ids)
        np.testing.assert_array_equal(s.split, t.split)
        pd.testing.assert_frame_equal(s.voxels, t.voxels, check_dtype=False)
        assert s.attrs == t.attrs and s.field_strength == t.field_strength
    with pytest.raises(BrainembedError, match="already exists"):
        simulate_crowd("tiny", seed=2, out=tmp_path)


def test_unwritable_output_is_refused_before_simulating(tmp_path, monkeypatch):
    import brainembed.simulate.crowd as module

    def never(*args, **kwargs):
        raise AssertionError("simulated before checking the output")

    monkeypatch.setattr(module, "simulate_dataset", never)
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(BrainembedError, match="is a file, not a folder"):
        simulate_crowd("tiny", out=tmp_path / "file" / "crowd")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if not os.access(locked, os.W_OK):  # root may write anywhere
            with pytest.raises(BrainembedError, match="not writable"):
                simulate_crowd("tiny", out=locked / "crowd")
    finally:
        locked.chmod(0o700)
    if os.path.isdir("/proc"):  # a folder that passes the permission check, even for root, yet takes no file
        with pytest.raises(BrainembedError, match="refuses new files"):
            simulate_crowd("tiny", out="/proc/brainembed-test/crowd")
