"""Algonauts 2023 challenge data: NSD responses on the fsaverage surface.

Layout of one subject folder (``subj01`` ... ``subj08``) as released::

    subj01/
      training_split/
        training_fmri/lh_training_fmri.npy     (n_train, n_lh) float32, z-scored per session, repeats averaged
        training_fmri/rh_training_fmri.npy     (n_train, n_rh)
        training_images/train-0001_nsd-00013.png ...   (425 x 425 RGB)
      test_split/
        test_images/test-0001_nsd-00845.png ...
        test_fmri/{lh,rh}_test_fmri.npy        optional (released after the challenge)
      roi_masks/
        {lh,rh}.all-vertices_fsaverage_space.npy    (163842,) 1 inside the challenge mask
        {lh,rh}.<class>_challenge_space.npy         (n_lh or n_rh,) integer ROI label per vertex, 0 = none
        {lh,rh}.<class>_fsaverage_space.npy         (163842,) the same on all of fsaverage (not needed)
        mapping_<class>.npy                          pickled dict {label: ROI name}
      with <class> in prf-visualrois, floc-bodies, floc-faces, floc-places, floc-words, streams.

Sources: the challenge paper (Gifford et al., 2023, arXiv:2301.03198) and
the script that wrote the released files, ``code/01_challenge_data_preparation/
challenge_data_preparation.py`` of github.com/gifale95/algonauts_2023: betas
z-scored per vertex within each NSD session, averaged over repeats, saved
with ``np.save`` as float32 (images x vertices); ``all-vertices`` and ROI
arrays saved as integers; ``mapping_<class>.npy`` is ``np.save`` of a dict (a
pickle); image files ``train-NNNN_nsd-NNNNN.png`` numbered in ascending order
of the 0-based 73k id (``np.unique``), the fMRI rows in the same order.

Conventions
-----------
- **Image ids** are NSD "73k" ids, **0-based**: the number after ``nsd-`` in
  the file name, used as is (the challenge names images by the 0-based 73KID,
  e.g. ``nsd-00013``; NSD's own MATLAB files count from 1, which the native
  reader converts). The same image seen by two subjects therefore has one id.
- **Vertices**: challenge vertex ``i`` of a hemisphere is fsaverage vertex
  ``np.flatnonzero(all_vertices)[i]``; columns are left hemisphere first.
- **Rows**: training images in the order of their ``train-NNNN`` index (the
  fMRI row order), then test images with released test fMRI.
- **Test split**: test images with released fMRI; plus training images whose
  NSD id is in ``test_ids`` (e.g. the shared1000 ids read from
  ``nsd_expdesign.mat``); without ``test_ids`` and with several subjects,
  training images seen by two or more of the imported subjects (in NSD these
  are exactly shared1000 images), as in the paper (test on shared images).
- **Image keys** (``image_key``): ``nsd:<0-based 73k id>``, the key the NSD
  reader gives when it has no ``nsd_stim_info_merged.csv``; pass that CSV as
  ``stim_info`` to key by COCO id instead (``coco:<cocoId>``), as the NSD
  reader does when it finds the CSV, so that both imports of one image meet.
- Responses are used as released (already z-scored per session and averaged
  over repeats); there are no single-trial repeats, so noise ceilings need
  NSD's own ncsnr files.

.. warning::
   The ``mapping_<class>.npy`` files are **pickles**: loading a pickle can run
   arbitrary code if the file was tampered with. They are loaded (with
   ``allow_pickle=True``) only from the ``roi_masks`` folder you point at and
   only those mapping files; every other ``.npy`` is loaded with pickles
   disabled. Pass ``rois=False`` to skip them entirely.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from brainembed.data.readers._base import (
    NSD,
    DatasetSource,
    NpyRows,
    SubjectSource,
    check_finite_columns,
    file_image_source,
    image_keys,
    require_dir,
    require_file,
)
from brainembed.errors import BrainembedError, BrainembedWarning

__all__ = ["ROI_CLASSES", "open_algonauts", "read_algonauts", "subject_folders"]

ROI_CLASSES = ("prf-visualrois", "floc-bodies", "floc-faces", "floc-places", "floc-words", "streams")
#: Order in which ROI classes fill the single ``roi`` column (the first non-empty label wins).
ROI_PRIORITY = ("prf-visualrois", "floc-faces", "floc-bodies", "floc-places", "floc-words", "streams")
N_FSAVERAGE = 163842
HEMIS = ("lh", "rh")
_TRAIN_NAME = re.compile(r"^train-(\d+)_nsd-(\d+)\.png$")
_TEST_NAME = re.compile(r"^test-(\d+)_nsd-(\d+)\.png$")
_SUBJECT_DIR = re.compile(r"^subj(\d+)$")


def subject_folders(src, subjects=None) -> list[tuple[str, Path]]:
    """The ``(subject id, folder)`` pairs to read under ``src``.

    ``src`` is one subject folder (``.../subj01``) or the folder holding
    ``subj01``, ``subj02``, ...; ``subjects`` picks some (``1``, ``"01"`` or
    ``"subj01"``). Subject ids are the numbers without leading zeros (``"1"``).
    """
    src = require_dir(Path(src), "an Algonauts 2023 subject folder or the folder holding subjNN folders")
    match = _SUBJECT_DIR.match(src.name)
    if match and (src / "training_split").exists():
        found = {str(int(match.group(1))): src}
    else:
        found = {str(int(m.group(1))): p for p in sorted(src.iterdir())
                 if p.is_dir() and (m := _SUBJECT_DIR.match(p.name))}
    if not found:
        raise BrainembedError(f"{src} holds no Algonauts subject folder (subj01, subj02, ...).")
    if subjects is None:
        return sorted(found.items(), key=lambda kv: int(kv[0]))
    chosen = []
    for s in subjects:
        key = str(s).removeprefix("subj")
        key = str(int(key)) if key.isdigit() else key
        if key not in found:
            names = ", ".join(found[k].name for k in sorted(found, key=int))
            raise BrainembedError(f"subject {s!r} is not in {src} (found {names}).")
        chosen.append((key, found[key]))
    return chosen


def _load_npy(path: Path, what: str, rows: bool = False):
    require_file(path, what)
    if rows:
        return NpyRows(path)  # responses: read block by block, never all at once
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as err:  # pickled or malformed
        raise BrainembedError(f"{path} is not a plain numeric .npy array ({err}).") from None
    except OSError as err:
        raise BrainembedError(f"{path} could not be read ({err}).") from None


def load_roi_mapping(path: Path) -> dict[int, str]:
    """Read a pickled ``mapping_<class>.npy`` file: {integer label: ROI name}.

    .. warning:: The file is a pickle; loading it can execute code if it was
       tampered with. Only load mapping files from a trusted download.
    """
    require_file(path, "ROI label mapping")
    try:
        obj = np.load(path, allow_pickle=True)  # a pickle by the challenge's design; see module warning
        mapping = obj.item() if isinstance(obj, np.ndarray) and obj.dtype == object and obj.shape == () else obj
    except Exception as err:  # noqa: BLE001 - any unpickling failure is a bad file
        raise BrainembedError(f"{path} is not a readable ROI mapping ({err}).") from None
    if not isinstance(mapping, dict):
        raise BrainembedError(f"{path} must hold a dict of label -> ROI name, got {type(mapping).__name__}.")
    try:
        return {int(k): str(v) for k, v in mapping.items()}
    except (TypeError, ValueError):
        raise BrainembedError(f"{path}: ROI mapping keys must be integer labels.") from None


def _list_images(folder: Path, pattern: re.Pattern, kind: str) -> tuple[np.ndarray, list[Path]]:
    """NSD ids and files of ``<kind>-NNNN_nsd-NNNNN.png`` images, ordered by their 1-based index."""
    require_dir(folder, f"{kind} images")
    entries = []
    for p in folder.iterdir():
        m = pattern.match(p.name)
        if m:
            entries.append((int(m.group(1)), int(m.group(2)), p))
        elif p.suffix.lower() == ".png":
            raise BrainembedError(f"image file {p} is not named like {kind}-0001_nsd-00013.png.")
    entries.sort()
    index = np.array([e[0] for e in entries], dtype=np.int64)
    if not np.array_equal(index, np.arange(1, len(entries) + 1)):
        missing = sorted(set(range(1, len(entries) + 1)) - set(index.tolist()))
        detail = f"index {missing[0]} is missing" if missing else "an index is repeated"
        raise BrainembedError(f"{folder}: {kind} image indices must run 1..{len(entries)} ({detail}).")
    return np.array([e[1] for e in entries], dtype=np.int64), [e[2] for e in entries]


class _Subject:
    """Everything read from one subject folder except the response values."""

    def __init__(self, subject: str, folder: Path, rois: bool):
        self.subject, self.folder = subject, folder
        train = folder / "training_split"
        self.train_ids, self.train_files = _list_images(train / "training_images", _TRAIN_NAME, "train")
        self.fmri = {}
        n_cols = {}
        for hemi in HEMIS:
            path = train / "training_fmri" / f"{hemi}_training_fmri.npy"
            arr = _load_npy(path, f"{hemi} training fMRI", rows=True)
            if arr.ndim != 2 or arr.dtype.kind != "f":
                raise BrainembedError(f"{path} must be a float array of shape (n_images, n_vertices), "
                                      f"got {arr.dtype} {arr.shape}.")
            if arr.shape[0] != len(self.train_ids):
                raise BrainembedError(f"{path} has {arr.shape[0]} rows but there are {len(self.train_ids)} "
                                      f"training images.")
            self.fmri[hemi] = [(arr, path)]
            n_cols[hemi] = arr.shape[1]
        self.test_ids, self.test_files = np.zeros(0, np.int64), []
        test_images = folder / "test_split" / "test_images"
        test_fmri = folder / "test_split" / "test_fmri"
        if test_images.is_dir():
            self.test_ids, self.test_files = _list_images(test_images, _TEST_NAME, "test")
        self.has_test_fmri = test_fmri.is_dir()
        if self.has_test_fmri:
            for hemi in HEMIS:
                path = test_fmri / f"{hemi}_test_fmri.npy"
                arr = _load_npy(path, f"{hemi} test fMRI", rows=True)
                if arr.ndim != 2 or arr.shape != (len(self.test_ids), n_cols[hemi]):
                    raise BrainembedError(f"{path} must have shape ({len(self.test_ids)}, {n_cols[hemi]}) "
                                          f"(test images x {hemi} vertices), got {arr.shape}.")
                self.fmri[hemi].append((arr, path))
        self.voxels = self._voxels(folder / "roi_masks", n_cols, rois)

    def _voxels(self, masks: Path, n_cols: dict, rois: bool) -> pd.DataFrame:
        require_dir(masks, "roi_masks with the fsaverage vertex masks")
        frames = []
        mappings = {}
        for hemi in HEMIS:
            path = masks / f"{hemi}.all-vertices_fsaverage_space.npy"
            mask = _load_npy(path, "challenge vertex mask")
            if mask.shape != (N_FSAVERAGE,):
                raise BrainembedError(f"{path} must have shape ({N_FSAVERAGE},) (fsaverage vertices), "
                                      f"got {mask.shape}.")
            vertices = np.flatnonzero(mask)
            if vertices.size != n_cols[hemi]:
                raise BrainembedError(f"{path} marks {vertices.size} vertices but {hemi}_training_fmri.npy has "
                                      f"{n_cols[hemi]} columns.")
            frame = pd.DataFrame({"hemi": hemi, "vertex": vertices.astype(np.int64),
                                  "challenge_index": np.arange(vertices.size, dtype=np.int64)})
            if rois:
                for cls in ROI_CLASSES:
                    path = masks / f"{hemi}.{cls}_challenge_space.npy"
                    if not path.exists():
                        continue
                    labels = _load_npy(path, f"{cls} ROI labels")
                    if labels.shape != (vertices.size,):
                        raise BrainembedError(f"{path} must have shape ({vertices.size},) (challenge vertices of "
                                              f"{hemi}), got {labels.shape}.")
                    if labels.dtype.kind not in "iuf" or not np.all(np.isfinite(labels)) or \
                            not np.array_equal(labels, np.round(labels)):
                        raise BrainembedError(f"{path} must hold integer ROI labels.")
                    if cls not in mappings:
                        mappings[cls] = load_roi_mapping(masks / f"mapping_{cls}.npy")
                    names = mappings[cls]
                    unknown = sorted(set(np.unique(labels).astype(int).tolist()) - set(names) - {0})
                    if unknown:
                        raise BrainembedError(f"{path} uses label(s) {unknown} that mapping_{cls}.npy does not name.")
                    frame[f"roi_{cls}"] = [("" if int(v) == 0 else names[int(v)]) for v in labels]
            frames.append(frame)
        voxels = pd.concat(frames, ignore_index=True)
        roi = np.full(len(voxels), "other", dtype=object)
        for cls in reversed(ROI_PRIORITY):
            col = f"roi_{cls}"
            if col in voxels.columns:
                values = voxels[col].to_numpy(dtype=object)
                roi = np.where(values != "", values, roi)
        voxels["roi"] = roi
        return voxels

    @property
    def n_train(self) -> int:
        return len(self.train_ids)

    def row_ids(self) -> np.ndarray:
        return np.concatenate([self.train_ids, self.test_ids]) if self.has_test_fmri else self.train_ids

    def read_rows(self, start: int, stop: int):
        blocks = []
        for hemi in HEMIS:
            parts = []
            for part, (arr, path) in enumerate(self.fmri[hemi]):
                offset = 0 if part == 0 else self.n_train
                lo, hi = max(start - offset, 0), min(stop - offset, arr.shape[0])
                if hi > lo:
                    block = np.asarray(arr[lo:hi], dtype=np.float32)
                    check_finite_columns(block, str(path))
                    parts.append(block)
            blocks.append(np.concatenate(parts) if len(parts) > 1 else parts[0])
        return np.concatenate(blocks, axis=1), None


def _shared1000(test_ids) -> np.ndarray | None:
    if test_ids is None:
        return None
    if isinstance(test_ids, (str, Path)):
        from brainembed.data.readers.nsd import shared1000_ids

        return shared1000_ids(test_ids)
    return np.asarray(test_ids, dtype=np.int64).ravel()


def open_algonauts(src, *, subjects=None, test_ids=None, shared_test: bool = True, rois: bool = True,
                   dataset: str = "NSD", image_size: int | None = None, stim_info=None) -> DatasetSource:
    """Open Algonauts 2023 subjects lazily (see :func:`read_algonauts`)."""
    folders = subject_folders(src, subjects)
    subs = [_Subject(key, folder, rois) for key, folder in folders]
    explicit = _shared1000(test_ids)
    seen_by = pd.Series(np.concatenate([np.unique(s.row_ids()) for s in subs])).value_counts()
    shared = np.asarray(seen_by.index[seen_by.to_numpy() >= 2], dtype=np.int64) \
        if shared_test and explicit is None and len(subs) > 1 else np.zeros(0, np.int64)
    test_pool = explicit if explicit is not None else shared
    files: dict[int, Path] = {}
    sources = []
    for s in subs:
        ids = s.row_ids()
        split = np.where(np.isin(s.train_ids, test_pool), "test", "train")
        if s.has_test_fmri:
            split = np.concatenate([split, np.full(len(s.test_ids), "test")])
        for i, f in zip(s.train_ids, s.train_files):
            files.setdefault(int(i), f)
        if s.has_test_fmri:
            for i, f in zip(s.test_ids, s.test_files):
                files.setdefault(int(i), f)
        if not (split == "test").any():
            warnings.warn(f"Algonauts subject {s.subject} has no test images: pass test_ids (e.g. the path of "
                          "nsd_expdesign.mat for shared1000) or import several subjects together.",
                          BrainembedWarning, stacklevel=2)
        sources.append(SubjectSource(
            dataset, s.subject, ids, split, s.voxels, s.read_rows, field_strength=7.0,
            attrs={"source": "algonauts2023", "folder": str(s.folder), "space": "fsaverage",
                   "preprocessing": "z-scored per session, repeats averaged (as released)"}))
    ids = np.array(sorted(files), dtype=np.int64)
    if stim_info is not None:
        from brainembed.data.readers.nsd import coco_image_keys

        keys = coco_image_keys(stim_info, ids)
    else:
        keys = image_keys(NSD, ids)
    metadata = pd.DataFrame({"dataset": dataset, "nsd_id": ids,
                             "shared": np.isin(ids, test_pool) if test_pool.size else False, "image_key": keys})
    images = file_image_source(ids, [files[int(i)] for i in ids], image_size, metadata)
    return DatasetSource(sources, images, {"source": "algonauts2023", "src": str(src), "image_ids": "nsd73k-0based"})


def read_algonauts(src, **kwargs):
    """Read Algonauts 2023 subjects into a :class:`~brainembed.data.Crowd`.

    For full NSD-sized subjects prefer :func:`brainembed.pipeline.ingest.import_dataset`
    (``brainembed import --format algonauts``), which streams into a store.

    Parameters
    ----------
    src : path
        A ``subjNN`` folder or the folder holding several; layout in the module docstring.
    subjects : list of int or str, optional
        Subjects to read (default: all found).
    test_ids : array-like of int or path, optional
        0-based NSD ids of test images, or the path of ``nsd_expdesign.mat``
        (its ``sharedix``, the shared1000 images).
    shared_test : bool, default True
        Without ``test_ids``, make images seen by two or more of the read
        subjects their test split.
    rois : bool, default True
        Read the ROI label files (this loads the pickled ``mapping_*.npy``
        files; see the module warning).
    dataset : str, default "NSD"
    image_size : int, optional
        Square side to store images at (default 224, as the 425 px images
        exceed 256 px).
    stim_info : path, optional
        NSD's ``nsd_stim_info_merged.csv``: key images ``coco:<cocoId>``
        (default ``nsd:<73k id>``).

    Returns
    -------
    Crowd
        Subjects ``NSD:1`` ...; voxels with ``hemi``, ``vertex`` (fsaverage),
        ``challenge_index``, ``roi_<class>`` columns (``""`` outside the
        class's ROIs) and a combined ``roi``: the first label found in
        prf-visualrois, floc-faces, floc-bodies, floc-places, floc-words,
        streams, else ``"other"``.
    """
    with open_algonauts(src, **kwargs) as source:
        return source.to_crowd()
