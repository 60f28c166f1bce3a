"""Generic Object Decoding ("fMRI-on-ImageNet"; Horikawa & Kamitani, 2017), bdpy BData HDF5 files.

One file per subject (``Subject1.h5`` ... ``Subject5.h5``), written by bdpy::

    dataset or dataSet            (n_samples, n_columns) float64     one row per stimulus block
    metadata/key  (metaData/key)  (n_meta,) strings                 e.g. VoxelData, ROI_VC, voxel_x, Run,
                                                                    DataType, stimulus_id (or Label)
    metadata/description          (n_meta,) strings
    metadata/value                (n_meta, n_columns) float64      per column: 1 marks membership, NaN n/a

A column belongs to key ``K`` when ``metadata/value[K, column] == 1`` (voxel
columns: ``VoxelData``; ROI membership: ``ROI_V1`` ... ``ROI_VC``), while
coordinate keys (``voxel_x/y/z``) hold values on voxel columns. ``DataType`` is
1 for training, 2 for the perception test and 3 for imagery (ignored).
Stimulus labels ``<synset>.<image>`` are floats, e.g. ``1518878.005958`` for
the ImageNet file ``n01518878_5958.JPEG``.

Conventions
-----------
- Voxels: the columns of ``roi`` (default ``ROI_VC``, the ~4500 visual-cortex
  voxels the paper used); ``roi`` column = the first of V1, V2, V3, V4, LOC,
  FFA, PPA the voxel belongs to (``"other"`` if none); ``x, y, z`` from ``voxel_x/y/z`` (mm);
  ``hemi = "none"`` (the files carry no hemisphere label).
- Responses: each voxel z-scored within each run (``zscore=True``, paper
  Appendix B.1); training rows are single trials (or averages when an image
  was shown more than once); test rows are averages over the repeats, which
  are kept as ``repeats`` (NaN-padded).
- Image ids: ``synset * 1_000_000 + image`` (``1518878.005958`` →
  ``1518878005958``), shared across subjects. Images come from a folder the
  user points at (searched recursively for ``n01518878_5958.<ext>``, or named
  by ``imageID_training.csv`` / ``imageID_test.csv`` when present: lines
  ``1518878.005958,n01518878_5958.JPEG``); ImageNet images have various sizes
  and are centre-cropped and resized to 224 × 224.
- Image keys (``image_key``): ``imagenet:<file stem>`` of the image file found
  (``imagenet:n01518878_5958``), the ImageNet file name, so that other
  datasets' ImageNet images (BOLD5000, NOD) meet GOD's.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from brainembed.data.readers._base import (
    IMAGE_EXTENSIONS,
    IMAGENET,
    DatasetSource,
    SubjectSource,
    check_finite_columns,
    file_image_source,
    image_keys,
    require_dir,
    require_file,
)
from brainembed.errors import BrainembedError

__all__ = ["label_to_id", "open_god", "read_god", "read_bdata"]

ROI_ORDER = ("V1", "V2", "V3", "V4", "LOC", "FFA", "PPA")
_SUBJECT_FILE = re.compile(r"^Subject(\d+)\.h5$")


def label_to_id(label) -> np.ndarray:
    """Stimulus labels ``<synset>.<image>`` (floats) → int64 ids ``synset * 1e6 + image``."""
    label = np.asarray(label, dtype=np.float64)
    return np.rint(label * 1_000_000).astype(np.int64)


def id_to_filename_stem(image_id: int) -> str:
    """``1518878005958`` → ``"n01518878_5958"`` (the ImageNet file name without extension)."""
    synset, image = divmod(int(image_id), 1_000_000)
    return f"n{synset:08d}_{image}"


def read_bdata(path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Read a bdpy BData HDF5 file without bdpy.

    Returns
    -------
    dataset : array of shape (n_samples, n_columns), float64
    metadata : dict
        Key → value row, array of shape (n_columns,).
    """
    import h5py

    path = require_file(Path(path), "BData file")
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise BrainembedError(f"{path} is not a readable HDF5 file ({err}).") from None
    with f:
        data_key = next((k for k in ("dataset", "dataSet") if k in f), None)
        meta_key = next((k for k in ("metadata", "metaData") if k in f), None)
        if data_key is None or meta_key is None:
            raise BrainembedError(f"{path} is not a BData file (needs 'dataset' and 'metadata' entries, "
                                  f"has {sorted(f.keys())}).")
        meta = f[meta_key]
        for k in ("key", "value"):
            if k not in meta:
                raise BrainembedError(f"{path}: '{meta_key}/{k}' is missing.")
        data = np.asarray(f[data_key][()], dtype=np.float64)
        keys = [k.decode() if isinstance(k, bytes) else str(k) for k in meta["key"][()]]
        values = np.asarray(meta["value"][()], dtype=np.float64)
    if data.ndim != 2:
        raise BrainembedError(f"{path}: '{data_key}' must have shape (n_samples, n_columns), got {data.shape}.")
    if values.shape != (len(keys), data.shape[1]):
        raise BrainembedError(f"{path}: '{meta_key}/value' must have shape ({len(keys)}, {data.shape[1]}) "
                              f"(keys x columns), got {values.shape}.")
    return data, dict(zip(keys, values))


def _columns(meta: dict, key: str, path) -> np.ndarray:
    if key not in meta:
        raise BrainembedError(f"{path} has no metadata key {key!r}.")
    return np.flatnonzero(meta[key] == 1)


def _column(data, meta, key, path) -> np.ndarray:
    cols = _columns(meta, key, path)
    if cols.size != 1:
        raise BrainembedError(f"{path}: metadata key {key!r} must mark exactly one column, marks {cols.size}.")
    return data[:, cols[0]]


def _image_index(folder: Path) -> dict[str, Path]:
    index = {}
    for p in folder.rglob("*"):
        if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS:
            index.setdefault(p.stem, p)
            index.setdefault(p.name, p)
    for csv in folder.rglob("imageID_*.csv"):
        table = pd.read_csv(csv, header=None, names=["label", "file"], dtype={"label": str, "file": str})
        for label, name in zip(table["label"], table["file"]):
            if name in index:
                index.setdefault(str(int(label_to_id(float(label)))), index[name])
    return index


def _subject_files(src, subjects) -> list[tuple[str, Path]]:
    src = Path(src)
    if src.is_file():
        m = _SUBJECT_FILE.match(src.name)
        return [(str(int(m.group(1))) if m else src.stem, src)]
    require_dir(src, "the folder holding Subject1.h5 ... Subject5.h5")
    found = {str(int(m.group(1))): p for p in sorted(src.iterdir()) if (m := _SUBJECT_FILE.match(p.name))}
    if not found:
        raise BrainembedError(f"{src} holds no SubjectN.h5 BData files.")
    if subjects is None:
        return sorted(found.items(), key=lambda kv: int(kv[0]))
    chosen = []
    for s in subjects:
        key = str(s).removeprefix("Subject").removeprefix("sub-")
        key = str(int(key)) if key.isdigit() else key
        if key not in found:
            raise BrainembedError(f"subject {s!r} has no file Subject{key}.h5 in {src}.")
        chosen.append((key, found[key]))
    return chosen


def _subject(path: Path, roi: str, zscore: bool):
    from brainembed.data.preprocessing import group_repeats, zscore_runs

    data, meta = read_bdata(path)
    vox_key = roi if roi in meta else None
    if vox_key is None:
        raise BrainembedError(f"{path} has no metadata key {roi!r} (ROIs present: "
                              f"{', '.join(k for k in meta if k.startswith('ROI_')) or 'none'}).")
    cols = _columns(meta, vox_key, path)
    if cols.size == 0:
        raise BrainembedError(f"{path}: ROI {roi!r} selects no columns.")
    label_key = next((k for k in ("stimulus_id", "Label") if k in meta), None)
    if label_key is None:
        raise BrainembedError(f"{path} has no 'stimulus_id' (or 'Label') metadata key.")
    labels = _column(data, meta, label_key, path)
    dtype = _column(data, meta, "DataType", path)
    runs = _column(data, meta, "Run", path)
    keep = np.isin(dtype, (1, 2))
    if not (dtype == 1).any() or not (dtype == 2).any():
        raise BrainembedError(f"{path}: DataType must mark training (1) and perception test (2) samples.")
    if not np.all(np.isfinite(labels[keep])):
        raise BrainembedError(f"{path}: {label_key} has NaN for some training/test samples.")
    x = data[:, cols]
    check_finite_columns(x[keep], f"{path} ({roi} columns)")
    if zscore:
        run_key = np.char.add(dtype.astype(int).astype(str), np.char.add("-", runs.astype(int).astype(str)))
        x_keep = zscore_runs(x[keep], run_key[keep]).astype(np.float32)
    else:
        x_keep = x[keep].astype(np.float32)
    ids = label_to_id(labels[keep])
    is_test = dtype[keep] == 2
    parts = {}
    for name, sel in (("train", ~is_test), ("test", is_test)):
        img, reps = group_repeats(x_keep[sel], ids[sel])
        parts[name] = (img, reps.astype(np.float32))
    overlap = np.intersect1d(parts["train"][0], parts["test"][0])
    if overlap.size:
        raise BrainembedError(f"{path}: image {int(overlap[0])} is both a training and a test stimulus.")
    n_rep = max(p[1].shape[1] for p in parts.values())
    reps = np.full((sum(len(p[0]) for p in parts.values()), n_rep, cols.size), np.nan, np.float32)
    row = 0
    for img, r in parts.values():
        reps[row:row + len(img), :r.shape[1]] = r
        row += len(img)
    valid = np.isfinite(reps)
    responses = (np.where(valid, reps, 0.0).sum(axis=1) / valid.sum(axis=1)).astype(np.float32)
    image_ids = np.concatenate([parts["train"][0], parts["test"][0]]).astype(np.int64)
    split = np.array(["train"] * len(parts["train"][0]) + ["test"] * len(parts["test"][0]))
    voxels = pd.DataFrame({"hemi": np.full(cols.size, "none"), "vertex": np.full(cols.size, -1, np.int64)})
    for axis in ("x", "y", "z"):
        key = f"voxel_{axis}"
        if key in meta:
            voxels[axis] = meta[key][cols]
    label = np.full(cols.size, "other", dtype=object)
    for name in reversed(ROI_ORDER):
        key = f"ROI_{name}"
        if key in meta:
            label = np.where(meta[key][cols] == 1, name, label)
    voxels["roi"] = label
    return responses, reps if n_rep > 1 else None, image_ids, split, voxels


def open_god(src, *, images, subjects=None, roi: str = "ROI_VC", zscore: bool = True, repeats: bool = True,
             dataset: str = "GOD", image_size: int | None = None) -> DatasetSource:
    """Open Generic Object Decoding subjects (see :func:`read_god`)."""
    if images is None:
        raise BrainembedError("Generic Object Decoding needs the folder of stimulus images (images=...).")
    image_root = require_dir(Path(images), "Generic Object Decoding stimulus images")
    sources, all_ids = [], []
    for key, path in _subject_files(src, subjects):
        resp, reps, ids, split, voxels = _subject(path, roi, zscore)
        if not repeats:
            reps = None
        all_ids.append(ids)
        sources.append(SubjectSource(
            dataset, key, ids, split, voxels,
            (lambda a, b, r=resp, p=reps: (r[a:b], None if p is None else p[a:b])),
            n_repeats=0 if reps is None else reps.shape[1], field_strength=3.0,
            attrs={"source": "god", "file": str(path), "roi": roi,
                   "zscore": "per run" if zscore else "none"}))
    ids = np.unique(np.concatenate(all_ids))
    index = _image_index(image_root)
    files = []
    for i in ids:
        stem = id_to_filename_stem(i)
        found = index.get(str(int(i))) or index.get(stem)
        if found is None:
            raise BrainembedError(f"missing image file {stem}.* (stimulus {int(i) // 1_000_000}."
                                  f"{int(i) % 1_000_000:06d}) in {image_root}.")
        files.append(found)
    metadata = pd.DataFrame({"dataset": dataset, "synset": [id_to_filename_stem(i).split("_")[0] for i in ids],
                             "file": [str(f.relative_to(image_root)) for f in files],
                             "image_key": image_keys(IMAGENET, [f.stem for f in files])})
    return DatasetSource(sources, file_image_source(ids, files, image_size, metadata),
                         {"source": "god", "src": str(src), "images": str(image_root)})


def read_god(src, **kwargs):
    """Read Generic Object Decoding subjects into a :class:`~brainembed.data.Crowd`.

    Parameters
    ----------
    src : path
        A ``SubjectN.h5`` BData file or the folder holding several.
    images : path
        Folder with the ImageNet stimulus images (required).
    subjects : list of int, optional
        Subjects to read (default: every ``SubjectN.h5``).
    roi : str, default "ROI_VC"
        Metadata key selecting the voxel columns (``"VoxelData"`` for all).
    zscore : bool, default True
        Z-score each voxel within each run.
    repeats : bool, default True
        Keep the test repeats (35 per image in GOD).
    dataset : str, default "GOD"
    image_size : int, optional
        Square side to store images at (default 224).

    Returns
    -------
    Crowd
        Subjects ``GOD:1`` ...: training rows, then test rows (averaged
        repeats), ImageNet images with ``synset`` metadata.
    """
    with open_god(src, **kwargs) as source:
        return source.to_crowd()
