"""Natural Scenes Dataset (NSD), native release: single-trial betas, design file, 73k stimuli.

Files read, relative to the NSD root (the folder holding ``nsddata``,
``nsddata_betas`` and ``nsddata_stimuli``)::

    nsddata/experiments/nsd/nsd_expdesign.mat       MATLAB v5
        masterordering  (1, 30000)  1-based index into the 10000 images of a subject, per trial
        subjectim       (8, 10000)  1-based 73k id of each subject's images
        sharedix        (1, 1000)   1-based 73k ids of the shared1000 images
    nsddata_stimuli/stimuli/nsd/nsd_stimuli.hdf5     imgBrick (73000, 425, 425, 3) uint8 (h5py order)
    nsddata_betas/ppdata/subjNN/<space>/<betas>/     one file per session, 750 trials each:
        betas_sessionSS.hdf5      betas (750, Z, Y, X) int16 (h5py order = NIfTI axes reversed)
        betas_sessionSS.nii.gz    (X, Y, Z, 750) int16                  (space func1pt8mm / func1mm)
        {lh,rh}.betas_sessionSS.mgh  (163842, 1, 1, 750)                (space fsaverage)
    nsddata/ppdata/subjNN/<space>/roi/<roi>.nii.gz   (X, Y, Z) ROI volume: >0 inside, 0 outside, -1 off-brain
    nsddata/freesurfer/fsaverage/label/{lh,rh}.<roi>.mgz   (163842, 1, 1) for space fsaverage
    (optional) ROI label volumes prf-visualrois, floc-*, streams beside <roi>, with names from
    nsddata/freesurfer/<subjNN or fsaverage>/label/<class>.mgz.ctab
    (optional) nsddata/experiments/nsd/nsd_stim_info_merged.csv   one row per 73k image, columns
        ``nsdId`` (0-based 73k id) and ``cocoId`` (MS-COCO image id), among others

Sources: the NSD Data Manual, section "Experiments"
(https://cvnlab.slite.page/p/NKalgWd__F/Experiments: design and stimulus
files) and "Functional data" pages, and Allen et al. (2022). The design file
is MATLAB v5 with 1-based ``masterordering`` and ``subjectim``: the
Algonauts 2023 preparation script (gifale95/algonauts_2023) reads it with
``scipy.io.loadmat`` and subtracts 1 from both. Tests write the design with
``scipy.io.savemat`` and check these keys, shapes and 1-based indices; betas
and masks are written by nibabel (NIfTI/MGH) and h5py. Not confirmed here:
the manual's own statement of each variable's shape (taken from the files'
use in the NSD and challenge code).

Processing (Allen et al., 2022; the paper, Appendix B.1)
-------------------------------------------------------
1. Betas are int16 percent signal change × 300: divided by 300.
2. Each voxel is z-scored within each session (750 trials), ``zscore=True``.
3. Trials are grouped by image: one row per image with the **average of its
   repeats** (up to 3), and the single trials kept as ``repeats`` (NaN where an
   image was shown fewer times in the sessions read), so the noise ceiling can
   be estimated; each voxel's ``ncsnr`` (NSD definition, from those repeats) is
   added to the voxel table.
4. **Test split = shared1000** (``sharedix``): the images every subject saw.

Image ids are **0-based** NSD 73k ids (MATLAB's 1-based ids minus one), the
same ids the Algonauts reader uses. Images are read lazily from ``imgBrick``
and resized from 425 to 224 px.

Image keys (``image_key`` metadata, how a crowd store recognises one picture
across datasets): ``coco:<cocoId>`` when ``nsd_stim_info_merged.csv`` is
given (``stim_info=``) or lies at its place in the release, so that NSD
images meet the same COCO images of other datasets (BOLD5000, NOD); else
``nsd:<0-based 73k id>`` (the Algonauts reader's default key). The CSV's
columns ``nsdId`` and ``cocoId`` are documented in the NSD Data Manual
(https://cvnlab.slite.page/p/NKalgWd__F/Experiments); ``nsdId`` being 0-based
is taken from loaders that index the 73k brick by it (e.g. ``nsdId =
sharedix - 1``), not confirmed by the manual's text.

Memory: one session of betas inside the ROI is held at a time; z-scored trials
go to a temporary HDF5 file (deleted when the source is closed), from which
image blocks are gathered, so a full subject never sits in memory.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from brainembed.data.readers._base import (
    COCO,
    NSD,
    DatasetSource,
    ImageSource,
    MatFile,
    SubjectSource,
    check_finite_columns,
    image_keys,
    require_dir,
    require_file,
    resize_array,
    target_size,
)
from brainembed.errors import BrainembedError

__all__ = ["BETA_SCALE", "STIM_INFO", "coco_image_keys", "open_nsd", "read_nsd", "shared1000_ids",
           "trial_images"]

BETA_SCALE = 300.0
TRIALS_PER_SESSION = 750
N_FSAVERAGE = 163842
LABEL_CLASSES = ("prf-visualrois", "floc-bodies", "floc-faces", "floc-places", "floc-words", "streams")
#: Where the release keeps the 73k images' COCO ids, relative to the NSD root.
STIM_INFO = "nsddata/experiments/nsd/nsd_stim_info_merged.csv"
_SESSION = re.compile(r"^(?:(lh|rh)\.)?betas_session(\d+)\.(hdf5|nii\.gz|nii|mgh|mgz)$")


# --------------------------------------------------------------------------- design
def _expdesign(path) -> dict:
    with MatFile(path) as mat:
        missing = [k for k in ("masterordering", "subjectim", "sharedix") if k not in mat]
        if missing:
            raise BrainembedError(f"{mat.path} lacks {missing}; is it nsd_expdesign.mat?")
        design = {k: np.asarray(mat.get(k)) for k in ("masterordering", "subjectim", "sharedix")}
    for key in ("masterordering", "sharedix"):
        v = design[key]
        if v.ndim != 2 or 1 not in v.shape:
            raise BrainembedError(f"{path}: {key} must be a (1, n) vector, got shape {v.shape}.")
        design[key] = v.ravel()
    if design["subjectim"].ndim != 2:
        raise BrainembedError(f"{path}: subjectim must have shape (n_subjects, n_images), "
                              f"got {design['subjectim'].shape}.")
    for key, v in design.items():
        if not np.all(np.isfinite(v)) or not np.array_equal(v, np.round(v)) or (v < 1).any():
            raise BrainembedError(f"{path}: {key} must hold 1-based integer indices (MATLAB convention).")
        design[key] = v.astype(np.int64)
    if design["masterordering"].max() > design["subjectim"].shape[1]:
        raise BrainembedError(f"{path}: masterordering refers to image {design['masterordering'].max()} but "
                              f"subjectim has {design['subjectim'].shape[1]} images per subject.")
    return design


def shared1000_ids(expdesign) -> np.ndarray:
    """0-based 73k ids of the shared images (``sharedix`` of ``nsd_expdesign.mat``), sorted."""
    return np.sort(_expdesign(expdesign)["sharedix"] - 1)


def trial_images(expdesign, subject: int) -> np.ndarray:
    """0-based 73k id of the image shown on every trial of a subject, array of shape (n_trials,).

    ``subjectim[subject - 1, masterordering - 1] - 1`` (MATLAB's 1-based
    indices converted); trial ``t`` belongs to session ``t // 750 + 1``.
    """
    design = _expdesign(expdesign)
    if not 1 <= subject <= design["subjectim"].shape[0]:
        raise BrainembedError(f"{expdesign}: subject {subject} is not in subjectim "
                              f"(1..{design['subjectim'].shape[0]}).")
    return design["subjectim"][subject - 1, design["masterordering"] - 1] - 1


def coco_image_keys(stim_info, nsd_ids) -> np.ndarray:
    """``coco:<cocoId>`` keys of 0-based NSD 73k ids, read from ``nsd_stim_info_merged.csv``.

    Parameters
    ----------
    stim_info : path
        The CSV (columns ``nsdId`` and ``cocoId``).
    nsd_ids : array of shape (n_images,), int
        0-based 73k ids.

    Returns
    -------
    array of shape (n_images,), str (object dtype)
    """
    path = require_file(Path(stim_info), "NSD stimulus information")
    try:
        table = pd.read_csv(path, usecols=lambda c: c in ("nsdId", "cocoId"))
    except (ValueError, OSError, pd.errors.ParserError) as err:
        raise BrainembedError(f"{path} is not a readable CSV file ({str(err).splitlines()[0]}).") from None
    missing = [c for c in ("nsdId", "cocoId") if c not in table.columns]
    if missing:
        raise BrainembedError(f"{path} lacks the column(s) {missing}; is it nsd_stim_info_merged.csv?")
    if table.isna().any().any() or table["nsdId"].duplicated().any():
        raise BrainembedError(f"{path}: nsdId and cocoId must be complete, with each nsdId once.")
    coco = dict(zip(table["nsdId"].astype(np.int64), table["cocoId"].astype(np.int64)))
    nsd_ids = np.asarray(nsd_ids, dtype=np.int64)
    absent = [int(i) for i in nsd_ids if int(i) not in coco]
    if absent:
        raise BrainembedError(f"{path} has no row for NSD image {absent[0]} ({len(absent)} missing in all).")
    return image_keys(COCO, [coco[int(i)] for i in nsd_ids])


# --------------------------------------------------------------------------- ROI and betas files
def _read_ctab(path: Path) -> dict[int, str]:
    names = {}
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].lstrip("-").isdigit():
            names[int(parts[0])] = parts[1]
    return names


def _nib_load(path: Path):
    import nibabel as nib

    require_file(path)
    try:
        return nib.load(str(path), keep_file_open=True) if path.suffix == ".gz" or path.suffix == ".nii" \
            else nib.load(str(path))
    except Exception as err:  # nibabel raises several types for damaged files
        raise BrainembedError(f"{path} is not a readable NIfTI/MGH file ({err}).") from None


def _volume(path: Path, shape=None) -> np.ndarray:
    data = np.asarray(_nib_load(path).dataobj)
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise BrainembedError(f"{path} must be a 3-D volume, got shape {data.shape}.")
    if shape is not None and data.shape != tuple(shape):
        raise BrainembedError(f"{path} has shape {data.shape} but the ROI mask has shape {tuple(shape)}.")
    return data


def _surface(path: Path) -> np.ndarray:
    data = np.asarray(_nib_load(path).dataobj).reshape(-1)
    if data.shape != (N_FSAVERAGE,):
        raise BrainembedError(f"{path} must hold {N_FSAVERAGE} fsaverage vertices, got {data.shape[0]}.")
    return data


class _VolumeBetas:
    """Betas of one session inside a voxel mask, from the .hdf5 or NIfTI file."""

    def __init__(self, path: Path, index: tuple[np.ndarray, ...], grid: tuple[int, int, int], n_trials: int):
        self.path, self.index, self.grid, self.n_trials = path, index, grid, n_trials

    def read(self, block: int = 50) -> np.ndarray:
        """(n_trials, n_voxels) float32 in percent signal change."""
        i, j, k = self.index
        out = np.empty((self.n_trials, i.size), np.float32)
        if self.path.suffix == ".hdf5":
            import h5py

            try:
                f = h5py.File(self.path, "r")
            except OSError as err:
                raise BrainembedError(f"{self.path} is not a readable HDF5 file ({err}).") from None
            with f:
                if "betas" not in f:
                    raise BrainembedError(f"{self.path} has no 'betas' dataset.")
                ds = f["betas"]
                expected = (self.n_trials,) + tuple(reversed(self.grid))
                if ds.shape != expected:
                    raise BrainembedError(f"{self.path}: betas must have shape {expected} (trials, Z, Y, X), "
                                          f"got {ds.shape}.")
                for t in range(0, self.n_trials, block):
                    out[t:t + block] = ds[t:t + block][:, k, j, i]
        else:
            img = _nib_load(self.path)
            expected = tuple(self.grid) + (self.n_trials,)
            if tuple(img.shape) != expected:
                raise BrainembedError(f"{self.path}: betas must have shape {expected} (X, Y, Z, trials), "
                                      f"got {tuple(img.shape)}.")
            for t in range(0, self.n_trials, block):
                out[t:t + block] = np.asarray(img.dataobj[..., t:t + block])[i, j, k].T
        return out / np.float32(BETA_SCALE)


class _SurfaceBetas:
    """Betas of one session on fsaverage vertices (lh then rh)."""

    def __init__(self, paths: dict, vertices: dict, n_trials: int):
        self.paths, self.vertices, self.n_trials = paths, vertices, n_trials

    def read(self) -> np.ndarray:
        parts = []
        for hemi in ("lh", "rh"):
            path = self.paths[hemi]
            img = _nib_load(path)
            if tuple(img.shape) != (N_FSAVERAGE, 1, 1, self.n_trials):
                raise BrainembedError(f"{path}: betas must have shape ({N_FSAVERAGE}, 1, 1, {self.n_trials}), "
                                      f"got {tuple(img.shape)}.")
            data = np.asarray(img.dataobj).reshape(N_FSAVERAGE, self.n_trials)
            parts.append(data[self.vertices[hemi]].T.astype(np.float32))
        return np.concatenate(parts, axis=1) / np.float32(BETA_SCALE)


# --------------------------------------------------------------------------- trials store
class _TrialStore:
    """Z-scored single trials of one subject in a temporary HDF5 file, gathered by image."""

    def __init__(self, folder: Path, n_trials: int, n_voxels: int):
        import h5py

        self.folder = folder
        self._file = h5py.File(folder / "trials.h5", "w")
        self.trials = self._file.create_dataset("trials", shape=(n_trials, n_voxels), dtype=np.float32,
                                                chunks=(1, n_voxels))

    def gather(self, trial_rows: np.ndarray, n_repeats: int, rep_index: np.ndarray, image_pos: np.ndarray,
               n_images: int) -> np.ndarray:
        """Repeats of ``n_images`` images, array of shape (n_images, n_repeats, n_voxels), NaN-padded."""
        out = np.full((n_images, n_repeats, self.trials.shape[1]), np.nan, np.float32)
        if trial_rows.size:
            order = np.argsort(trial_rows)
            values = self.trials[trial_rows[order]]
            out[image_pos[order], rep_index[order]] = values
        return out

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        shutil.rmtree(self.folder, ignore_errors=True)


def _repeat_average(repeats: np.ndarray) -> np.ndarray:
    valid = np.isfinite(repeats)
    return (np.where(valid, repeats, 0.0).sum(axis=1) / np.maximum(valid.sum(axis=1), 1)).astype(np.float32)


# --------------------------------------------------------------------------- open
def _subject_name(subject) -> tuple[int, str]:
    text = str(subject).removeprefix("subj")
    if not text.isdigit() or int(text) < 1:
        raise BrainembedError(f"NSD subject must be a number 1..8 (or 'subj01'), got {subject!r}.")
    return int(text), f"subj{int(text):02d}"


def _session_files(folder: Path, space: str) -> dict[int, dict]:
    found: dict[int, dict] = {}
    for p in folder.iterdir():
        m = _SESSION.match(p.name)
        if m:
            hemi, session, ext = m.group(1), int(m.group(2)), m.group(3)
            entry = found.setdefault(session, {})
            if space == "fsaverage" and hemi:
                entry[hemi] = p
            elif space != "fsaverage" and not hemi and ext != "mgh" and ext != "mgz":
                entry.setdefault("hdf5" if ext == "hdf5" else "nifti", p)
    return {s: e for s, e in found.items() if e}


def open_nsd(src, *, subject=1, sessions=None, space: str = "func1pt8mm",
             betas: str = "betas_fithrf_GLMdenoise_RR", roi: str = "nsdgeneral", zscore: bool = True,
             trials_per_session: int = TRIALS_PER_SESSION, image_size: int | None = None,
             dataset: str = "NSD", stim_info=None, scratch=None, progress: bool = False) -> DatasetSource:
    """Open one NSD subject (see :func:`read_nsd`); z-scored trials are staged in ``scratch``."""
    root = require_dir(Path(src), "the NSD root holding nsddata, nsddata_betas and nsddata_stimuli")
    if stim_info is None and (root / STIM_INFO).is_file():
        stim_info = root / STIM_INFO
    number, name = _subject_name(subject)
    expdesign = require_file(root / "nsddata/experiments/nsd/nsd_expdesign.mat", "NSD design file")
    trial_ids = trial_images(expdesign, number)
    shared = shared1000_ids(expdesign)
    stimuli = require_file(root / "nsddata_stimuli/stimuli/nsd/nsd_stimuli.hdf5", "NSD stimuli")
    beta_dir = require_dir(root / "nsddata_betas/ppdata" / name / space / betas, f"{betas} betas of {name}")
    files = _session_files(beta_dir, space)
    if sessions is None:
        sessions = sorted(files)
        if not sessions:
            raise BrainembedError(f"{beta_dir} holds no betas_sessionNN files.")
    sessions = [int(s) for s in sessions]
    for s in sessions:
        entry = files.get(s, {})
        needed = ("lh", "rh") if space == "fsaverage" else ()
        if not entry or any(h not in entry for h in needed):
            raise BrainembedError(f"missing betas file for session {s} in {beta_dir}.")
        if s * trials_per_session > trial_ids.size:
            raise BrainembedError(f"session {s} is beyond the {trial_ids.size} trials in {expdesign}.")

    # voxels -------------------------------------------------------------------------
    if space == "fsaverage":
        label_dir = root / "nsddata/freesurfer/fsaverage/label"
        vertices, frames = {}, []
        for hemi in ("lh", "rh"):
            mask = _surface(label_dir / f"{hemi}.{roi}.mgz")
            vertices[hemi] = np.flatnonzero(mask > 0)
            frame = pd.DataFrame({"hemi": hemi, "vertex": vertices[hemi].astype(np.int64)})
            for cls in LABEL_CLASSES:
                path = label_dir / f"{hemi}.{cls}.mgz"
                ctab = label_dir / f"{cls}.mgz.ctab"
                if path.exists():
                    labels = _surface(path)[vertices[hemi]].astype(np.int64)
                    names = _read_ctab(ctab) if ctab.exists() else {}
                    frame[f"roi_{cls}"] = ["" if v <= 0 else names.get(int(v), str(int(v))) for v in labels]
            frames.append(frame)
        voxels = pd.concat(frames, ignore_index=True)
        if len(voxels) == 0:
            raise BrainembedError(f"the {roi} masks in {label_dir} select no vertices.")
        readers = {s: _SurfaceBetas(files[s], vertices, trials_per_session) for s in sessions}
    else:
        roi_dir = root / "nsddata/ppdata" / name / space / "roi"
        mask_path = roi_dir / f"{roi}.nii.gz"
        mask = _volume(mask_path)
        index = np.nonzero(mask > 0)
        if index[0].size == 0:
            raise BrainembedError(f"{mask_path} selects no voxels (no value > 0).")
        voxels = pd.DataFrame({"hemi": "none", "vertex": -1, "x": index[0].astype(np.int64),
                               "y": index[1].astype(np.int64), "z": index[2].astype(np.int64)})
        ctab_dir = root / "nsddata/freesurfer" / name / "label"
        for cls in LABEL_CLASSES:
            path = roi_dir / f"{cls}.nii.gz"
            if path.exists():
                labels = _volume(path, mask.shape)[index].astype(np.int64)
                ctab = ctab_dir / f"{cls}.mgz.ctab"
                names = _read_ctab(ctab) if ctab.exists() else {}
                voxels[f"roi_{cls}"] = ["" if v <= 0 else names.get(int(v), str(int(v))) for v in labels]
        for hemi_file, hemi in (("lh.nii.gz", "lh"), ("rh.nii.gz", "rh")):
            path = roi_dir / hemi_file
            if path.exists():
                inside = _volume(path, mask.shape)[index] > 0
                voxels.loc[inside, "hemi"] = hemi
        readers = {s: _VolumeBetas(files[s].get("hdf5") or files[s]["nifti"], index, mask.shape,
                                   trials_per_session) for s in sessions}
    roi_cols = [c for c in ("roi_prf-visualrois", "roi_floc-faces", "roi_floc-bodies", "roi_floc-places",
                            "roi_floc-words", "roi_streams") if c in voxels.columns]
    combined = np.full(len(voxels), roi, dtype=object)
    for col in reversed(roi_cols):
        values = voxels[col].to_numpy(dtype=object)
        combined = np.where(values != "", values, combined)
    voxels["roi"] = combined
    n_voxels = len(voxels)

    # trials -> rows -----------------------------------------------------------------
    trial_index = np.concatenate([np.arange((s - 1) * trials_per_session, s * trials_per_session)
                                  for s in sessions])
    shown = trial_ids[trial_index]
    ids, image_pos, counts = np.unique(shown, return_inverse=True, return_counts=True)
    order = np.argsort(image_pos, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rep_index = np.empty(shown.size, np.int64)
    rep_index[order] = np.arange(shown.size) - np.repeat(starts, counts)
    n_repeats = int(counts.max())
    split = np.where(np.isin(ids, shared), "test", "train")
    keys = coco_image_keys(stim_info, ids) if stim_info is not None else image_keys(NSD, ids)

    scratch_dir = Path(tempfile.mkdtemp(prefix="brainembed-nsd-", dir=scratch))
    store = _TrialStore(scratch_dir, trial_index.size, n_voxels)
    cleanup = [store.close]
    try:
        row = 0
        iterator = sessions
        if progress:
            from tqdm.auto import tqdm

            iterator = tqdm(sessions, desc=f"NSD {name} sessions", unit="session")
        for s in iterator:
            trials = readers[s].read()
            check_finite_columns(trials, f"betas of session {s} ({beta_dir})")
            if zscore:
                mean = trials.mean(axis=0, dtype=np.float64).astype(np.float32)
                std = trials.std(axis=0, dtype=np.float64).astype(np.float32)
                trials = (trials - mean) / np.where(std > 1e-6, std, np.inf).astype(np.float32)
            store.trials[row:row + trials.shape[0]] = trials
            row += trials.shape[0]
        # trial rows grouped by image: the trials of images start:stop are order[bounds[start]:bounds[stop]]
        bounds = np.concatenate([starts, [shown.size]])

        def gather(start, stop):
            rows = order[bounds[start]:bounds[stop]]
            return store.gather(rows, n_repeats, rep_index[rows], image_pos[rows] - start, stop - start)

        ncsnr = _ncsnr(gather, len(ids), n_voxels) if n_repeats >= 2 else np.zeros(n_voxels)
        voxels["ncsnr"] = ncsnr

        def read_rows(start, stop):
            repeats = gather(start, stop)
            return _repeat_average(repeats), repeats

        brick = _ImageBrick(stimuli, ids, image_size)
        cleanup.append(brick.close)
    except BaseException:
        for fn in reversed(cleanup):
            fn()
        raise
    metadata = pd.DataFrame({"dataset": dataset, "nsd_id": ids, "shared1000": np.isin(ids, shared),
                             "image_key": keys})
    subject_source = SubjectSource(
        dataset, str(number), ids, split, voxels, read_rows, n_repeats=n_repeats, field_strength=7.0,
        attrs={"source": "nsd", "space": space, "betas": betas, "roi": roi, "sessions": len(sessions),
               "zscore": "per session" if zscore else "none", "rows": "repeat averages",
               "test": "shared1000"})
    images = ImageSource(ids, brick.load, metadata)
    return DatasetSource([subject_source], images, {"source": "nsd", "src": str(root),
                                                    "image_ids": "nsd73k-0based"}, cleanup=cleanup)


def _ncsnr(gather, n_images: int, n_voxels: int, block: int = 256) -> np.ndarray:
    """NSD ncsnr per voxel accumulated over image blocks (same definition as ``ncsnr_from_repeats``)."""
    noise_sum = np.zeros(n_voxels)
    usable = np.zeros(n_voxels)
    total, total_sq, total_n = np.zeros(n_voxels), np.zeros(n_voxels), np.zeros(n_voxels)
    for start in range(0, n_images, block):
        reps = gather(start, min(start + block, n_images)).astype(np.float64)
        valid = np.isfinite(reps)
        cnt = valid.sum(axis=1)
        filled = np.where(valid, reps, 0.0)
        mean = filled.sum(axis=1) / np.maximum(cnt, 1)
        sq = (np.where(valid, reps - mean[:, None, :], 0.0) ** 2).sum(axis=1)
        ok = cnt >= 2
        noise_sum += np.where(ok, sq / np.maximum(cnt - 1, 1), 0.0).sum(axis=0)
        usable += ok.sum(axis=0)
        total += filled.sum(axis=(0, 1))
        total_sq += (filled ** 2).sum(axis=(0, 1))
        total_n += cnt.sum(axis=0)
    noise_var = noise_sum / np.maximum(usable, 1)
    total_var = (total_sq - total ** 2 / np.maximum(total_n, 1)) / np.maximum(total_n - 1, 1)
    signal_var = np.maximum(total_var - noise_var, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ncsnr = np.sqrt(signal_var) / np.sqrt(noise_var)
    return np.where((signal_var == 0.0) | (usable == 0), 0.0, ncsnr)


class _ImageBrick:
    """Lazy access to ``imgBrick`` of ``nsd_stimuli.hdf5`` for some 0-based ids."""

    def __init__(self, path: Path, ids: np.ndarray, image_size):
        import h5py

        try:
            self._file = h5py.File(path, "r")
        except OSError as err:
            raise BrainembedError(f"{path} is not a readable HDF5 file ({err}).") from None
        if "imgBrick" not in self._file:
            self._file.close()
            raise BrainembedError(f"{path} has no 'imgBrick' dataset.")
        ds = self._file["imgBrick"]
        if ds.ndim != 4 or ds.shape[3] != 3 or ds.dtype != np.uint8:
            self._file.close()
            raise BrainembedError(f"{path}: imgBrick must be (n_images, H, W, 3) uint8, got {ds.dtype} {ds.shape}.")
        if ids.size and ids.max() >= ds.shape[0]:
            self._file.close()
            raise BrainembedError(f"{path}: imgBrick has {ds.shape[0]} images but the design shows image "
                                  f"{int(ids.max())} (0-based).")
        self.path, self.ds, self.ids = path, ds, ids
        self.size = target_size([tuple(ds.shape[1:3])], image_size) or tuple(ds.shape[1:3])

    def load(self, positions) -> np.ndarray:
        positions = np.asarray(positions, dtype=np.int64)
        wanted = self.ids[positions]
        uniq, inverse = np.unique(wanted, return_inverse=True)
        out = np.zeros((uniq.size,) + tuple(self.size) + (3,), np.uint8)
        for lo in range(0, uniq.size, 32):  # 32 full-size (425 px) images at a time
            raw = self.ds[uniq[lo:lo + 32]]
            out[lo:lo + len(raw)] = [resize_array(img, self.size) for img in raw]
        return out[inverse]

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def read_nsd(src, **kwargs):
    """Read one NSD subject from the native release into a :class:`~brainembed.data.Crowd`.

    For full subjects prefer :func:`brainembed.pipeline.ingest.import_dataset`
    (``brainembed import --format nsd``), which streams into a store.

    Parameters
    ----------
    src : path
        The NSD root (holding ``nsddata``, ``nsddata_betas``, ``nsddata_stimuli``).
    subject : int or str, default 1
        1..8 or ``"subj01"``.
    sessions : list of int, optional
        Sessions to read (default: every ``betas_sessionNN`` file present).
    space : {"func1pt8mm", "func1mm", "fsaverage"}
        Betas space; volume spaces read ``.hdf5`` (preferred) or ``.nii.gz``.
    betas : str, default "betas_fithrf_GLMdenoise_RR"
        Betas version folder.
    roi : str, default "nsdgeneral"
        ROI mask selecting the voxels (values > 0).
    zscore : bool, default True
        Z-score each voxel within each session.
    trials_per_session : int, default 750
    image_size : int, optional
        Square side to store images at (default 224).
    dataset : str, default "NSD"
    stim_info : path, optional
        ``nsd_stim_info_merged.csv`` to key images by COCO id (default: the
        release's copy when present, else images are keyed by 73k id).
    scratch : path, optional
        Folder for the temporary trials file (default: the system temp folder).

    Returns
    -------
    Crowd
        One subject: one row per image (repeat averages), repeats kept,
        shared1000 images as the test split; voxel table with ``x, y, z``
        (voxel indices in the betas grid) or ``hemi, vertex`` (fsaverage),
        ROI labels and ``ncsnr``.
    """
    with open_nsd(src, **kwargs) as source:
        return source.to_crowd()
