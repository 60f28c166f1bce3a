"""Small MOSAIC subject files and split files in the published layout.

The ``mosaic-dataset`` package only reads subject files (``SingleSubjectDataset``
opens ``<folder>/sub-NN_<short>.hdf5`` and returns ``betas/<key>`` per item); the
files were written by ``create_hdf5_pkl.py`` of https://github.com/blahner/mosaic-preprocessing,
whose layout :func:`write_mosaic_subject` follows: root attributes, a
``betas`` group created with ``track_order=True`` holding one (91282,) dataset
per trial named ``sub-NN_<short>_stimulus-<stem>_phase-<phase>_rep-<r>`` with
attributes ``nan_indices``, ``phase``, ``repetition`` and
``presented_stimulus_filename``, and a ``nan_indices_all`` dataset. The split
files follow ``make_testtrain_splits.py`` (lists of one-key objects whose
values are the trial names with ``.npz``).
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
from PIL import Image

N_GRAYORDINATES = 91282
N_LH, N_RH = 29696, 29716


def write_mosaic_subject(folder, subject: int, short: str, stimuli: dict, *, seed=0, nan_columns=(),
                         write_images=True) -> dict:
    """``folder/sub-NN_<short>.hdf5``.

    ``stimuli`` maps a stimulus file name (e.g. ``"000000007665.jpg"``) to
    ``(phase, n_reps)``. Returns the planted trials: {trial key: (91282,) float32}.
    """
    rng = np.random.default_rng(seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    sid = f"sub-{subject:02d}"
    trials = {}
    nan_all = set()
    with h5py.File(folder / f"{sid}_{short}.hdf5", "w") as f:
        for key, value in (("visual_angle", "8.4"), ("sex", "F"), ("age", "25"), ("dataset_name", short),
                           ("subjectID", sid), ("preprocessing_pipeline", "fMRIPrepv23.2.0"),
                           ("beta_pipeline", "GLMsinglev1.2")):
            f.attrs.create(key, value)
        grp = f.create_group("betas", track_order=True)
        for filename, (phase, n_reps) in stimuli.items():
            stem = Path(filename).stem
            for rep in range(n_reps):
                response = rng.normal(size=N_GRAYORDINATES).astype(np.float32)
                response[list(nan_columns)] = np.nan
                bad = np.where(~np.isfinite(response))[0]
                nan_all.update(bad.tolist())
                name = f"{sid}_{short}_stimulus-{stem}_phase-{phase}_rep-{rep}"
                ds = grp.create_dataset(name, data=response, track_order=True)
                ds.attrs.create("nan_indices", bad)
                ds.attrs.create("phase", phase)
                ds.attrs.create("repetition", rep)
                ds.attrs.create("presented_stimulus_filename", filename)
                trials[name] = response
        f.create_dataset("nan_indices_all", data=np.array(sorted(nan_all), dtype=np.int64))
    if write_images:
        for filename in stimuli:
            path = folder / "stimuli" / short / filename
            path.parent.mkdir(parents=True, exist_ok=True)
            fmt = "JPEG" if path.suffix.lower() in (".jpg", ".jpeg") else "PNG"
            Image.fromarray(rng.integers(0, 255, (12, 12, 3), dtype=np.uint8)).save(path, format=fmt)
    return trials


def write_splits(folder, assignments: dict) -> Path:
    """The three split files; ``assignments`` maps a trial key to its file name (or None: excluded)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lists = {"train_naturalistic.json": {}, "test_naturalistic.json": {}, "test_artificial.json": {}}
    for key, target in assignments.items():
        if target is None:
            continue
        subject_dataset, rest = key.split("_stimulus-")
        stem = rest.rsplit("_phase-", 1)[0]
        lists[target].setdefault(f"{subject_dataset}_stimulus-{stem}.jpg", []).append(f"{key}.npz")
    for name, entries in lists.items():
        (folder / name).write_text(json.dumps([{k: v} for k, v in entries.items()]))
    return folder


def write_template(path, seed=0) -> tuple[Path, np.ndarray, np.ndarray]:
    """A CIFTI-2 dscalar on 91k grayordinates: 29696 + 29716 cortex vertices of fsLR-32k, then subcortex."""
    import nibabel as nib

    rng = np.random.default_rng(seed)
    lh = np.sort(rng.choice(32492, N_LH, replace=False))
    rh = np.sort(rng.choice(32492, N_RH, replace=False))
    mask = np.zeros((40, 40, 20), bool)
    mask.flat[:N_GRAYORDINATES - N_LH - N_RH] = True
    bm = (nib.cifti2.BrainModelAxis.from_surface(lh, 32492, "CortexLeft")
          + nib.cifti2.BrainModelAxis.from_surface(rh, 32492, "CortexRight")
          + nib.cifti2.BrainModelAxis.from_mask(mask, name="thalamus_left", affine=np.eye(4)))
    header = nib.cifti2.Cifti2Header.from_axes((nib.cifti2.ScalarAxis(["template"]), bm))
    img = nib.cifti2.Cifti2Image(np.zeros((1, N_GRAYORDINATES), np.float32), header)
    img.nifti_header.set_intent("ConnDenseScalar")
    nib.save(img, str(path))
    return Path(path), lh, rh
