"""Writers of THINGS-fMRI and BOLD5000 fixtures with the libraries the releases were written with.

THINGS-fMRI's tables are written by pandas (``DataFrame.to_hdf`` in the fixed
format with key ``ResponseData``, ``DataFrame.to_csv``), BOLD5000's betas and
masks by nibabel (``Nifti1Image`` saved as ``.nii.gz``). Each writer returns
the ground truth it planted.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

THINGS_ROI_COLUMNS = ("V1", "hV4", "LO1 (prf)", "lFFA", "rPPA", "IT")
CONCEPTS = ("aardvark", "dog", "mango", "spatula", "candelabra", "panda", "zebra", "kettle", "tulip", "anchor")


def _image(path: Path, rng, size=(12, 12), fmt=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 255, size + (3,), dtype=np.uint8)).save(path, format=fmt)


# --------------------------------------------------------------------------- THINGS-fMRI
def write_things(root, *, subject="01", n_train=6, n_test=2, n_sessions=3, n_voxels=10, seed=0,
                 string_labels=False, images=True, catch=False) -> dict:
    """``root/betas_csv/sub-XX_{ResponseData.h5,VoxelMetadata.csv,StimulusMetadata.csv}`` and ``root/images``.

    Training images are shown once (spread over the sessions), test images
    once per session, in a shuffled order within each session. Response
    columns are labelled by trial number (int, or str with ``string_labels``).
    """
    import tables  # noqa: F401  (pandas' HDF5 writer; fail here, not inside pandas, if it is missing)

    rng = np.random.default_rng(seed)
    root = Path(root)
    folder = root / "betas_csv"
    folder.mkdir(parents=True, exist_ok=True)
    stems = [f"{CONCEPTS[k % len(CONCEPTS)]}_{k + 1:02d}s" for k in range(n_train + n_test)]
    train, test = stems[:n_train], stems[n_train:]
    rows = []
    for s in range(1, n_sessions + 1):
        shown = [(t, "train") for t in train[(s - 1) * n_train // n_sessions: s * n_train // n_sessions]]
        shown += [(t, "test") for t in test]
        if catch:
            shown.append(("catch008", "catch"))
        for k in rng.permutation(len(shown)):
            rows.append({"trial_type": shown[k][1], "session": s, "run": 1 + int(k % 2),
                         "subject_id": int(subject), "stimulus": f"{shown[k][0]}.jpg",
                         "concept": shown[k][0].rsplit("_", 1)[0]})
    stim = pd.DataFrame(rows)
    stim.insert(4, "trial_id", np.arange(len(stim)))
    stim = stim[["trial_type", "session", "run", "subject_id", "trial_id", "stimulus", "concept"]]
    stim.to_csv(folder / f"sub-{subject}_StimulusMetadata.csv", index=False)

    vox = pd.DataFrame({"voxel_id": np.arange(n_voxels), "subject_id": int(subject),
                        "voxel_x": rng.integers(0, 70, n_voxels), "voxel_y": rng.integers(0, 80, n_voxels),
                        "voxel_z": rng.integers(0, 60, n_voxels)})
    for col in ("nc_singletrial", "nc_testset", "splithalf_uncorrected", "splithalf_corrected",
                "prf-eccentricity", "prf-polarangle", "prf-rsquared", "prf-size"):
        vox[col] = rng.uniform(0, 10, n_voxels)
    membership = np.zeros((n_voxels, len(THINGS_ROI_COLUMNS)), dtype=np.int64)
    for v in range(n_voxels - 2):                      # the last two voxels are in no visual ROI
        membership[v, v % len(THINGS_ROI_COLUMNS)] = 1
    membership[0, THINGS_ROI_COLUMNS.index("IT")] = 1  # V1 and IT: V1 comes first
    for j, col in enumerate(THINGS_ROI_COLUMNS):
        vox[col] = membership[:, j]
    vox["glasser-V1"] = (np.arange(n_voxels) % 3 == 0).astype(np.int64)
    vox["glasser-FFC"] = (np.arange(n_voxels) % 3 == 1).astype(np.int64)
    vox.to_csv(folder / f"sub-{subject}_VoxelMetadata.csv", index=False)

    values = rng.normal(size=(n_voxels, len(stim))) * rng.uniform(0.5, 3, (n_voxels, 1)) + \
        rng.normal(size=(n_voxels, 1))
    labels = [str(t) for t in range(len(stim))] if string_labels else list(range(len(stim)))
    frame = pd.DataFrame(values, columns=labels)
    frame.insert(0, "voxel_id", np.arange(n_voxels))
    with warnings.catch_warnings():  # integer column labels make pandas pickle the column index, as released
        warnings.simplefilter("ignore", pd.errors.PerformanceWarning)
        frame.to_hdf(folder / f"sub-{subject}_ResponseData.h5", key="ResponseData")  # fixed format

    if images:
        for stem in stems:
            _image(root / "images" / stem.rsplit("_", 1)[0] / f"{stem}.jpg", rng, fmt="JPEG")
    return {"folder": folder, "images": root / "images", "stim": stim, "vox": vox, "values": values,
            "train": train, "test": test, "membership": membership}


def things_expected(truth, voxels, zscore=True):
    """Reference: per-session z-scoring of the chosen voxels, trials grouped by image (plain loops)."""
    stim = truth["stim"]
    keep = stim["trial_type"].isin(["train", "test"]).to_numpy()
    x = truth["values"][voxels].T.astype(np.float64)                 # (trials, voxels)
    if zscore:
        for s in np.unique(stim["session"]):
            m = (stim["session"] == s).to_numpy() & keep
            x[m] = (x[m] - x[m].mean(0)) / x[m].std(0)
    stems = np.array([s.removesuffix(".jpg") for s in stim["stimulus"]])
    names = sorted(set(stems[keep]))
    trials = {n: x[keep & (stems == n)] for n in names}
    return names, trials


# --------------------------------------------------------------------------- BOLD5000
BOLD5000_NAMES = ("COCO_train2014_000000396550.jpg", "n01945685_2329.JPEG", "concert5.jpg",
                  "COCO_train2014_000000000042.jpg", "n01440764_10026.JPEG", "airplanecabin1.jpg",
                  "COCO_train2014_000000123456.jpg", "n02085620_7.JPEG", "beach3.jpg")


def write_bold5000(root, *, subject=1, trials=(4, 5, 3), grid=(4, 5, 3), repeated=(0, 2), seed=0,
                   images=True, rep_prefix=False, masks=("LHEarlyVis", "RHEarlyVis", "LHLO", "RHPPA")) -> dict:
    """A BOLD5000 v2.0 folder for one subject: per-session TYPED betas, imgnames, brain and ROI masks, images.

    Images ``repeated`` (indices into :data:`BOLD5000_NAMES`) are shown once
    per session; the others once in total. Betas are float32 ``(X, Y, Z, n)``.
    """
    import nibabel as nib

    rng = np.random.default_rng(seed)
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    name = f"CSI{subject}"
    n_sessions = len(trials)
    singles = [i for i in range(len(BOLD5000_NAMES)) if i not in repeated]
    order, cursor = [], 0
    for n in trials:
        need = n - len(repeated)
        shown = list(repeated) + singles[cursor:cursor + need]
        cursor += need
        order += [shown[k] for k in rng.permutation(len(shown))]
    names = [BOLD5000_NAMES[i] for i in order]
    lines = [("rep_" + n) if rep_prefix and i in repeated else n for n, i in zip(names, order)]
    (root / f"{name}_imgnames.txt").write_text("\n".join(lines) + "\n")
    volumes = []
    for s, n in enumerate(trials):
        vol = (rng.normal(size=grid + (n,)) * 2 + 1).astype(np.float32)
        volumes.append(vol)
        nib.save(nib.Nifti1Image(vol, np.eye(4)),
                 root / f"{name}_GLMbetas-TYPED-FITHRF-GLMDENOISE-RR_ses-{s + 1:02d}.nii.gz")
    brain = (rng.uniform(size=grid) > 0.2).astype(np.uint8)
    nib.save(nib.Nifti1Image(brain, np.eye(4)), root / f"{name}_brainmask.nii.gz")
    mask_dir = root / f"sub-{name}"
    mask_dir.mkdir(exist_ok=True)
    planted = {}
    for m in masks:
        roi = (rng.uniform(size=grid) > 0.75).astype(np.uint8)
        nib.save(nib.Nifti1Image(roi, np.eye(4)), mask_dir / f"sub-{name}_mask-{m}.nii.gz")
        planted[m] = roi.astype(bool)
    if images:
        for n in sorted(set(names)):  # sorted: the same pixels in every process (set order follows the hash seed)
            folder = "COCO" if n.startswith("COCO") else "ImageNet" if n.startswith("n0") else "Scene"
            _image(root / "Presented_Stimuli" / folder / n, rng, size=(10 + len(n) % 5, 14),
                   fmt="JPEG")
    return {"root": root, "images": root / "Presented_Stimuli", "names": names, "order": order,
            "volumes": volumes, "brain": brain.astype(bool), "masks": planted, "trials": trials,
            "n_sessions": n_sessions}


def bold5000_expected(truth, mask, sessions=None, zscore=True):
    """Reference: the masked betas of each session z-scored, trials grouped by file name (plain loops)."""
    sessions = sessions or list(range(1, truth["n_sessions"] + 1))
    starts = np.concatenate([[0], np.cumsum(truth["trials"])])
    rows, names = [], []
    for s in sessions:
        x = truth["volumes"][s - 1][mask].T.astype(np.float64)         # (trials, voxels)
        if zscore:
            x = (x - x.mean(0)) / x.std(0)
        rows.append(x)
        names += truth["names"][starts[s - 1]:starts[s]]
    x = np.concatenate(rows)
    names = np.array(names)
    return {n: x[names == n] for n in sorted(set(names))}
