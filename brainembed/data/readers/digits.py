"""The handwritten-digits fMRI dataset ("digit69": 6s and 9s, 28 × 28 px, one subject).

File layout (MATLAB .mat, v5 or v7.3), as in ``digit69_28x28.mat``::

    stimTrn    (n_train, 784) uint8   images, each a column-major (MATLAB) 28 x 28 raster
    stimTest   (n_test, 784)  uint8
    fmriTrn    (n_train, n_voxels) double   one response per image
    fmriTest   (n_test, n_voxels)  double
    labelTrn   (n_train, 1)   1 = digit 6, 2 = digit 9
    labelTest  (n_test, 1)

The shipped file has 90 training and 10 test images and 3092 voxels of early
visual cortex (van Gerven et al., 2010, 3 T). There are no repeats and no voxel
coordinates: voxels get ``hemi = "none"``, ``vertex = -1``.

Responses are z-scored per voxel with the mean and standard deviation of the
training images (``zscore=True``, the default; test rows get the same
transform, so nothing of the test set leaks in), as the NSD, GOD and vim-1
readers standardise theirs. The shipped file's values are raw (sd about 0.02,
voxel means larger than their spread); at that scale the encoder's loss (MSE
minus a cosine across voxels) is ruled by the voxel-mean pattern and the
encoder learned nothing image-specific (median test r -0.06 vs 0.10 once
z-scored, one seed; ridge is unaffected).

Image ids are ``0 .. n_train - 1`` for training images, then ``n_train ..`` for
test images; image metadata has ``digit`` (6 or 9), ``label`` (1 or 2) and
``image_key`` ``digits:<id>`` (the file's own numbering: two different digits
files imported into one store under these keys would be taken for one image
set, so give each its own store).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from brainembed.data.readers._base import (
    DatasetSource,
    MatFile,
    SubjectSource,
    array_image_source,
    check_finite_columns,
    image_keys,
    zscore_columns,
)
from brainembed.errors import BrainembedError

__all__ = ["open_digits", "read_digits"]

KEYS = ("stimTrn", "stimTest", "fmriTrn", "fmriTest", "labelTrn", "labelTest")
DIGIT_OF_LABEL = {1: 6, 2: 9}


def _images(mat: MatFile, key: str, n: int) -> np.ndarray:
    stim = mat.get(key)
    if stim.ndim != 2 or stim.shape[0] != n:
        raise BrainembedError(f"{mat.path}: {key} must have shape ({n}, side*side), got {stim.shape}.")
    side = int(round(np.sqrt(stim.shape[1])))
    if side * side != stim.shape[1]:
        raise BrainembedError(f"{mat.path}: {key} rows have {stim.shape[1]} pixels, not a square image.")
    if stim.dtype != np.uint8:
        if not np.all(np.isfinite(stim)) or stim.min() < 0 or stim.max() > 255:
            raise BrainembedError(f"{mat.path}: {key} must hold pixel values in 0..255.")
        stim = np.rint(stim).astype(np.uint8)
    # MATLAB rasters are column-major: reshape in Fortran order to get (row, column).
    return stim.reshape(n, side, side, order="F")


def open_digits(src, *, dataset: str = "digit69", subject: str = "1", field_strength: float = 3.0,
                image_size: int | None = None, zscore: bool = True) -> DatasetSource:
    """Open a digits .mat file lazily (see :func:`read_digits`)."""
    with MatFile(src) as mat:
        missing = [k for k in KEYS if k not in mat]
        if missing:
            raise BrainembedError(f"{mat.path} lacks the variable(s) {missing}; a digits file needs "
                                  f"{', '.join(KEYS)}.")
        fmri = {s: np.asarray(mat.get(f"fmri{s}"), dtype=np.float64) for s in ("Trn", "Test")}
        for s, arr in fmri.items():
            if arr.ndim != 2:
                raise BrainembedError(f"{mat.path}: fmri{s} must have shape (n_images, n_voxels), got {arr.shape}.")
        if fmri["Trn"].shape[1] != fmri["Test"].shape[1]:
            raise BrainembedError(f"{mat.path}: fmriTrn has {fmri['Trn'].shape[1]} voxels but fmriTest has "
                                  f"{fmri['Test'].shape[1]}.")
        labels, stims = {}, {}
        for s in ("Trn", "Test"):
            n = fmri[s].shape[0]
            lab = np.asarray(mat.get(f"label{s}")).ravel()
            if lab.shape != (n,):
                raise BrainembedError(f"{mat.path}: label{s} has {lab.size} entries for {n} fmri{s} rows.")
            unknown = sorted(set(np.unique(lab).tolist()) - set(DIGIT_OF_LABEL))
            if unknown:
                raise BrainembedError(f"{mat.path}: label{s} has value(s) {unknown}; expected 1 (six) or 2 (nine).")
            labels[s] = lab.astype(np.int64)
            stims[s] = _images(mat, f"stim{s}", n)
            check_finite_columns(fmri[s], f"{mat.path} fmri{s}")
        if stims["Trn"].shape[1:] != stims["Test"].shape[1:]:
            raise BrainembedError(f"{mat.path}: stimTrn and stimTest images differ in size.")
    n_train, n_test = fmri["Trn"].shape[0], fmri["Test"].shape[0]
    responses = np.concatenate([fmri["Trn"], fmri["Test"]]).astype(np.float32)
    if zscore:
        _, mean, std = zscore_columns(fmri["Trn"])
        responses = zscore_columns(responses, mean, std)[0]
    ids = np.arange(n_train + n_test, dtype=np.int64)
    split = np.array(["train"] * n_train + ["test"] * n_test)
    label = np.concatenate([labels["Trn"], labels["Test"]])
    metadata = pd.DataFrame({"dataset": dataset, "label": label,
                             "digit": [DIGIT_OF_LABEL[int(v)] for v in label], "split": split,
                             "image_key": image_keys("digits", ids)})
    images = array_image_source(ids, np.concatenate([stims["Trn"], stims["Test"]]), image_size, metadata)
    voxels = pd.DataFrame({"hemi": np.full(responses.shape[1], "none"), "vertex": -1,
                           "roi": np.full(responses.shape[1], "EVC")})
    subject_source = SubjectSource(
        dataset, str(subject), ids, split, voxels, lambda a, b: (responses[a:b], None),
        field_strength=float(field_strength),
        attrs={"source": "digits", "file": str(src),
               "preprocessing": "z-scored per voxel with the training images' mean and sd" if zscore
               else "as provided"})
    return DatasetSource([subject_source], images, {"source": "digits", "src": str(src)})


def read_digits(src, **kwargs):
    """Read a handwritten-digits fMRI .mat file into a :class:`~brainembed.data.Crowd`.

    Parameters
    ----------
    src : path
        The ``.mat`` file (e.g. ``digit69_28x28.mat``); layout in the module docstring.
    dataset : str, default "digit69"
    subject : str, default "1"
    field_strength : float, default 3.0
    image_size : int, optional
        Store images at this square side instead of their native 28 × 28.
    zscore : bool, default True
        Z-score each voxel with the training images' mean and sd (all rows);
        ``False`` keeps the responses as provided.

    Returns
    -------
    Crowd
        One subject with ``n_train + n_test`` rows (no repeats) and the digit
        images (uint8 RGB, greyscale repeated).
    """
    with open_digits(src, **kwargs) as source:
        return source.to_crowd()
