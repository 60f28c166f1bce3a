"""Shared test set-up: no writes to the user's home, Agg backend, one thread."""

import atexit
import os
import shutil
import tempfile

import pytest

# Point every config/data directory at a throw-away folder before anything imports
# pycortex or nilearn (pycortex writes $XDG_CONFIG_HOME/pycortex/options.cfg at import).
_SANDBOX = tempfile.mkdtemp(prefix="brainembed-tests-")
atexit.register(shutil.rmtree, _SANDBOX, ignore_errors=True)
for _var in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "NILEARN_DATA", "MPLCONFIGDIR", "BRAINEMBED_DATA",
             "TORCH_HOME", "HF_HOME"):
    os.environ[_var] = os.path.join(_SANDBOX, _var.lower())
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import sys

    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")


@pytest.fixture(autouse=True, scope="session")
def _torch_threads():
    try:
        import torch
    except ImportError:  # pragma: no cover
        yield
        return
    torch.set_num_threads(1)
    yield


def make_small_crowd(seed: int = 0, n_voxels=(12, 7), n_images: int = 10, n_train: int = 4, n_test: int = 2,
                     image_size: int = 8):
    """A hand-built crowd (no simulation) for data-layer and training tests.

    The last ``n_test`` images are the test images of every subject; subject
    k trains on images ``k : k + n_train`` of the others (modulo their
    number), so subjects share training images and no image is in training
    for one subject and in the test set for another (the split rule of
    :mod:`brainembed.data.splits`). Responses are a fixed linear function of
    the images' mean colour plus noise, so an encoder has something to learn.
    """
    import numpy as np
    import pandas as pd

    from brainembed.data import Crowd, ImageStore, SubjectData

    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 255, (n_images, image_size, image_size, 3), dtype=np.uint8)
    images = ImageStore(pixels, np.arange(100, 100 + n_images),
                        pd.DataFrame({"category": rng.choice(["face", "food"], n_images)}))
    colour = pixels.reshape(n_images, -1, 3).mean(1) / 255.0 - 0.5
    subjects = []
    for k, nv in enumerate(n_voxels):
        ds = ["7T", "3T", "4T"][k % 3]
        n_pool = n_images - n_test
        rows = np.concatenate([np.arange(k, k + n_train) % n_pool, n_pool + np.arange(n_test)])
        voxels = pd.DataFrame({"hemi": rng.choice(["lh", "rh"], nv), "vertex": rng.integers(0, 10242, nv),
                               "roi": rng.choice(["V1", "FFA"], nv), "true_noise_ceiling": np.full(nv, 0.5)})
        signal = colour[rows] @ rng.normal(size=(3, nv)) * 2
        reps = (signal[:, None, :] + rng.normal(size=(rows.size, 3, nv))).astype(np.float32)
        responses = np.where(np.arange(rows.size)[:, None] < n_train, reps[:, 0], reps.mean(1))
        subjects.append(SubjectData(ds, "1", responses, images.ids[rows], ["train"] * n_train + ["test"] * n_test,
                                    voxels, repeats=reps, field_strength=float(ds[0]), attrs={"snr": 1.0}))
    return Crowd(subjects, images, {"source": "hand-built"})


@pytest.fixture
def small_crowd():
    return make_small_crowd()
