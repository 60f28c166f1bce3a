"""Natural Object Dataset (NOD; Gong et al., 2023): per-run beta maps on the fsLR-32k surface (CIFTI-2).

NOD (OpenNeuro ds004496) holds 3T responses of 30 subjects to 57,120 images:
every subject saw ImageNet images (subjects 1-9: 4,000; subjects 10-30:
1,000), each once; subjects 1-9 also saw 120 COCO images, each once in every
run of the COCO session (10 runs for subject 1, 11 for subjects 2-9, the count
MOSAIC's preprocessing found). Layout read here, as released::

    <root>/
      sub-01/ses-imagenet01/func/sub-01_ses-imagenet01_task-imagenet_run-01_events.tsv
      sub-01/ses-coco/func/sub-01_ses-coco_task-coco_run-01_events.tsv
      derivatives/ciftify/sub-01/results/ses-imagenet01_task-imagenet_run-1/
          ses-imagenet01_task-imagenet_run-1_beta.dscalar.nii      (n_trials maps x 59412 grayordinates)
      derivatives/ciftify/sub-01/results/ses-coco_task-coco_run-1/ses-coco_task-coco_run-1_beta.dscalar.nii
      stimuli/...                                                  the image files (found by file stem)

Sources: the dataset's code, ``validation/GLM.py`` and ``validation/nod_utils.py``
of https://github.com/BNUCNL/NOD-fmri (the beta files, their folder and file
names with the run number unpadded, ``save2cifti`` writing one named map per
trial with the two cortex brain models of the fsLR-32k template, 59412
grayordinates, and map names the base names of the events' ``stim_file``);
the events columns (``stim_file``; ``condition`` in the COCO runs of subjects
2-9) from MOSAIC's ``extract_nod_stiminfo.py`` and ``glmsingle_nod.py``
(https://github.com/blahner/mosaic-preprocessing); the paper:
https://www.nature.com/articles/s41597-023-02471-x.

Conventions
-----------
- **Rows** are images; each trial's stimulus is the beta map's name (the CIFTI
  ScalarAxis name of that row). When the maps carry no image names, the run's
  events file names them, trial by trial in file order (blank trials, whose
  stimulus column is ``n/a``, skipped). When both exist they must name the same
  images.
- **Responses**: the released GLM betas, each vertex z-scored within each run
  (``zscore=True``; NOD's own encoding code z-scores run blocks too), then
  averaged over an image's trials. The single trials of repeated images are
  kept as ``repeats`` (NaN-padded) only with ``repeats=True``: ImageNet images
  have one trial, so the repeats array is mostly padding.
- **Test split**: NOD defines none. Here the COCO images -- repeated in every
  COCO run and shared by subjects 1-9 -- are the test split, the ImageNet
  images (shown once) training. Subjects 10-30 saw no COCO image, so importing
  them needs ``test_images`` (ImageNet file stems to hold out); a subject left
  without test images is an error.
- **Vertices**: the CIFTI brain models ``CIFTI_STRUCTURE_CORTEX_LEFT/RIGHT``
  (32492 vertices per hemisphere, medial wall excluded); the voxel table has
  ``hemi`` (lh/rh), ``vertex`` (fsLR-32k vertex index) and ``space``
  (``"fsLR32k"``). Other brain models (subcortical voxels) are left out. No ROI
  labels are released with the betas.
- **Image ids**: ImageNet ``n01440764_10026`` -> ``1440764 * 10**6 + 10026``
  (the scheme of the GOD reader, so the same file has the same id); COCO
  ``000000007665`` -> ``7665`` (the COCO image id; below 10**6, so the two never
  meet). ``image_key``: ``imagenet:n01440764_10026`` / ``coco:7665``.

Not confirmed: the map names and row order of the released COCO beta files
(NOD's GLM code for them is inconsistent: it sorts the trial labels); a COCO
image is named by the map name when it is one, else by the events in trial
order. Whether ImageNet images recur across sessions: if they do, their trials
are averaged like the COCO repeats.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pandas as pd

from brainembed.data.readers._base import (
    DatasetSource,
    SubjectSource,
    check_finite_columns,
    file_image_source,
    find_image_files,
    require_dir,
    require_file,
    stimulus_image,
    zscore_columns,
)
from brainembed.errors import BrainembedError

__all__ = ["N_FSLR32K", "open_nod", "read_nod", "stimulus_key"]

#: Vertices per hemisphere of the fsLR-32k mesh.
N_FSLR32K = 32492
CORTEX = {"CIFTI_STRUCTURE_CORTEX_LEFT": "lh", "CIFTI_STRUCTURE_CORTEX_RIGHT": "rh"}
_RUN_DIR = re.compile(r"^(ses-[A-Za-z0-9]+)_task-(imagenet|coco)_run-(\d+)$")
_SUBJECT_DIR = re.compile(r"^sub-(\d+)$")
#: Runs kept in memory (z-scored) while streaming rows.
_RUN_CACHE = 12


def stimulus_key(name: str) -> tuple[int, str] | None:
    """``(image id, image_key)`` of a NOD stimulus file name, or None when it is not one.

    >>> stimulus_key("n01440764/n01440764_10026.JPEG")
    (1440764010026, 'imagenet:n01440764_10026')
    >>> stimulus_key("000000007665.jpg")
    (7665, 'coco:7665')
    """
    return stimulus_image(Path(str(name).strip().replace("\\", "/")).stem)


def subject_folders(src, subjects=None) -> list[tuple[str, Path]]:
    """``(subject id, results folder)`` pairs under ``src/derivatives/ciftify``."""
    root = require_dir(Path(src), "the NOD dataset root (OpenNeuro ds004496)")
    ciftify = require_dir(root / "derivatives" / "ciftify", "NOD's ciftify derivatives")
    found = {str(int(m.group(1))): p / "results" for p in sorted(ciftify.iterdir())
             if p.is_dir() and (m := _SUBJECT_DIR.match(p.name)) and (p / "results").is_dir()}
    if not found:
        raise BrainembedError(f"{ciftify} holds no subject with a results folder (sub-01/results, ...).")
    if subjects is None:
        return sorted(found.items(), key=lambda kv: int(kv[0]))
    chosen = []
    for s in subjects:
        key = str(s).removeprefix("sub-")
        key = str(int(key)) if key.isdigit() else key
        if key not in found:
            names = ", ".join(f"sub-{int(k):02d}" for k in sorted(found, key=int))
            raise BrainembedError(f"subject {s!r} has no results in {ciftify} (found {names}).")
        chosen.append((key, found[key]))
    return chosen


def _read_header(path: Path):
    """(map names, voxel table, column index of the cortex grayordinates) of a beta dscalar file."""
    import nibabel as nib

    try:
        img = nib.load(str(path))
        names = [str(n) for n in img.header.get_axis(0).name]
        models = img.header.get_axis(1)
    except Exception as err:  # nibabel raises several types for damaged or non-CIFTI files
        raise BrainembedError(f"{path} is not a readable CIFTI-2 dscalar file ({err}).") from None
    if not isinstance(models, nib.cifti2.BrainModelAxis):
        raise BrainembedError(f"{path}: the second CIFTI axis must hold brain models (grayordinates).")
    frames, columns = [], []
    for structure, part, axis in models.iter_structures():
        hemi = CORTEX.get(structure)
        if hemi is None:
            continue
        if axis.nvertices.get(structure) != N_FSLR32K:
            raise BrainembedError(f"{path}: {structure} has {axis.nvertices.get(structure)} vertices, not the "
                                  f"{N_FSLR32K} of fsLR-32k.")
        idx = np.arange(part.start or 0, part.stop if part.stop is not None else len(models))
        columns.append(idx)
        frames.append(pd.DataFrame({"hemi": hemi, "vertex": np.asarray(axis.vertex, dtype=np.int64),
                                    "space": "fsLR32k"}))
    if not frames:
        raise BrainembedError(f"{path} has no cortical surface brain model (CORTEX_LEFT/RIGHT).")
    shape = img.header.get_data_shape() if hasattr(img.header, "get_data_shape") else img.shape
    if tuple(shape) != (len(names), len(models)):
        raise BrainembedError(f"{path}: data shape {tuple(shape)} does not match its axes "
                              f"({len(names)} maps x {len(models)} grayordinates).")
    return names, pd.concat(frames, ignore_index=True), np.concatenate(columns)


def _events_stimuli(path: Path) -> list[str]:
    """Stimulus file names of a run's events file, trial by trial (blank trials skipped)."""
    require_file(path, "the run's events")
    try:
        table = pd.read_csv(path, sep="\t")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError):
        raise BrainembedError(f"{path} is not a readable tab-separated events file.") from None
    column = next((c for c in ("stim_file", "condition") if c in table.columns and table[c].notna().any()), None)
    if column is None:
        raise BrainembedError(f"{path} has no 'stim_file' (or 'condition') column naming the stimuli.")
    values = table[column]
    return [str(v) for v in values[values.notna() & (values.astype(str).str.lower() != "n/a")]]


class _Run:
    def __init__(self, subject: str, root: Path, folder: Path):
        m = _RUN_DIR.match(folder.name)
        self.session, self.task, self.run = m.group(1), m.group(2), int(m.group(3))
        self.path = require_file(folder / f"{folder.name}_beta.dscalar.nii", "NOD beta estimates")
        names, self.voxels, self.columns = _read_header(self.path)
        sub = f"sub-{int(subject):02d}"
        events = root / sub / self.session / "func" / \
            f"{sub}_{self.session}_task-{self.task}_run-{self.run:02d}_events.tsv"
        keys = [stimulus_key(n) for n in names]
        if not names or not all(keys):  # maps not named by their images: the events name them, trial by trial
            stims = _events_stimuli(events)
            if len(stims) != len(names):
                raise BrainembedError(f"{events} lists {len(stims)} stimuli but {self.path.name} has {len(names)} "
                                      "beta maps.")
            keys = [stimulus_key(s) for s in stims]
            bad = next((s for s, k in zip(stims, keys) if k is None), None)
            if bad is not None:
                raise BrainembedError(f"{events}: stimulus {bad!r} is neither an ImageNet (n01440764_10026) nor a "
                                      "COCO (000000007665) file name.")
            names = stims
        elif events.is_file():
            listed = sorted(k[1] for k in map(stimulus_key, _events_stimuli(events)) if k)
            if listed != sorted(k[1] for k in keys):
                raise BrainembedError(f"{events} names other stimuli than the beta maps of {self.path.name}.")
        self.ids = np.array([k[0] for k in keys], dtype=np.int64)
        self.keys = [k[1] for k in keys]
        self.stimuli = [Path(str(n).replace("\\", "/")).stem for n in names]

    @property
    def label(self) -> str:
        return f"{self.session}_task-{self.task}_run-{self.run}"

    def load(self, zscore: bool) -> np.ndarray:
        import nibabel as nib

        try:
            data = np.asarray(nib.load(str(self.path)).dataobj, dtype=np.float32)[:, self.columns]
        except Exception as err:
            raise BrainembedError(f"{self.path} could not be read ({err}).") from None
        check_finite_columns(data, str(self.path))
        return zscore_columns(data)[0].astype(np.float32) if zscore else data


class _Subject:
    def __init__(self, subject: str, root: Path, results: Path, test_images, zscore: bool, keep_repeats: bool):
        self.subject, self.zscore, self.keep_repeats = subject, zscore, keep_repeats
        folders = [p for p in results.iterdir() if p.is_dir() and _RUN_DIR.match(p.name)]
        if not folders:
            raise BrainembedError(f"{results} holds no run folder (ses-imagenet01_task-imagenet_run-1, ...).")
        runs = [_Run(subject, root, f) for f in folders]
        runs.sort(key=lambda r: (r.session, r.task, r.run))
        self.runs = runs
        first = runs[0]
        for r in runs[1:]:
            if not r.voxels[["hemi", "vertex"]].equals(first.voxels[["hemi", "vertex"]]):
                raise BrainembedError(f"{r.path} has other surface vertices than {first.path}.")
        self.voxels = first.voxels
        trials = [(int(i), k, s, ri, row) for ri, r in enumerate(runs)
                  for row, (i, k, s) in enumerate(zip(r.ids, r.keys, r.stimuli))]
        key_of, stim_of, where = {}, {}, {}
        for i, k, s, ri, row in trials:
            if key_of.setdefault(i, k) != k:
                raise BrainembedError(f"NOD subject {subject}: stimuli {key_of[i]} and {k} map to one image id.")
            stim_of.setdefault(i, s)
            where.setdefault(i, []).append((ri, row))
        if test_images is None:
            is_test = {i: key_of[i].startswith("coco:") for i in where}
        else:
            names = test_images.split(",") if isinstance(test_images, str) else test_images  # the CLI's form
            wanted = {str(t).strip().split(":", 1)[-1] for t in names}
            is_test = {i: stim_of[i] in wanted or key_of[i].split(":", 1)[1] in wanted for i in where}
        if not any(is_test.values()):
            how = "none of the test_images given" if test_images is not None else \
                "no COCO image (only subjects 1-9 saw them)"
            raise BrainembedError(f"NOD subject {subject} has no test images: its runs show {how}; pass test_images "
                                  "(ImageNet file stems to hold out) or leave this subject out.")
        order = list(where)  # first appearance: run order
        train = [i for i in order if not is_test[i]]
        test = sorted(i for i in order if is_test[i])
        self.image_ids = np.array(train + test, dtype=np.int64)
        self.split = np.array(["train"] * len(train) + ["test"] * len(test))
        self.trials = [where[int(i)] for i in self.image_ids]
        self.keys = {i: key_of[i] for i in where}
        self.stimuli = {i: stim_of[i] for i in where}
        self.n_repeats = max(len(t) for t in self.trials) if keep_repeats else 0
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()

    def _run(self, index: int) -> np.ndarray:
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        data = self.runs[index].load(self.zscore)
        self._cache[index] = data
        while len(self._cache) > _RUN_CACHE:
            self._cache.popitem(last=False)
        return data

    def read_rows(self, start: int, stop: int):
        n_vox = len(self.voxels)
        rows = self.trials[start:stop]
        responses = np.empty((len(rows), n_vox), np.float32)
        repeats = np.full((len(rows), self.n_repeats, n_vox), np.nan, np.float32) if self.n_repeats else None
        for k, trials in enumerate(rows):
            singles = np.stack([self._run(ri)[row] for ri, row in trials])
            responses[k] = singles.mean(axis=0, dtype=np.float64)
            if repeats is not None:
                repeats[k, :len(trials)] = singles
        return responses, repeats


def open_nod(src, *, subjects=None, images=None, test_images=None, zscore: bool = True, repeats: bool = False,
             dataset: str = "NOD", image_size: int | None = None) -> DatasetSource:
    """Open NOD subjects lazily (see :func:`read_nod`)."""
    root = Path(src)
    folders = subject_folders(root, subjects)
    image_root = require_dir(Path(images) if images is not None else root / "stimuli", "NOD stimulus images")
    subs = [_Subject(key, root, results, test_images, zscore, repeats) for key, results in folders]
    keys, stims = {}, {}
    for s in subs:
        keys.update(s.keys)
        stims.update(s.stimuli)
    ids = np.array(sorted(keys), dtype=np.int64)
    files = find_image_files(image_root, {stims[int(i)] for i in ids})
    missing = [stims[int(i)] for i in ids if stims[int(i)] not in files]
    if missing:
        raise BrainembedError(f"missing image file {missing[0]}.* in {image_root} ({len(missing)} image(s) missing).")
    test_ids = np.unique(np.concatenate([s.image_ids[s.split == "test"] for s in subs]))
    metadata = pd.DataFrame({"dataset": dataset, "image_key": [keys[int(i)] for i in ids],
                             "source": [keys[int(i)].split(":")[0] for i in ids],
                             "file": [str(files[stims[int(i)]].relative_to(image_root)) for i in ids],
                             "shared": np.isin(ids, test_ids)})
    sources = []
    for s in subs:
        sources.append(SubjectSource(
            dataset, s.subject, s.image_ids, s.split, s.voxels.copy(), s.read_rows, n_repeats=s.n_repeats,
            field_strength=3.0,
            attrs={"source": "nod", "space": "fsLR32k", "runs": len(s.runs),
                   "zscore": "per vertex within each run" if zscore else "none",
                   "preprocessing": "NOD GLM betas (derivatives/ciftify), repeats averaged"}))
    images_src = file_image_source(ids, [files[stims[int(i)]] for i in ids], image_size, metadata)
    return DatasetSource(sources, images_src, {"source": "nod", "src": str(root), "images": str(image_root)})


def read_nod(src, **kwargs):
    """Read NOD subjects into a :class:`~brainembed.data.Crowd`.

    Parameters
    ----------
    src : path
        The dataset root (OpenNeuro ds004496): ``derivatives/ciftify/sub-NN/results``
        and the BIDS ``sub-NN/ses-*/func/*_events.tsv`` files; layout in the
        module docstring.
    subjects : list of int or str, optional
        Subjects (``1``, ``"01"`` or ``"sub-01"``); default: every subject with results.
    images : path, optional
        Folder of the stimulus images, searched recursively by file stem
        (default ``<src>/stimuli``).
    test_images : list of str, optional
        Stimulus file stems (or image keys) to hold out as the test split
        instead of the COCO images.
    zscore : bool, default True
        Z-score each vertex within each run before averaging repeats.
    repeats : bool, default False
        Keep the single trials of each image (NaN-padded to the most repeated image).
    dataset : str, default "NOD"
    image_size : int, optional
        Square side to store images at (default 224 for the large photographs).

    Returns
    -------
    Crowd
        Subjects ``NOD:1`` ...: training rows (ImageNet images, first seen
        first), then test rows (COCO images by id); vertices on fsLR-32k.
    """
    with open_nod(src, **kwargs) as source:
        return source.to_crowd()
