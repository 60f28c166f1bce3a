"""vim-1 (Kay et al., 2008; CRCNS): 4 T responses of two subjects to grayscale natural images.

Files, as released on CRCNS (MATLAB shapes; ``S`` is ``1`` or ``2``)::

    EstimatedResponses.mat   MATLAB v7.3 (HDF5)
        dataTrnS<S>        (n_voxels, 1750)   response per training image (average of 2 trials)
        dataValS<S>        (n_voxels, 120)    response per validation image (average of 13 trials)
        roiS<S>            (n_voxels, 1)      0 other, 1 V1, 2 V2, 3 V3, 4 V3A, 5 V3B, 6 V4, 7 LatOcc
        voxIdxS<S>         (n_voxels, 1)      1-based linear index into the 64 x 64 x 18 functional volume
        dataTrnSingleS<S>  (n_voxels, 1750, 2)   optional single trials
        dataValSingleS<S>  (n_voxels, 120, 13)   optional single trials
    Stimuli.mat              MATLAB v5 or v7.3
        stimTrn            (1750, 128, 128)   grayscale training images
        stimVal            (120, 128, 128)    grayscale validation images

Source: the CRCNS vim-1 release (https://crcns.org/data-sets/vc/vim-1;
Kay, Naselaris, Prenger & Gallant, 2008) and its dataset description.
Third-party loaders read ``EstimatedResponses.mat`` as HDF5 (PyTables
``get_node('/dataValS1')``, images x voxels, and ``roiS1``), i.e. a v7.3
file. No maintained package writes these files, so the tests write MATLAB's
layout (HDF5, 512-byte header, axes reversed) and check the names, shapes and
orderings above. Not confirmed in this revision: the description's own
wording of each shape (the shapes above are those of the released files as
the loaders use them).

MATLAB v7.3 files are HDF5 with every array's axes reversed (h5py sees
``dataTrnS1`` as (1750, n_voxels)); this reader reverses them back.

Processing
----------
- Voxels with NaN (or infinite) responses in ``dataTrn``/``dataVal`` are
  **dropped**, with a :class:`~brainembed.errors.BrainembedWarning` giving
  their number.
- Each voxel is z-scored within each split (training images, validation
  images), ``zscore=True``; single trials get the same transform as their split.
- Optional SNR selection (``snr_top_k``, the paper took the best 7000): SNR =
  variance across images of the repeat-averaged training responses ÷ mean
  variance across repeats (:func:`~brainembed.data.preprocessing.snr_voxel_selection`),
  computed from the training single trials (needs ``dataTrnSingleS<S>``).
- Rows: 1750 training images then 120 test (validation) images; repeats kept
  (NaN-padded to 13) when the single trials are present.
- Image ids: ``0 .. 1749`` training, ``1750 .. 1869`` validation images; both
  subjects saw the same images, so they share ids; ``image_key`` is
  ``vim1:<id>`` (the images exist only in this release). Images stay 128 × 128;
  floating-point pixels are mapped to uint8 by one global rule (values in
  [0, 1] × 255, else the global [min, max] → [0, 255]).
- Voxel table: ``hemi = "none"`` (the release has no hemisphere labels),
  ``vertex = -1``, ``x, y, z`` (0-based indices in the 64 × 64 × 18 volume),
  ``roi`` (name), ``voxel_index`` (the 1-based ``voxIdx``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from brainembed.data.readers._base import (
    DatasetSource,
    MatFile,
    SubjectSource,
    array_image_source,
    greyscale_to_uint8,
    image_keys,
    require_dir,
    warn_dropped,
    zscore_columns,
)
from brainembed.errors import BrainembedError

__all__ = ["ROI_NAMES", "VOLUME_SHAPE", "open_vim1", "read_vim1"]

ROI_NAMES = {0: "other", 1: "V1", 2: "V2", 3: "V3", 4: "V3A", 5: "V3B", 6: "V4", 7: "LatOcc"}
VOLUME_SHAPE = (64, 64, 18)
N_TRAIN, N_VAL = 1750, 120


def _files(src) -> tuple[Path, Path]:
    src = Path(src)
    if src.is_file():
        folder = src.parent
        responses = src
    else:
        folder = require_dir(src, "the vim-1 folder holding EstimatedResponses.mat and Stimuli.mat")
        responses = folder / "EstimatedResponses.mat"
    return responses, folder / "Stimuli.mat"


def _vector(mat: MatFile, key: str, n: int) -> np.ndarray:
    v = mat.get(key)
    if v.ndim != 2 or 1 not in v.shape or v.size != n:
        raise BrainembedError(f"{mat.path}: {key} must have shape ({n}, 1), got {v.shape}.")
    return v.ravel()


def _subject(mat: MatFile, s: str, zscore: bool, snr_top_k, repeats: bool):
    keys = {k: f"{k}S{s}" for k in ("dataTrn", "dataVal", "roi", "voxIdx", "dataTrnSingle", "dataValSingle")}
    for k in ("dataTrn", "dataVal", "roi"):
        if keys[k] not in mat:
            raise BrainembedError(f"{mat.path} has no variable {keys[k]!r} for subject {s}.")
    shape_trn, shape_val = mat.shape(keys["dataTrn"]), mat.shape(keys["dataVal"])
    n_vox = shape_trn[0]
    if len(shape_trn) != 2 or len(shape_val) != 2 or shape_val[0] != n_vox:
        raise BrainembedError(f"{mat.path}: {keys['dataTrn']} {mat.shape(keys['dataTrn'])} and {keys['dataVal']} "
                              f"{shape_val} must both be (n_voxels, n_images) with the same n_voxels.")
    trn = mat.get(keys["dataTrn"]).astype(np.float32).T       # (images, voxels)
    val = mat.get(keys["dataVal"]).astype(np.float32).T
    roi = _vector(mat, keys["roi"], n_vox)
    unknown = sorted(set(np.unique(roi).astype(int).tolist()) - set(ROI_NAMES))
    if unknown or not np.array_equal(roi, np.round(roi)):
        raise BrainembedError(f"{mat.path}: {keys['roi']} has label(s) {unknown or 'non-integer'}; "
                              f"expected 0..7.")
    vox_idx = _vector(mat, keys["voxIdx"], n_vox).astype(np.int64) if keys["voxIdx"] in mat else None
    if vox_idx is not None and (vox_idx.min() < 1 or vox_idx.max() > np.prod(VOLUME_SHAPE)):
        raise BrainembedError(f"{mat.path}: {keys['voxIdx']} must be 1-based indices into a 64 x 64 x 18 volume.")
    singles = {}
    if repeats or snr_top_k:
        for part, n_img in (("dataTrnSingle", trn.shape[0]), ("dataValSingle", val.shape[0])):
            if keys[part] in mat:
                shape = mat.shape(keys[part])
                if len(shape) != 3 or shape[:2] != (n_vox, n_img):
                    raise BrainembedError(f"{mat.path}: {keys[part]} must have shape ({n_vox}, {n_img}, n_trials), "
                                          f"got {shape}.")
                singles[part] = np.moveaxis(mat.get(keys[part]), 0, 2).astype(np.float32)  # (img, trial, vox)

    bad = ~(np.isfinite(trn).all(axis=0) & np.isfinite(val).all(axis=0))
    keep = np.flatnonzero(~bad)
    if keep.size == 0:
        raise BrainembedError(f"{mat.path}: every voxel of subject {s} has NaN responses.")
    warn_dropped(int(bad.sum()), n_vox, f"{mat.path} subject {s}")
    trn, val, roi = trn[:, keep], val[:, keep], roi[keep]
    vox_idx = vox_idx[keep] if vox_idx is not None else None
    singles = {k: v[:, :, keep] for k, v in singles.items()}

    if snr_top_k:
        from brainembed.data.preprocessing import snr_voxel_selection

        if "dataTrnSingle" not in singles:
            raise BrainembedError(f"SNR voxel selection needs the single trials {keys['dataTrnSingle']} in "
                                  f"{mat.path}; pass snr_top_k=None to keep all voxels.")
        top_k = min(int(snr_top_k), keep.size)
        chosen, snr = snr_voxel_selection(singles["dataTrnSingle"], top_k=top_k)
        sel = np.flatnonzero(chosen)
        trn, val, roi = trn[:, sel], val[:, sel], roi[sel]
        vox_idx = vox_idx[sel] if vox_idx is not None else None
        singles = {k: v[:, :, sel] for k, v in singles.items()}
        snr = snr[sel]
    else:
        snr = None

    if zscore:
        trn, m_t, s_t = zscore_columns(trn)
        val, m_v, s_v = zscore_columns(val)
        for part, (m, sd) in (("dataTrnSingle", (m_t, s_t)), ("dataValSingle", (m_v, s_v))):
            if part in singles:
                v = singles[part]
                singles[part] = zscore_columns(v.reshape(-1, v.shape[2]), m, sd)[0].reshape(v.shape)
    responses = np.concatenate([trn, val])
    rep = None
    if repeats and singles:
        n_rep = max(v.shape[1] for v in singles.values())
        rep = np.full((responses.shape[0], n_rep, responses.shape[1]), np.nan, np.float32)
        if "dataTrnSingle" in singles:
            rep[:trn.shape[0], :singles["dataTrnSingle"].shape[1]] = singles["dataTrnSingle"]
        if "dataValSingle" in singles:
            rep[trn.shape[0]:, :singles["dataValSingle"].shape[1]] = singles["dataValSingle"]
        if np.isinf(rep).any():
            raise BrainembedError(f"{mat.path}: single trials of subject {s} contain infinite values.")
    voxels = pd.DataFrame({"hemi": "none", "vertex": -1,
                           "roi": [ROI_NAMES[int(r)] for r in roi]})
    if vox_idx is not None:
        x, y, z = np.unravel_index(vox_idx - 1, VOLUME_SHAPE, order="F")  # MATLAB linear index
        voxels["x"], voxels["y"], voxels["z"] = x.astype(np.int64), y.astype(np.int64), z.astype(np.int64)
        voxels["voxel_index"] = vox_idx
    if snr is not None:
        voxels["snr"] = snr
    return responses, rep, voxels, trn.shape[0], val.shape[0], int(bad.sum())


def open_vim1(src, *, subjects=(1, 2), zscore: bool = True, snr_top_k: int | None = None,
              repeats: bool = True, dataset: str = "vim1", image_size: int | None = None) -> DatasetSource:
    """Open vim-1 (see :func:`read_vim1`)."""
    responses_path, stimuli_path = _files(src)
    with MatFile(stimuli_path) as stim:
        for key in ("stimTrn", "stimVal"):
            if key not in stim:
                raise BrainembedError(f"{stim.path} has no variable {key!r}.")
        pix_trn, pix_val = stim.get("stimTrn"), stim.get("stimVal")
    for key, arr in (("stimTrn", pix_trn), ("stimVal", pix_val)):
        if arr.ndim != 3 or arr.shape[1] != arr.shape[2]:
            raise BrainembedError(f"{stimuli_path}: {key} must have shape (n_images, side, side), got {arr.shape}.")
    if pix_trn.shape[1:] != pix_val.shape[1:]:
        raise BrainembedError(f"{stimuli_path}: stimTrn and stimVal images differ in size.")
    pixels = greyscale_to_uint8(np.concatenate([pix_trn, pix_val]), str(stimuli_path))
    n_trn, n_val = pix_trn.shape[0], pix_val.shape[0]
    sources = []
    with MatFile(responses_path) as mat:
        for s in subjects:
            s = str(s).removeprefix("S")
            resp, rep, voxels, rows_trn, rows_val, dropped = _subject(mat, s, zscore, snr_top_k, repeats)
            if (rows_trn, rows_val) != (n_trn, n_val):
                raise BrainembedError(f"{responses_path}: subject {s} has {rows_trn} training and {rows_val} "
                                      f"validation responses but {stimuli_path} has {n_trn} and {n_val} images.")
            ids = np.arange(n_trn + n_val, dtype=np.int64)
            split = np.array(["train"] * n_trn + ["test"] * n_val)
            sources.append(SubjectSource(
                dataset, s, ids, split, voxels,
                (lambda a, b, r=resp, p=rep: (r[a:b], None if p is None else p[a:b])),
                n_repeats=0 if rep is None else rep.shape[1], field_strength=4.0,
                attrs={"source": "vim1", "zscore": "per split" if zscore else "none",
                       "snr_top_k": int(snr_top_k or 0), "dropped_nan_voxels": dropped}))
    ids = np.arange(n_trn + n_val, dtype=np.int64)
    metadata = pd.DataFrame({"dataset": dataset, "split": ["train"] * n_trn + ["test"] * n_val,
                             "image_key": image_keys("vim1", ids)})
    images = array_image_source(ids, pixels, image_size, metadata, where=str(stimuli_path))
    return DatasetSource(sources, images, {"source": "vim1", "src": str(src)})


def read_vim1(src, **kwargs):
    """Read vim-1 into a :class:`~brainembed.data.Crowd`.

    Parameters
    ----------
    src : path
        The folder holding ``EstimatedResponses.mat`` and ``Stimuli.mat`` (or
        the ``EstimatedResponses.mat`` file, with ``Stimuli.mat`` beside it).
    subjects : sequence of int, default (1, 2)
    zscore : bool, default True
        Z-score each voxel within each split.
    snr_top_k : int, optional
        Keep the ``snr_top_k`` voxels of highest SNR (the paper: 7000).
    repeats : bool, default True
        Keep single trials as ``repeats`` when the file has them.
    dataset : str, default "vim1"
    image_size : int, optional
        Square side to store images at (default: native 128).

    Returns
    -------
    Crowd
        Subjects ``vim1:1``, ``vim1:2``; 1750 training rows, 120 test rows.
    """
    with open_vim1(src, **kwargs) as source:
        return source.to_crowd()
