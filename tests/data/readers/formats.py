"""Writers of small datasets in the exact published layouts (names, shapes, dtypes, 1-based indices).

Each writer returns the ground truth it planted so tests can check what the
readers make of it. MATLAB v7.3 files are written as MATLAB does: HDF5 with a
512-byte header block and every array stored with its axes reversed.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
from PIL import Image

N_FSAVERAGE = 163842
ALGONAUTS_MAPPINGS = {
    "prf-visualrois": {0: "Unknown", 1: "V1v", 2: "V1d", 3: "V2v", 4: "V2d", 5: "V3v", 6: "V3d", 7: "hV4"},
    "floc-bodies": {0: "Unknown", 1: "EBA", 2: "FBA-1", 3: "FBA-2", 4: "mTL-bodies"},
    "floc-faces": {0: "Unknown", 1: "OFA", 2: "FFA-1", 3: "FFA-2", 4: "mTL-faces", 5: "aTL-faces"},
    "floc-places": {0: "Unknown", 1: "OPA", 2: "PPA", 3: "RSC"},
    "floc-words": {0: "Unknown", 1: "OWFA", 2: "VWFA-1", 3: "VWFA-2", 4: "mfs-words", 5: "mTL-words"},
    "streams": {0: "Unknown", 1: "early", 2: "midventral", 3: "midlateral", 4: "midparietal", 5: "ventral",
                6: "lateral", 7: "parietal"},
}


# --------------------------------------------------------------------------- MATLAB
def _matlab_class(dtype) -> str:
    return {"f8": "double", "f4": "single", "u1": "uint8", "i2": "int16", "i4": "int32", "u2": "uint16",
            "i8": "int64", "b1": "logical"}[np.dtype(dtype).str[1:]]


def write_mat73(path, variables: dict) -> Path:
    """A MATLAB v7.3 .mat file: HDF5, 512-byte MATLAB header, arrays transposed (column-major)."""
    path = Path(path)
    with h5py.File(path, "w", userblock_size=512) as f:
        for name, value in variables.items():
            arr = np.asarray(value)
            if arr.ndim == 1:
                arr = arr[None, :]  # MATLAB has no 1-D arrays
            ds = f.create_dataset(name, data=arr.T)
            ds.attrs["MATLAB_class"] = np.bytes_(_matlab_class(arr.dtype))
    text = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 ."
    header = text.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02" + b"IM"
    with open(path, "r+b") as fh:
        fh.write(header.ljust(512, b"\x00"))
    return path


def write_mat5(path, variables: dict) -> Path:
    from scipy.io import savemat

    savemat(str(path), variables)
    return Path(path)


def _png(path, rng, size=(12, 12), grey=False):
    shape = size if grey else size + (3,)
    Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8)).save(path)


# --------------------------------------------------------------------------- Algonauts 2023
def write_algonauts_subject(root, subject: int, train_ids, test_ids=(), *, n_lh=30, n_rh=25, seed=0,
                            test_fmri=False, image_size=(12, 12)) -> dict:
    """``root/subjNN`` in the Algonauts 2023 layout; returns responses, vertices and ROI labels planted.

    Arrays are written with ``np.save`` as the challenge's preparation script
    did (gifale95/algonauts_2023, ``challenge_data_preparation.py``): float32
    fMRI (images x vertices), integer masks and ROI labels, and each ROI
    mapping dict saved as a pickle.
    """
    rng = np.random.default_rng(seed)
    folder = Path(root) / f"subj{subject:02d}"
    train_dir = folder / "training_split" / "training_images"
    fmri_dir = folder / "training_split" / "training_fmri"
    masks = folder / "roi_masks"
    for d in (train_dir, fmri_dir, masks):
        d.mkdir(parents=True, exist_ok=True)
    truth = {"folder": folder, "train_ids": np.asarray(train_ids), "test_ids": np.asarray(test_ids)}
    for k, nsd in enumerate(train_ids, start=1):
        _png(train_dir / f"train-{k:04d}_nsd-{nsd:05d}.png", rng, image_size)
    if len(test_ids):
        test_dir = folder / "test_split" / "test_images"
        test_dir.mkdir(parents=True, exist_ok=True)
        for k, nsd in enumerate(test_ids, start=1):
            _png(test_dir / f"test-{k:04d}_nsd-{nsd:05d}.png", rng, image_size)
    for hemi, n in (("lh", n_lh), ("rh", n_rh)):
        data = rng.normal(size=(len(train_ids), n)).astype(np.float32)
        np.save(fmri_dir / f"{hemi}_training_fmri.npy", data)
        truth[f"{hemi}_train"] = data
        if test_fmri:
            (folder / "test_split" / "test_fmri").mkdir(parents=True, exist_ok=True)
            tdata = rng.normal(size=(len(test_ids), n)).astype(np.float32)
            np.save(folder / "test_split" / "test_fmri" / f"{hemi}_test_fmri.npy", tdata)
            truth[f"{hemi}_test"] = tdata
        vertices = np.sort(rng.choice(N_FSAVERAGE, n, replace=False))
        mask = np.zeros(N_FSAVERAGE, dtype=np.int64)  # the challenge saved integer masks (astype(int))
        mask[vertices] = 1
        np.save(masks / f"{hemi}.all-vertices_fsaverage_space.npy", mask)
        truth[f"{hemi}_vertices"] = vertices
        for cls, names in ALGONAUTS_MAPPINGS.items():
            labels = rng.integers(0, len(names), n).astype(np.int64)
            np.save(masks / f"{hemi}.{cls}_challenge_space.npy", labels)
            truth[f"{hemi}_{cls}"] = labels
    for cls, names in ALGONAUTS_MAPPINGS.items():
        np.save(masks / f"mapping_{cls}.npy", names)  # a pickled dict, as released
    return truth


# --------------------------------------------------------------------------- NSD native
def write_nsd(root, *, subject=1, n_sessions=3, trials=12, grid=(5, 4, 3), n_brick=40, seed=0,
              fmt="hdf5", shared=(1, 3, 5), space="func1pt8mm", rois=True) -> dict:
    """An NSD root with design file, imgBrick, per-session betas and an nsdgeneral ROI.

    Each subject sees ``n_sessions * trials / 3`` images three times; ``masterordering``
    and ``subjectim`` are 1-based as in NSD. Returns the per-trial betas (float, /300),
    the 0-based image of each trial, and the voxel index of the mask.
    """
    rng = np.random.default_rng(seed)
    root = Path(root)
    n_trials = n_sessions * trials
    n_images = n_trials // 3
    design_dir = root / "nsddata/experiments/nsd"
    design_dir.mkdir(parents=True, exist_ok=True)
    subjectim = np.zeros((8, n_images), dtype=np.float64)
    for s in range(8):
        subjectim[s] = rng.choice(np.arange(1, n_brick + 1), n_images, replace=False)
    shared_1based = subjectim[subject - 1, list(shared)]
    subjectim[(subject % 8), : len(shared)] = shared_1based  # another subject also saw the shared images
    master = rng.permutation(np.repeat(np.arange(1, n_images + 1), 3)).astype(np.float64)
    write_mat5(design_dir / "nsd_expdesign.mat", {"masterordering": master[None, :], "subjectim": subjectim,
                                                  "sharedix": np.sort(shared_1based)[None, :],
                                                  "basiccnt": np.zeros((3, 40))})
    stim_dir = root / "nsddata_stimuli/stimuli/nsd"
    stim_dir.mkdir(parents=True, exist_ok=True)
    brick = rng.integers(0, 255, (n_brick, 10, 10, 3), dtype=np.uint8)
    with h5py.File(stim_dir / "nsd_stimuli.hdf5", "w") as f:
        f.create_dataset("imgBrick", data=brick)
    name = f"subj{subject:02d}"
    beta_dir = root / "nsddata_betas/ppdata" / name / space / "betas_fithrf_GLMdenoise_RR"
    beta_dir.mkdir(parents=True, exist_ok=True)
    import nibabel as nib

    truth = {"brick": brick, "subjectim": subjectim, "master": master, "shared": np.sort(shared_1based) - 1}
    trial_images = subjectim[subject - 1, master.astype(int) - 1].astype(np.int64) - 1
    truth["trial_images"] = trial_images
    if space == "fsaverage":
        label_dir = root / "nsddata/freesurfer/fsaverage/label"
        label_dir.mkdir(parents=True, exist_ok=True)
        vertices = {}
        for hemi in ("lh", "rh"):
            v = np.sort(rng.choice(N_FSAVERAGE, 6, replace=False))
            mask = np.zeros((N_FSAVERAGE, 1, 1), np.float32)
            mask[v] = 1
            nib.save(nib.MGHImage(mask, np.eye(4)), label_dir / f"{hemi}.nsdgeneral.mgz")
            vertices[hemi] = v
        truth["vertices"] = vertices
        betas = rng.integers(-3000, 3000, (n_trials, 12)).astype(np.int16)
        for s in range(n_sessions):
            rows = betas[s * trials:(s + 1) * trials]
            for h, hemi in enumerate(("lh", "rh")):
                vol = np.zeros((N_FSAVERAGE, 1, 1, trials), np.int16)
                vol[vertices[hemi], 0, 0, :] = rows[:, h * 6:(h + 1) * 6].T
                nib.save(nib.MGHImage(vol, np.eye(4)), beta_dir / f"{hemi}.betas_session{s + 1:02d}.mgh")
        truth["betas"] = betas.astype(np.float64) / 300.0
        return truth
    roi_dir = root / "nsddata/ppdata" / name / space / "roi"
    roi_dir.mkdir(parents=True, exist_ok=True)
    mask = rng.choice([-1, 0, 1], size=grid, p=[0.2, 0.3, 0.5]).astype(np.int16)
    nib.save(nib.Nifti1Image(mask, np.eye(4)), roi_dir / "nsdgeneral.nii.gz")
    index = np.nonzero(mask > 0)
    truth["index"] = index
    if rois:
        labels = rng.integers(0, 4, size=grid).astype(np.int16)
        nib.save(nib.Nifti1Image(labels, np.eye(4)), roi_dir / "prf-visualrois.nii.gz")
        ctab_dir = root / "nsddata/freesurfer" / name / "label"
        ctab_dir.mkdir(parents=True, exist_ok=True)
        (ctab_dir / "prf-visualrois.mgz.ctab").write_text("0 Unknown\n1 V1v\n2 V1d\n3 V2v\n")
        truth["prf"] = labels[index]
    volumes = rng.integers(-3000, 3000, size=grid + (n_trials,)).astype(np.int16)  # (X, Y, Z, trials)
    for s in range(n_sessions):
        vol = volumes[..., s * trials:(s + 1) * trials]
        if fmt == "hdf5":
            with h5py.File(beta_dir / f"betas_session{s + 1:02d}.hdf5", "w") as f:
                f.create_dataset("betas", data=vol.T)  # MATLAB-written: (trials, Z, Y, X)
        else:
            nib.save(nib.Nifti1Image(vol, np.eye(4)), beta_dir / f"betas_session{s + 1:02d}.nii.gz")
    truth["betas"] = volumes[index].T.astype(np.float64) / 300.0  # (trials, voxels)
    return truth


def nsd_expected(truth, trials=12, zscore=True):
    """Reference computation: per-session z-scoring, grouping by image, averages (plain loops)."""
    betas = truth["betas"].copy()
    if zscore:
        for s in range(0, betas.shape[0], trials):
            block = betas[s:s + trials]
            sd = block.std(0)
            betas[s:s + trials] = np.where(sd > 0, (block - block.mean(0)) / np.where(sd > 0, sd, 1), 0)
    ids = np.unique(truth["trial_images"])
    reps = np.stack([betas[truth["trial_images"] == i] for i in ids])  # each image exactly 3 times
    return ids, reps


# --------------------------------------------------------------------------- Generic Object Decoding
def write_god(folder, *, subject=1, n_train=6, n_test=2, test_reps=3, n_voxels=9, seed=0, old_keys=False,
              label_key="stimulus_id") -> dict:
    """``SubjectN.h5`` written by bdpy (``BData.add``/``add_metadata``/``save``) plus an ImageNet-style image folder.

    ``old_keys`` renames ``dataset``/``metadata`` to ``dataSet``/``metaData``,
    the older BData key names the reader also accepts (bdpy 0.26 writes only
    the new ones, so the rename is done with h5py).
    """
    rng = np.random.default_rng(seed)
    folder = Path(folder)
    img_dir = folder / "images"
    (img_dir / "training").mkdir(parents=True, exist_ok=True)
    (img_dir / "test").mkdir(parents=True, exist_ok=True)
    synsets = rng.choice(np.arange(1440000, 9999999), n_train + n_test, replace=False)
    numbers = rng.integers(1, 99999, n_train + n_test)
    labels = synsets + numbers / 1e6
    for k, (syn, num) in enumerate(zip(synsets, numbers)):
        sub = "training" if k < n_train else "test"
        size = (20, 14) if k % 2 else (14, 20)
        Image.fromarray(rng.integers(0, 255, size + (3,), dtype=np.uint8)).save(
            img_dir / sub / f"n{syn:08d}_{num}.JPEG", format="JPEG")
    # samples: training images once each over 2 runs; test images test_reps times in 1 run; 2 imagery samples
    rows = [(1, 1 + (k >= n_train // 2), labels[k]) for k in range(n_train)]
    rows += [(2, 3, labels[n_train + j]) for _ in range(test_reps) for j in range(n_test)]
    rows += [(3, 4, labels[n_train]), (3, 4, labels[n_train + 1 if n_test > 1 else n_train])]
    n_samples = len(rows)
    voxel_data = rng.normal(size=(n_samples, n_voxels))
    extra_voxels = rng.normal(size=(n_samples, 2))  # voxels outside ROI_VC
    from bdpy.bdata import BData  # the GOD files are bdpy BData files: bdpy writes the fixture

    bdata = BData()
    bdata.add(np.concatenate([voxel_data, extra_voxels], axis=1), "VoxelData")
    n_all = n_voxels + 2
    bdata.add_metadata("ROI_VC", np.r_[np.ones(n_voxels), np.zeros(2)], "1 = ROI VC voxel", where="VoxelData")
    bdata.add_metadata("ROI_V1", np.r_[(np.arange(n_voxels) < 3).astype(float), np.zeros(2)],
                       "1 = ROI V1 voxel", where="VoxelData")
    bdata.add_metadata("ROI_FFA", np.r_[(np.arange(n_voxels) >= n_voxels - 2).astype(float), np.zeros(2)],
                       "1 = ROI FFA voxel", where="VoxelData")
    coords = {axis: rng.normal(size=n_all) * 30 for axis in "xyz"}
    for axis in "xyz":
        bdata.add_metadata(f"voxel_{axis}", coords[axis], f"Voxel {axis} coordinate", where="VoxelData")
    table = np.array(rows, dtype=np.float64)
    for j, key in enumerate(["DataType", "Run", label_key]):
        bdata.add(table[:, j], key)
    path = folder / f"Subject{subject}.h5"
    bdata.save(str(path))
    if old_keys:
        with h5py.File(path, "r+") as f:
            f.move("dataset", "dataSet")
            f.move("metadata", "metaData")
    return {"path": path, "images": img_dir, "labels": labels, "rows": np.array(rows), "voxels": voxel_data,
            "x": coords["x"][:n_voxels], "n_train": n_train, "n_test": n_test}


# --------------------------------------------------------------------------- vim-1
def write_vim1(folder, *, n_vox=(12, 10), n_trn=8, n_val=4, side=16, nan_voxels=(2,), seed=0,
               singles=True, stimuli_v73=True) -> dict:
    """``EstimatedResponses.mat`` (v7.3) and ``Stimuli.mat`` in the vim-1 layout (MATLAB shapes)."""
    rng = np.random.default_rng(seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    variables, truth = {}, {}
    for s, nv in enumerate(n_vox, start=1):
        trn_single = rng.normal(size=(nv, n_trn, 2))
        val_single = rng.normal(size=(nv, n_val, 13))
        trn, val = trn_single.mean(2), val_single.mean(2)
        if s == 1:
            for v in nan_voxels:
                trn[v, 1] = np.nan
        variables[f"dataTrnS{s}"] = trn                       # (voxels, images), MATLAB shape
        variables[f"dataValS{s}"] = val
        variables[f"roiS{s}"] = rng.integers(0, 8, (nv, 1)).astype(np.float64)
        variables[f"voxIdxS{s}"] = np.sort(rng.choice(64 * 64 * 18, nv, replace=False) + 1)[:, None].astype(float)
        if singles:
            variables[f"dataTrnSingleS{s}"] = trn_single
            variables[f"dataValSingleS{s}"] = val_single
        truth[s] = {"trn": trn, "val": val, "trn_single": trn_single, "val_single": val_single,
                    "roi": variables[f"roiS{s}"].ravel(), "voxidx": variables[f"voxIdxS{s}"].ravel()}
    write_mat73(folder / "EstimatedResponses.mat", variables)
    stim = {"stimTrn": rng.uniform(-0.5, 0.5, (n_trn, side, side)),
            "stimVal": rng.uniform(-0.5, 0.5, (n_val, side, side))}
    (write_mat73 if stimuli_v73 else write_mat5)(folder / "Stimuli.mat", stim)
    truth["stim"] = stim
    return truth


# --------------------------------------------------------------------------- digits
def write_digits(path, *, n_train=6, n_test=2, n_voxels=5, seed=0, **replace) -> dict:
    rng = np.random.default_rng(seed)
    variables = {
        "stimTrn": rng.integers(0, 255, (n_train, 784), dtype=np.uint8),
        "stimTest": rng.integers(0, 255, (n_test, 784), dtype=np.uint8),
        "fmriTrn": rng.normal(size=(n_train, n_voxels)),
        "fmriTest": rng.normal(size=(n_test, n_voxels)),
        "labelTrn": rng.integers(1, 3, (n_train, 1)).astype(np.uint8),
        "labelTest": rng.integers(1, 3, (n_test, 1)).astype(np.uint8),
    }
    variables.update(replace)
    variables = {k: v for k, v in variables.items() if v is not None}
    write_mat5(path, variables)
    return variables


def write_nsd_stim_info(root, *, n_brick=40, seed=0) -> np.ndarray:
    """``nsddata/experiments/nsd/nsd_stim_info_merged.csv`` (pandas, index column first, as released).

    Columns as documented in the NSD Data Manual (Experiments page); returns
    the COCO id planted for each 0-based 73k id.
    """
    import pandas as pd

    rng = np.random.default_rng(seed)
    coco = rng.choice(np.arange(1, 600000), n_brick, replace=False)
    table = pd.DataFrame({"cocoId": coco, "cocoSplit": "train2017", "cropBox": "(0, 0, 0.1, 0.1)", "loss": 0.0,
                          "nsdId": np.arange(n_brick), "flagged": False, "BOLD5000": False, "shared1000": False})
    path = Path(root) / "nsddata/experiments/nsd/nsd_stim_info_merged.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path)  # the unnamed first column is the row index, as in the release
    return coco
