"""THINGS-fMRI (Hebart et al., 2023, eLife, "THINGS-data"): single-trial responses in table format.

Files read, per subject (``sub-01`` ... ``sub-03``), as released in the
``betas_csv`` folder (figshare+ doi:10.25452/figshare.plus.20492835; the
OpenNeuro THINGS-fMRI dataset's ``derivatives/betas_csv``)::

    sub-01_ResponseData.h5        pandas HDF5 (fixed format), key "ResponseData": one row per voxel,
                                  column "voxel_id" then one column per trial, labelled 0 .. n_trials-1
    sub-01_VoxelMetadata.csv      one row per voxel (same order): voxel_id, subject_id, voxel_x, voxel_y,
                                  voxel_z, nc_singletrial, nc_testset, splithalf_uncorrected,
                                  splithalf_corrected, prf-eccentricity, prf-polarangle, prf-rsquared,
                                  prf-size, dummy-coded (0/1) ROI columns V1 V2 V3 hV4 VO1 VO2 "LO1 (prf)"
                                  "LO2 (prf)" TO1 TO2 V3b V3a lEBA rEBA lFFA rFFA lOFA rOFA lSTS rSTS lPPA
                                  rPPA lRSC rRSC lTOS rTOS lLOC rLOC IT, and glasser-<area> columns
    sub-01_StimulusMetadata.csv   one row per trial, row i = response column i: trial_type ("train" or
                                  "test"), session, run, subject_id, trial_id, stimulus (image file name,
                                  e.g. dog_12s.jpg), concept

plus a folder of the THINGS images (``images=``), searched recursively for
each ``stimulus`` file name (the release keeps them in concept folders,
``dog/dog_12s.jpg``). Sources: the usage notebook of the release,
``MRI/notebooks/fmri_usage.ipynb`` of github.com/ViCCo-Group/THINGS-data
(file names, the three tables' columns, "rows are voxels, columns are
trials", catch trials excluded from the tables, 1200 test trials per
subject); the HDF5 key ``ResponseData`` with the trial values in a pandas
block (``block0_values``, voxels x trials) as third-party loaders read the
released file with h5py.

Conventions
-----------
- **Responses**: the released single-trial betas were estimated on run-wise
  z-scored time series (THINGS-data ``MRI/thingsmri/betas.py``,
  ``rescale_runwise_data="z"``) and are not themselves normalised. Each voxel
  is z-scored within each session (``zscore=True``; 12 sessions of 820
  trials), as the NSD and GOD readers do (the paper, Appendix B.1).
- **Rows**: one per image, the **average of its trials**; the single trials
  are kept as ``repeats`` (NaN-padded to 12: the 100 test images are shown
  once per session, the 8,640 training images once), so noise ceilings can be
  estimated; each voxel's NSD ``ncsnr`` is added to the voxel table. The
  repeats array is 12 times the responses in size; pass ``repeats=False`` to
  leave it out.
- **Test split**: the images of ``trial_type == "test"`` (THINGS' 100
  repeated images). An image listed both as train and test, or a subject
  without test trials, is an error.
- **Voxels**: ``roi="visual"`` (default) keeps the voxels of any retinotopic
  or category-selective ROI column listed above (:data:`VISUAL_ROIS`; the
  union is brainembed's choice, as ``ROI_VC`` is for GOD); ``roi="all"``
  keeps every voxel of the table (about 211,000: large); a column name or a
  comma-separated list of names keeps those. The voxel table holds ``x, y,
  z`` (``voxel_x/y/z``, voxel indices in the subject's T1w-space functional
  grid), ``voxel_id``, the reliability and pRF columns as released, ``roi``
  (the first of :data:`VISUAL_ROIS` the voxel belongs to, hemisphere prefix
  dropped: ``lFFA`` -> ``FFA``; ``"other"`` if none), ``glasser`` (the
  voxel's Glasser area, ``""`` if none) and ``hemi`` (``"lh"``/``"rh"`` for
  voxels of the l*/r* category ROIs, else ``"none"``: the table carries no
  hemisphere column and no affine).
- **Image ids**: ``image_key`` is ``things:<file stem>`` (``things:dog_12s``);
  the dataset-local int64 id is a stable 62-bit hash of that key
  (:func:`~brainembed.data.readers._base.key_id`), the same for every
  subject and import.

Not confirmed
-------------
- Whether the response column labels are integers or strings (both are read;
  integer labels make pandas pickle the column index, which is read here with
  an unpickler that admits numpy arrays only).
- The values' unit; it does not matter after z-scoring.
- Catch trials: the notebook says the tables exclude them; rows whose
  ``trial_type`` is neither ``train`` nor ``test`` are skipped if present.
"""

from __future__ import annotations

import io
import pickle
import re
from pathlib import Path

import numpy as np
import pandas as pd

from brainembed.data.readers._base import (
    THINGS,
    DatasetSource,
    SubjectSource,
    file_image_source,
    image_key,
    key_id,
    require_dir,
    require_file,
)
from brainembed.data.readers._trials import StagedTrials
from brainembed.errors import BrainembedError

__all__ = ["VISUAL_ROIS", "open_things", "read_frame_fixed", "read_things"]

#: Retinotopic and category-selective ROI columns of the voxel table, in the order that fills ``roi``.
VISUAL_ROIS = ("V1", "V2", "V3", "hV4", "VO1", "VO2", "LO1 (prf)", "LO2 (prf)", "TO1", "TO2", "V3b", "V3a",
               "lEBA", "rEBA", "lFFA", "rFFA", "lOFA", "rOFA", "lSTS", "rSTS", "lPPA", "rPPA", "lRSC", "rRSC",
               "lTOS", "rTOS", "lLOC", "rLOC", "IT")
#: Voxel-table columns kept as they are (numeric).
KEPT_COLUMNS = ("nc_singletrial", "nc_testset", "splithalf_uncorrected", "splithalf_corrected",
                "prf-eccentricity", "prf-polarangle", "prf-rsquared", "prf-size")
_SUBJECT = re.compile(r"^sub-(\w+?)_ResponseData\.h5$")
_NUMPY_GLOBALS = {("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "_reconstruct"),
                  ("numpy", "ndarray"), ("numpy", "dtype")}


def _image_key(stem: str) -> str:
    return image_key(THINGS, stem)


# --------------------------------------------------------------------------- pandas fixed-format HDF5
class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays of plain Python values and nothing else (no code can run)."""

    def find_class(self, module, name):
        if (module, name) in _NUMPY_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed")


def _labels(node, path) -> list:
    """Column labels stored by pandas: a string/number array, or a pickled object array (VLARRAY)."""
    if node.dtype.kind in "SU":
        return [v.decode() if isinstance(v, bytes) else str(v) for v in node[()]]
    if node.dtype.kind in "iuf":
        return node[()].tolist()
    try:
        raw = bytes(np.asarray(node[0], dtype=np.uint8))
        values = _NumpyOnlyUnpickler(io.BytesIO(raw)).load()
    except Exception as err:  # any damaged or foreign pickle
        raise BrainembedError(f"{path}: column labels {node.name} could not be read ({err}).") from None
    return [v.decode() if isinstance(v, bytes) else v for v in np.asarray(values).tolist()]


class FrameFixed:
    """Columns of a pandas DataFrame saved with ``to_hdf(..., format="fixed")``, read with h5py.

    pandas writes a frame as a group with ``axis0`` (column labels), ``axis1``
    (row labels) and, per dtype block ``i``, ``block<i>_items`` (its column
    labels) and ``block<i>_values`` (rows x its columns, transposed on disk by
    pandas so h5py sees (n_rows, n_columns)). Blocks are read in row and
    column slices without loading the frame.
    """

    def __init__(self, path: Path, key: str | None = None):
        import h5py

        self.path = require_file(Path(path))
        try:
            self._file = h5py.File(self.path, "r")
        except OSError as err:
            raise BrainembedError(f"{self.path} is not a readable HDF5 file ({err}).") from None
        try:
            frames = [k for k in self._file if "pandas_type" in self._file[k].attrs]
            if key is None:
                key = frames[0] if len(frames) == 1 else None
            if key not in frames:
                raise BrainembedError(f"{self.path} has no pandas frame {key or ''!s} (frames: "
                                      f"{', '.join(frames) or 'none'}).")
            group = self._file[key]
            kind = group.attrs["pandas_type"]
            kind = kind.decode() if isinstance(kind, bytes) else str(kind)
            if kind != "frame":
                raise BrainembedError(f"{self.path}: {key!r} is stored in pandas {kind!r} format; this reader "
                                      "reads the fixed format of the release (to_hdf(..., format='fixed')).")
            self.n_rows = int(group["axis1"].shape[0])
            self.labels = _labels(group["axis0"], self.path)
            self.columns: dict = {}
            self.blocks = []
            for i in range(int(group.attrs["nblocks"])):
                items = _labels(group[f"block{i}_items"], self.path)
                values = group[f"block{i}_values"]
                if values.shape != (self.n_rows, len(items)):
                    raise BrainembedError(f"{self.path}: block{i}_values must have shape ({self.n_rows}, "
                                          f"{len(items)}) (rows x columns), got {values.shape}.")
                self.blocks.append(values)
                for j, label in enumerate(items):
                    self.columns[label] = (i, j)
            if sorted(map(str, self.columns)) != sorted(map(str, self.labels)):
                raise BrainembedError(f"{self.path}: the blocks' columns differ from the frame's columns (axis0).")
        except BaseException:
            self.close()
            raise

    def column(self, label) -> np.ndarray:
        """One whole column, array of shape (n_rows,)."""
        block, j = self.columns[label]
        return np.asarray(self.blocks[block][:, j])

    def read(self, rows: np.ndarray, block: int, cols: np.ndarray, max_bytes: int = 1 << 26) -> np.ndarray:
        """``values[rows][:, cols]`` of one block, float32 (rows sorted), read in row slices of ``max_bytes``."""
        ds = self.blocks[block]
        rows = np.asarray(rows, dtype=np.int64)
        cols = np.asarray(cols, dtype=np.int64)
        lo, hi = int(cols.min()), int(cols.max()) + 1
        out = np.empty((rows.size, cols.size), np.float32)
        step = max(1, max_bytes // max(1, (hi - lo) * ds.dtype.itemsize))
        for r0 in range(0, self.n_rows, step):
            a, b = np.searchsorted(rows, [r0, r0 + step])
            if a == b:
                continue
            chunk = ds[r0:min(r0 + step, self.n_rows), lo:hi]
            out[a:b] = chunk[rows[a:b] - r0][:, cols - lo]
        return out

    def close(self) -> None:
        if getattr(self, "_file", None) is not None:
            self._file.close()
            self._file = None


def read_frame_fixed(path, key: str | None = None) -> pd.DataFrame:
    """A whole pandas fixed-format frame read with h5py (no PyTables); for small files and tests."""
    frame = FrameFixed(path, key)
    try:
        return pd.DataFrame({label: frame.column(label) for label in frame.labels})
    finally:
        frame.close()


# --------------------------------------------------------------------------- one subject
def _trial_number(label, path) -> int:
    text = str(label)
    if isinstance(label, (int, np.integer)) or text.isdigit():
        return int(text)
    raise BrainembedError(f"{path}: column {label!r} is neither 'voxel_id' nor a trial number.")


def _voxel_selection(vox: pd.DataFrame, roi, path) -> np.ndarray:
    if roi in (None, "all"):
        return np.ones(len(vox), dtype=bool)
    names = [c for c in VISUAL_ROIS if c in vox.columns] if roi == "visual" else \
        ([r.strip() for r in roi.split(",")] if isinstance(roi, str) else [str(r) for r in roi])
    if not names:
        raise BrainembedError(f"{path} has none of the visual ROI columns ({', '.join(VISUAL_ROIS[:4])} ...).")
    missing = [n for n in names if n not in vox.columns]
    if missing:
        raise BrainembedError(f"{path} has no ROI column {missing[0]!r}.")
    keep = (vox[names].to_numpy() == 1).any(axis=1)
    if not keep.any():
        raise BrainembedError(f"{path}: ROI {', '.join(names)} selects no voxels.")
    return keep


def _voxel_table(vox: pd.DataFrame, rows: np.ndarray) -> pd.DataFrame:
    sel = vox.iloc[rows].reset_index(drop=True)
    table = pd.DataFrame({"hemi": np.full(len(sel), "none", dtype=object), "vertex": np.full(len(sel), -1)})
    for axis in "xyz":
        table[axis] = sel[f"voxel_{axis}"].to_numpy(np.int64)
    table["voxel_id"] = sel["voxel_id"].to_numpy(np.int64) if "voxel_id" in sel else rows.astype(np.int64)
    for col in KEPT_COLUMNS:
        if col in sel:
            table[col] = sel[col].to_numpy(np.float64)
    label = np.full(len(sel), "other", dtype=object)
    for name in reversed([c for c in VISUAL_ROIS if c in sel]):
        inside = sel[name].to_numpy() == 1
        short = name.replace(" (prf)", "")
        if name[0] in "lr" and name[1:2].isupper():
            table.loc[inside, "hemi"] = "lh" if name[0] == "l" else "rh"
            short = name[1:]
        label = np.where(inside, short, label)
    table["roi"] = label
    glasser = [c for c in sel.columns if c.startswith("glasser-")]
    area = np.full(len(sel), "", dtype=object)
    for col in reversed(glasser):
        area = np.where(sel[col].to_numpy() == 1, col.removeprefix("glasser-"), area)
    table["glasser"] = area
    return table


def _subject_files(folder: Path, subjects) -> list[tuple[str, str]]:
    found = {m.group(1): m.group(1) for p in sorted(folder.iterdir()) if (m := _SUBJECT.match(p.name))}
    if not found:
        raise BrainembedError(f"{folder} holds no sub-XX_ResponseData.h5 files.")
    if subjects is None:
        return [(str(int(k)) if k.isdigit() else k, k) for k in found]
    chosen = []
    for s in subjects:
        text = str(s).removeprefix("sub-")
        tag = next((k for k in found if k == text or (k.isdigit() and text.isdigit() and int(k) == int(text))),
                   None)
        if tag is None:
            raise BrainembedError(f"subject {s!r} has no file sub-{text}_ResponseData.h5 in {folder}.")
        chosen.append((str(int(tag)) if tag.isdigit() else tag, tag))
    return chosen


def _open_subject(folder: Path, tag: str, roi, zscore: bool, repeats: bool, dataset: str, scratch):
    stim_path = require_file(folder / f"sub-{tag}_StimulusMetadata.csv", "THINGS stimulus metadata")
    vox_path = require_file(folder / f"sub-{tag}_VoxelMetadata.csv", "THINGS voxel metadata")
    resp_path = require_file(folder / f"sub-{tag}_ResponseData.h5", "THINGS single-trial responses")
    stim = pd.read_csv(stim_path)
    missing = [c for c in ("trial_type", "session", "stimulus") if c not in stim.columns]
    if missing:
        raise BrainembedError(f"{stim_path} has no column {missing[0]!r}.")
    vox = pd.read_csv(vox_path)
    missing = [c for c in ("voxel_x", "voxel_y", "voxel_z") if c not in vox.columns]
    if missing:
        raise BrainembedError(f"{vox_path} has no column {missing[0]!r}.")
    keep_vox = _voxel_selection(vox, roi, vox_path)

    frame = FrameFixed(resp_path)
    try:
        if frame.n_rows != len(vox):
            raise BrainembedError(f"{resp_path} has {frame.n_rows} voxel rows but {vox_path.name} lists "
                                  f"{len(vox)} voxels.")
        trial_labels = [c for c in frame.columns if c != "voxel_id"]
        numbers = np.array([_trial_number(c, resp_path) for c in trial_labels], dtype=np.int64)
        if not np.array_equal(np.sort(numbers), np.arange(len(stim))):
            raise BrainembedError(f"{resp_path} has {numbers.size} trial columns but {stim_path.name} lists "
                                  f"{len(stim)} trials (columns must be 0 .. {len(stim) - 1}).")
        blocks = {frame.columns[c][0] for c in trial_labels}
        if len(blocks) != 1:
            raise BrainembedError(f"{resp_path}: trial columns are stored in {len(blocks)} dtype blocks; "
                                  "they must share one dtype.")
        block = blocks.pop()
        position = np.empty(len(stim), np.int64)
        position[numbers] = [frame.columns[c][1] for c in trial_labels]
        if "voxel_id" in frame.columns and "voxel_id" in vox.columns and \
                not np.array_equal(frame.column("voxel_id"), vox["voxel_id"].to_numpy()):
            raise BrainembedError(f"{resp_path}: voxel_id differs from the voxel_id of {vox_path.name}.")

        kind = stim["trial_type"].astype(str).to_numpy()
        trials = np.flatnonzero(np.isin(kind, ("train", "test")))
        stems = np.array([Path(str(s)).stem for s in stim["stimulus"].to_numpy()], dtype=object)
        is_test = kind == "test"
        if not is_test[trials].any():
            raise BrainembedError(f"{stim_path} lists no test trials (trial_type 'test'); THINGS' repeated "
                                  "test images are the test split.")
        both = np.intersect1d(stems[trials][is_test[trials]], stems[trials][~is_test[trials]])
        if both.size:
            raise BrainembedError(f"{stim_path}: image {both[0]} is listed as both a train and a test trial.")
        sessions = pd.to_numeric(stim["session"], errors="coerce").to_numpy()
        if not np.all(np.isfinite(sessions[trials])):
            raise BrainembedError(f"{stim_path}: column 'session' must hold a number for every trial.")

        keys = sorted({_image_key(s) for s in stems[trials]})
        key_pos = {k: i for i, k in enumerate(keys)}
        vox_rows = np.flatnonzero(keep_vox)
        where = f"{dataset} sub-{tag}"
        staged = StagedTrials(trials.size, vox_rows.size, where, scratch)
        try:
            staged_order = []
            for s in np.unique(sessions[trials]):
                cols = trials[sessions[trials] == s]
                staged.add_session(frame.read(vox_rows, block, position[cols]).T, zscore)
                staged_order.append(cols)
            staged_order = np.concatenate(staged_order)
            n_repeats = staged.group(np.array([key_pos[_image_key(s)] for s in stems[staged_order]]), len(keys))
            voxels = _voxel_table(vox, vox_rows[staged.keep])
            voxels["ncsnr"] = staged.ncsnr(len(keys))
        except BaseException:
            staged.close()
            raise
    finally:
        frame.close()

    test_keys = {_image_key(s) for s in stems[trials][is_test[trials]]}
    split = np.array(["test" if k in test_keys else "train" for k in keys])
    ids = np.array([key_id(k) for k in keys], dtype=np.int64)
    files = {_image_key(s): str(f) for s, f in zip(stems[trials], stim["stimulus"].to_numpy()[trials])}
    concepts = dict(zip(stems[trials], stim["concept"].astype(str).to_numpy()[trials])) \
        if "concept" in stim.columns else {}
    source = SubjectSource(
        dataset, str(int(tag)) if tag.isdigit() else tag, ids, split, voxels,
        lambda a, b: staged.read_rows(a, b, repeats), n_repeats=n_repeats if repeats else 0,
        field_strength=3.0,
        attrs={"source": "things", "file": str(resp_path), "roi": str(roi),
               "zscore": "per session" if zscore else "none", "rows": "repeat averages",
               "test": "THINGS test images (trial_type == 'test')"})
    info = {k: (files[k], concepts.get(k.split(":", 1)[1], "")) for k in keys}
    return source, staged.close, info


def open_things(src, *, images, subjects=None, roi="visual", zscore: bool = True, repeats: bool = True,
                dataset: str = "THINGS", image_size: int | None = None, scratch=None) -> DatasetSource:
    """Open THINGS-fMRI subjects lazily (see :func:`read_things`)."""
    if images is None:
        raise BrainembedError("THINGS-fMRI needs the folder of THINGS images (images=...).")
    image_root = require_dir(Path(images), "THINGS images")
    folder = require_dir(Path(src), "the THINGS-fMRI betas_csv folder")
    if (folder / "betas_csv").is_dir():
        folder = folder / "betas_csv"
    sources, cleanup, info = [], [], {}
    try:
        for _, tag in _subject_files(folder, subjects):
            source, close, subject_info = _open_subject(folder, tag, roi, zscore, repeats, dataset, scratch)
            sources.append(source)
            cleanup.append(close)
            info.update(subject_info)
        keys = sorted(info)
        index = {}
        for p in image_root.rglob("*"):
            if p.is_file():
                index.setdefault(p.name, p)
        files = []
        for k in keys:
            name = Path(info[k][0]).name
            if name not in index:
                raise BrainembedError(f"missing image file {name} in {image_root}.")
            files.append(index[name])
        ids = np.array([key_id(k) for k in keys], dtype=np.int64)
        metadata = pd.DataFrame({"dataset": dataset, "image_key": keys, "concept": [info[k][1] for k in keys],
                                 "file": [str(f.relative_to(image_root)) for f in files]})
        image_source = file_image_source(ids, files, image_size, metadata)
    except BaseException:
        for fn in reversed(cleanup):
            fn()
        raise
    return DatasetSource(sources, image_source, {"source": "things", "src": str(folder),
                                                 "images": str(image_root)}, cleanup=cleanup)


def read_things(src, **kwargs):
    """Read THINGS-fMRI subjects into a :class:`~brainembed.data.Crowd`.

    For full subjects prefer ``brainembed import --format things``, which
    streams into a store.

    Parameters
    ----------
    src : path
        The ``betas_csv`` folder (or the folder holding it).
    images : path
        Folder of the THINGS images (searched recursively by file name); required.
    subjects : list, optional
        ``1``, ``"01"`` or ``"sub-01"`` (default: every ``sub-XX_ResponseData.h5``).
    roi : str or list of str, default "visual"
        ``"visual"``, ``"all"``, or voxel-table ROI column name(s) (comma-separated string or list).
    zscore : bool, default True
        Z-score each voxel within each session.
    repeats : bool, default True
        Keep the single trials (12 per test image) for noise ceilings.
    dataset : str, default "THINGS"
    image_size : int, optional
        Square side to store images at (default: native size if small and uniform, else 224).
    scratch : path, optional
        Folder for the temporary trials file.

    Returns
    -------
    Crowd
        Subjects ``THINGS:1`` ...: one row per image (trial averages), single
        trials as repeats, the 100 test images as the test split, image
        metadata ``image_key``, ``concept``, ``file``.
    """
    with open_things(src, **kwargs) as source:
        return source.to_crowd()
