"""BOLD5000 release 2.0 (Chang et al., 2019; GLMsingle betas, Prince et al., 2022): single-trial betas.

Files read, per subject ``CSI1`` ... ``CSI4``, searched anywhere under ``src``
(names as released on KiltHub/figshare, BOLD5000 v2.0 article 14456124, and
on OpenNeuro ds001499)::

    CSI1_GLMbetas-TYPED-FITHRF-GLMDENOISE-RR_ses-01.nii.gz ... ses-15   (X, Y, Z, n_trials of the session)
                                      one file per session (CSI4: 9 sessions), percent signal change
    CSI1_imgnames.txt                 one stimulus file name per trial, every session in order
                                      (line k = trial k of the sessions' betas concatenated)
    CSI1_brainmask.nii.gz             (X, Y, Z) brain mask on the betas grid (for roi="brain")
    sub-CSI1_mask-LHEarlyVis.nii.gz   (X, Y, Z) ROI masks, {LH,RH} x {EarlyVis, LOC, OPA, PPA, RSC}
                                      (OpenNeuro ds001499 derivatives/spm/sub-CSI1/; optional)

plus the folder of presented images (``images=``: ``BOLD5000_Stimuli/
Scene_Stimuli/Presented_Stimuli`` with ``COCO``, ``ImageNet`` and ``Scene``
subfolders), searched recursively by file name. Sources: the v2.0 release
notes (github.com/BOLD5000-dataset, "Naming scheme" table: one ``.nii.gz``
per session, ``CSIX_GLMbetas-TYPED-FITHRF-GLMDENOISE-RR_ses-XX.nii.gz``,
"recommended"); loaders that read the released files (brainio's
``chang2019.bold5000`` packaging: betas, ``CSI{n}_brainmask.nii.gz``,
``CSI{n}_imgnames.txt``, ROI mask names and session counts 15/15/15/9).

Conventions
-----------
- **Trials**: session ``s`` holds ``n_s`` trials (the 4th axis of its betas);
  ``imgnames`` line ``k`` is the image of trial ``k`` of the concatenation of
  every session, so its length must equal the total of all session files.
- **Responses**: each voxel is z-scored within each session (``zscore=True``),
  as the NSD reader does with the same GLMsingle betas. Rows: one per image,
  the **average of its trials**; the single trials are kept as ``repeats``
  (NaN-padded) and each voxel's NSD ``ncsnr`` is added to the voxel table.
- **Test split**: the images the subject was shown more than once in the
  whole ``imgnames`` list (BOLD5000's ~113 repeated images, shown up to 4
  times), whichever sessions are read: the images with repeats carry a noise
  ceiling, as NSD's shared1000 and GOD's test images do. A subject with no
  repeated image is an error.
- **Voxels**: ``roi="visual"`` (default) keeps the voxels of the union of the
  ROI masks found (EarlyVis, LOC, OPA, PPA, RSC, both hemispheres);
  ``roi="brain"`` the brain mask; a name or comma-separated names (``"PPA,OPA"``)
  those ROIs. Voxel table: ``x, y, z`` (indices in the betas grid), ``hemi``
  (``"lh"``/``"rh"`` from the LH/RH masks, else ``"none"``), ``roi`` (the first
  of EarlyVis, LOC, OPA, PPA, RSC the voxel is in, ``"other"`` if none),
  ``ncsnr``. Voxels with NaN or infinite betas are dropped with a warning.
- **Image ids**: ``image_key`` is ``coco:<id>`` for
  ``COCO_train2014_000000396550.jpg`` (id 396550), ``imagenet:<stem>`` for
  ``n01945685_2329.JPEG``, ``scene:<stem>`` for scene images (``concert5.jpg``);
  a leading ``rep_`` (the presentation lists' mark of repeated images) is
  dropped. The int64 id is the COCO id, the ImageNet ``synset * 1_000_000 +
  number`` (as the GOD reader), or a stable 62-bit hash of the key for scenes.

Not confirmed
-------------
- The betas' dtype and scale (percent signal change per the release notes;
  read with the NIfTI scaling applied; z-scoring makes it irrelevant).
- That ds001499's ROI masks share the GLMsingle betas' grid (checked: a mask of
  another shape is an error) and their exact names: ``LO``/``RRSC`` variants
  seen in some subjects are read as ``LOC``/``RSC``.
- Whether ``imgnames.txt`` ever carries the ``rep_`` prefix (it is dropped if so).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from brainembed.data.readers._base import (
    SCENE,
    DatasetSource,
    SubjectSource,
    file_image_source,
    image_key,
    key_id,
    require_dir,
    stimulus_image,
)
from brainembed.data.readers._trials import StagedTrials
from brainembed.errors import BrainembedError

__all__ = ["ROIS", "image_key", "open_bold5000", "read_bold5000"]

#: ROI masks of the release, in the order that fills ``roi``.
ROIS = ("EarlyVis", "LOC", "OPA", "PPA", "RSC")
_ROI_ALIASES = {"LO": "LOC", "RRSC": "RSC"}
_BETAS = re.compile(r"^(CSI\d+)_GLMbetas-TYPED-FITHRF-GLMDENOISE-RR_ses-(\d+)\.nii(?:\.gz)?$")
_MASK = re.compile(r"^sub-(CSI\d+)_mask-(LH|RH)(\w+)\.nii(?:\.gz)?$")


def stimulus_key(file_name: str) -> tuple[str, int, str]:
    """``(image_key, int64 id, source)`` of a BOLD5000 stimulus file name (``rep_`` prefix dropped)."""
    stem = Path(str(file_name).strip()).stem.removeprefix("rep_")
    known = stimulus_image(stem)
    if known is not None:
        return known[1], known[0], known[1].split(":", 1)[0]
    key = image_key(SCENE, stem)
    return key, key_id(key), SCENE


def _nib_load(path: Path):
    import nibabel as nib

    try:
        return nib.load(str(path))
    except Exception as err:  # nibabel raises several types for damaged files
        raise BrainembedError(f"{path} is not a readable NIfTI file ({err}).") from None


def _mask(path: Path, grid) -> np.ndarray:
    data = np.asarray(_nib_load(path).dataobj)
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.shape != tuple(grid):
        raise BrainembedError(f"{path} has shape {data.shape} but the betas have the grid {tuple(grid)}.")
    return data > 0


def _index(src: Path) -> dict[str, dict]:
    """Every subject's betas, imgnames, brain mask and ROI masks found under ``src``."""
    found: dict[str, dict] = {}
    for p in sorted(src.rglob("*")):
        if not p.is_file():
            continue
        if m := _BETAS.match(p.name):
            found.setdefault(m.group(1), {}).setdefault("betas", {})[int(m.group(2))] = p
        elif m := _MASK.match(p.name):
            roi = _ROI_ALIASES.get(m.group(3), m.group(3))
            found.setdefault(m.group(1), {}).setdefault("masks", {})[(m.group(2).lower(), roi)] = p
        elif p.name.endswith("_imgnames.txt") and p.name.startswith("CSI"):
            found.setdefault(p.name.removesuffix("_imgnames.txt"), {})["imgnames"] = p
        elif p.name.endswith("_brainmask.nii.gz") and p.name.startswith("CSI"):
            found.setdefault(p.name.removesuffix("_brainmask.nii.gz"), {})["brainmask"] = p
    return found


def _subjects(found: dict, src: Path, subjects) -> list[str]:
    have = sorted((s for s in found if found[s].get("betas")), key=lambda s: int(s[3:]))
    if not have:
        raise BrainembedError(f"{src} holds no CSI<n>_GLMbetas-TYPED-FITHRF-GLMDENOISE-RR_ses-NN.nii.gz files.")
    if subjects is None:
        return have
    chosen = []
    for s in subjects:
        text = str(s).removeprefix("sub-").removeprefix("CSI")
        name = f"CSI{int(text)}" if text.isdigit() else str(s)
        if name not in have:
            raise BrainembedError(f"subject {s!r} has no {name}_GLMbetas-TYPED-FITHRF-GLMDENOISE-RR files in {src}.")
        chosen.append(name)
    return chosen


def _voxels(name: str, entry: dict, grid, roi, src: Path):
    masks = entry.get("masks", {})
    if roi == "brain":
        if "brainmask" not in entry:
            raise BrainembedError(f"missing file {name}_brainmask.nii.gz under {src} (roi='brain').")
        inside = _mask(entry["brainmask"], grid)
    else:
        wanted = ROIS if roi == "visual" else \
            [r.strip() for r in roi.split(",")] if isinstance(roi, str) else [str(r) for r in roi]
        files = [p for (hemi, r), p in masks.items() if r in wanted]
        if not files:
            raise BrainembedError(f"no ROI mask sub-{name}_mask-<LH|RH><{'|'.join(wanted)}>.nii.gz under {src}.")
        inside = np.zeros(tuple(grid), dtype=bool)
        for p in files:
            inside |= _mask(p, grid)
    index = np.nonzero(inside)
    if index[0].size == 0:
        raise BrainembedError(f"the {roi} mask of {name} selects no voxels.")
    table = pd.DataFrame({"hemi": np.full(index[0].size, "none", dtype=object),
                          "vertex": np.full(index[0].size, -1, np.int64),
                          "x": index[0].astype(np.int64), "y": index[1].astype(np.int64),
                          "z": index[2].astype(np.int64)})
    label = np.full(index[0].size, "other", dtype=object)
    for r in reversed(ROIS):
        for hemi in ("lh", "rh"):
            if (hemi, r) in masks:
                sel = _mask(masks[(hemi, r)], grid)[index]
                label = np.where(sel, r, label)
                table.loc[sel, "hemi"] = hemi
    table["roi"] = label
    return index, table


def _read_session(path: Path, index, grid, block: int = 50) -> np.ndarray:
    img = _nib_load(path)
    if len(img.shape) != 4 or tuple(img.shape[:3]) != tuple(grid):
        raise BrainembedError(f"{path}: betas must have shape {tuple(grid)} + (n_trials,), got {tuple(img.shape)}.")
    i, j, k = index
    out = np.empty((img.shape[3], i.size), np.float32)
    for t in range(0, img.shape[3], block):
        out[t:t + block] = np.asarray(img.dataobj[..., t:t + block], dtype=np.float32)[i, j, k].T
    return out


def _open_subject(name, entry, src, sessions, roi, zscore, repeats, dataset, scratch):
    betas = entry["betas"]
    if "imgnames" not in entry:
        raise BrainembedError(f"missing file {name}_imgnames.txt under {src}.")
    numbers = sorted(betas)
    gaps = sorted(set(range(1, numbers[-1] + 1)) - set(numbers))
    if gaps:
        raise BrainembedError(f"missing betas file for session {gaps[0]} of {name} under {src}.")
    shapes = {}
    for s in numbers:
        shape = tuple(_nib_load(betas[s]).shape)
        if len(shape) != 4:
            raise BrainembedError(f"{betas[s]}: betas must have shape (X, Y, Z, n_trials), got {shape}.")
        shapes[s] = shape
    grid = shapes[numbers[0]][:3]
    for s in numbers:
        if shapes[s][:3] != grid:
            raise BrainembedError(f"{betas[s]} has the grid {shapes[s][:3]} but session {numbers[0]} has {grid}.")
    counts = np.array([shapes[s][3] for s in numbers])
    offsets = dict(zip(numbers, np.concatenate([[0], np.cumsum(counts)[:-1]])))
    lines = [line.strip() for line in entry["imgnames"].read_text().splitlines() if line.strip()]
    if len(lines) != counts.sum():
        raise BrainembedError(f"{entry['imgnames']} lists {len(lines)} trials but the {len(numbers)} betas files "
                              f"of {name} hold {int(counts.sum())}.")
    parsed = [stimulus_key(line) for line in lines]
    keys_all = np.array([p[0] for p in parsed], dtype=object)
    uniq, n_shown = np.unique(keys_all, return_counts=True)
    repeated = set(uniq[n_shown > 1])
    if not repeated:
        raise BrainembedError(f"{entry['imgnames']} shows no image more than once, so {name} has no test images "
                              "(the repeated images are the test split).")
    if sessions is None:
        sessions = numbers
    sessions = [int(s) for s in sessions]
    for s in sessions:
        if s not in betas:
            raise BrainembedError(f"missing betas file for session {s} of {name} under {src}.")

    index, voxels = _voxels(name, entry, grid, roi, src)
    trials = np.concatenate([np.arange(offsets[s], offsets[s] + shapes[s][3]) for s in sessions])
    keys = sorted(set(keys_all[trials]))
    key_pos = {k: i for i, k in enumerate(keys)}
    staged = StagedTrials(trials.size, index[0].size, f"{dataset} {name}", scratch)
    try:
        for s in sessions:
            staged.add_session(_read_session(betas[s], index, grid), zscore)
        n_repeats = staged.group(np.array([key_pos[k] for k in keys_all[trials]]), len(keys))
        voxels = voxels[staged.keep].reset_index(drop=True)
        voxels["ncsnr"] = staged.ncsnr(len(keys))
    except BaseException:
        staged.close()
        raise
    info = {p[0]: (line, p[1], p[2]) for line, p in zip(lines, parsed)}
    ids = np.array([info[k][1] for k in keys], dtype=np.int64)
    split = np.array(["test" if k in repeated else "train" for k in keys])
    source = SubjectSource(
        dataset, name, ids, split, voxels, lambda a, b: staged.read_rows(a, b, repeats),
        n_repeats=n_repeats if repeats else 0, field_strength=3.0,
        attrs={"source": "bold5000", "betas": "TYPED-FITHRF-GLMDENOISE-RR", "roi": str(roi),
               "sessions": len(sessions), "zscore": "per session" if zscore else "none",
               "rows": "repeat averages", "test": "images shown more than once"})
    return source, staged.close, {k: info[k] for k in keys}


def open_bold5000(src, *, images, subjects=None, sessions=None, roi="visual", zscore: bool = True,
                  repeats: bool = True, dataset: str = "BOLD5000", image_size: int | None = None,
                  scratch=None) -> DatasetSource:
    """Open BOLD5000 v2.0 subjects lazily (see :func:`read_bold5000`)."""
    if images is None:
        raise BrainembedError("BOLD5000 needs the folder of presented stimulus images (images=...).")
    image_root = require_dir(Path(images), "BOLD5000 presented stimuli")
    src = require_dir(Path(src), "the BOLD5000 release folder")
    found = _index(src)
    sources, cleanup, info = [], [], {}
    try:
        for name in _subjects(found, src, subjects):
            source, close, subject_info = _open_subject(name, found[name], src, sessions, roi, zscore, repeats,
                                                        dataset, scratch)
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
            line = info[k][0]
            path = index.get(line) or index.get(line.removeprefix("rep_"))
            if path is None:
                raise BrainembedError(f"missing image file {line.removeprefix('rep_')} in {image_root}.")
            files.append(path)
        ids = np.array([info[k][1] for k in keys], dtype=np.int64)
        metadata = pd.DataFrame({"dataset": dataset, "image_key": keys, "source": [info[k][2] for k in keys],
                                 "file": [str(f.relative_to(image_root)) for f in files]})
        image_source = file_image_source(ids, files, image_size, metadata)
    except BaseException:
        for fn in reversed(cleanup):
            fn()
        raise
    return DatasetSource(sources, image_source, {"source": "bold5000", "src": str(src),
                                                 "images": str(image_root)}, cleanup=cleanup)


def read_bold5000(src, **kwargs):
    """Read BOLD5000 v2.0 subjects into a :class:`~brainembed.data.Crowd`.

    Parameters
    ----------
    src : path
        Folder holding the release files (searched recursively).
    images : path
        Folder of the presented images (searched recursively by file name); required.
    subjects : list, optional
        ``1`` or ``"CSI1"`` (default: every subject with betas files).
    sessions : list of int, optional
        Sessions to read (default: all).
    roi : str or list of str, default "visual"
        ``"visual"`` (union of the ROI masks), ``"brain"`` or ROI name(s).
    zscore : bool, default True
        Z-score each voxel within each session.
    repeats : bool, default True
        Keep the single trials for noise ceilings.
    dataset : str, default "BOLD5000"
    image_size : int, optional
        Square side to store images at (default 224 for the mixed sizes).
    scratch : path, optional
        Folder for the temporary trials file.

    Returns
    -------
    Crowd
        Subjects ``BOLD5000:CSI1`` ...: one row per image (trial averages),
        single trials as repeats, repeated images as the test split, image
        metadata ``image_key``, ``source`` (coco, imagenet, scene), ``file``.
    """
    with open_bold5000(src, **kwargs) as source:
        return source.to_crowd()
