"""A small Natural Object Dataset (ds004496) in its released layout, CIFTI files written by nibabel.

The beta files are what NOD's ``validation/GLM.py`` writes with ``save2cifti``
(https://github.com/BNUCNL/NOD-fmri): a CIFTI-2 dscalar image whose first
axis names one map per trial (the stimulus file name) and whose second axis
holds the fsLR-32k cortex brain models. Here they are written with nibabel's
CIFTI-2 axis API (``ScalarAxis`` x ``BrainModelAxis.from_surface``) on a few
of the 32492 vertices per hemisphere, so the files stay small.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

N_FSLR32K = 32492


def write_dscalar(path, data, names, lh_vertices, rh_vertices, n_vertices=N_FSLR32K, extra_volume=False) -> Path:
    """A CIFTI-2 dscalar file: ``data`` (maps, grayordinates) over CORTEX_LEFT then CORTEX_RIGHT vertices."""
    import nibabel as nib

    ax = nib.cifti2.ScalarAxis([str(n) for n in names])
    bm = (nib.cifti2.BrainModelAxis.from_surface(np.asarray(lh_vertices), n_vertices, "CortexLeft")
          + nib.cifti2.BrainModelAxis.from_surface(np.asarray(rh_vertices), n_vertices, "CortexRight"))
    if extra_volume:  # a subcortical voxel after the cortex, as 91k-grayordinate files have
        mask = np.zeros((2, 2, 2), bool)
        mask[0, 0, 0] = True
        bm = bm + nib.cifti2.BrainModelAxis.from_mask(mask, name="thalamus_left", affine=np.eye(4))
    header = nib.cifti2.Cifti2Header.from_axes((ax, bm))
    img = nib.cifti2.Cifti2Image(np.asarray(data, dtype=np.float32), header)
    img.nifti_header.set_intent("ConnDenseScalar")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(img, str(path))
    return path


def _image(path, rng, size=(20, 16)):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = "JPEG" if path.suffix.lower() in (".jpeg", ".jpg") else "PNG"
    Image.fromarray(rng.integers(0, 255, size + (3,), dtype=np.uint8)).save(path, format=fmt)


def imagenet_name(rng) -> str:
    return f"n{int(rng.integers(1440764, 9999999)):08d}_{int(rng.integers(1, 99999))}"


def write_nod_subject(root, subject: int, *, imagenet_runs=(("ses-imagenet01", 1, 4), ("ses-imagenet01", 2, 4)),
                      coco=(7665, 10948, 12179), coco_runs=3, lh=(3, 40, 1200, 32491), rh=(0, 77, 5000),
                      seed=0, map_names=True, events=True, extra_volume=False) -> dict:
    """One subject: ImageNet runs (each image once) and COCO runs (every COCO image in every run).

    ``imagenet_runs`` lists (session, run, n_images). With ``map_names=False``
    the maps are named ``1, 2, ...`` and the events name the stimuli (COCO runs
    in a ``condition`` column, as for NOD subjects 2-9). Returns the betas of
    each run (trials x vertices, lh then rh), the stimulus stems and the keys.
    """
    rng = np.random.default_rng(seed)
    root = Path(root)
    sub = f"sub-{subject:02d}"
    results = root / "derivatives" / "ciftify" / sub / "results"
    runs = []
    n_vox = len(lh) + len(rh)
    plan = [(ses, run, "imagenet", [imagenet_name(rng) for _ in range(n)]) for ses, run, n in imagenet_runs]
    for run in range(1, coco_runs + 1):
        order = [f"{c:012d}" for c in rng.permutation(list(coco))]
        plan.append(("ses-coco", run, "coco", order))
    for ses, run, task, stems in plan:
        name = f"{ses}_task-{task}_run-{run}"
        betas = rng.normal(size=(len(stems), n_vox)).astype(np.float32) * 3 + rng.normal(size=n_vox)
        files = [f"{s}.JPEG" if task == "imagenet" else f"{s}.jpg" for s in stems]
        names = files if map_names else [str(k + 1) for k in range(len(stems))]
        data = betas if not extra_volume else np.concatenate([betas, np.zeros((len(stems), 1), np.float32)], 1)
        write_dscalar(results / name / f"{name}_beta.dscalar.nii", data, names, lh, rh, extra_volume=extra_volume)
        if events:
            func = root / sub / ses / "func"
            func.mkdir(parents=True, exist_ok=True)
            table = pd.DataFrame({"onset": np.arange(len(stems)) * 4.0, "duration": 1.0})
            if task == "imagenet":
                table["trial_type"] = rng.integers(1, 1000, len(stems))
                table["stim_file"] = [f"{s.split('_')[0]}/{f}" for s, f in zip(stems, files)]
            elif subject == 1:
                table["stim_file"] = files
            else:  # blank trials listed with n/a, the stimulus in 'condition'
                table = pd.concat([table, pd.DataFrame({"onset": [99.0], "duration": [0.5]})], ignore_index=True)
                table["condition"] = files + ["n/a"]
            table.to_csv(func / f"{sub}_{ses}_task-{task}_run-{run:02d}_events.tsv", sep="\t", index=False,
                         na_rep="n/a")
        runs.append({"name": name, "task": task, "stems": stems, "betas": betas})
    stim = root / "stimuli"
    for r in runs:
        for s in r["stems"]:
            path = stim / "imagenet" / s.split("_")[0] / f"{s}.JPEG" if r["task"] == "imagenet" else \
                stim / "coco" / f"{s}.jpg"
            if not path.exists():
                _image(path, rng)
    return {"runs": runs, "lh": np.asarray(lh), "rh": np.asarray(rh), "coco": list(coco)}


def nod_expected(truth, zscore=True):
    """Reference: z-score each vertex within each run, average each image's trials (plain loops)."""
    trials = {}
    order = []
    for r in truth["runs"]:
        b = r["betas"].astype(np.float64)
        if zscore:
            b = (b - b.mean(0)) / b.std(0)
        for stem, row in zip(r["stems"], b):
            if stem not in trials:
                order.append(stem)
            trials.setdefault(stem, []).append(row)
    return order, {s: np.stack(v) for s, v in trials.items()}
