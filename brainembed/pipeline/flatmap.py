"""``brainembed flatmap``: per-voxel values of a run's subjects on cortical flatmaps.

Values that can be drawn:

- ``clusters``: cluster labels from ``RUN/clusters/<tag>/labels.csv`` (the tag
  named in ``RUN/clusters/LATEST`` unless one is given), written by
  ``brainembed cluster``;
- ``roi``: the ROI label of each voxel, from the crowd store's voxel table;
- ``region``: the simulation's ground-truth region of each voxel (simulated
  crowds only);
- ``accuracy``: the universal encoder's test correlation per voxel, from
  ``RUN/evaluation/voxels.csv``, written by ``brainembed evaluate``.

Surfaces (see :mod:`brainembed.viz.flatmap`): fsaverage at any resolution;
fsLR-32k only on a pycortex fsLR-32k subject of the user's; volumetric voxels
have no flatmap. Data that cannot be drawn is refused in one sentence that
offers the ROI view, ``brainembed embed-map --run RUN --color roi``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from brainembed.data.subjects import split_key
from brainembed.errors import BrainembedError

VALUES = ("clusters", "roi", "region", "accuracy")
FIGURE_SUFFIXES = (".png", ".svg", ".pdf")
_TITLES = {"clusters": "cluster", "roi": "ROI", "region": "planted region",
           "accuracy": "test correlation r (universal encoder)"}


def _read_csv(path: Path, what: str, command: str, columns) -> pd.DataFrame:
    if not path.is_file():
        raise BrainembedError(f"{path} is missing; run `{command}` first to write the {what}.")
    try:
        table = pd.read_csv(path, dtype={"dataset": str, "subject": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError):
        raise BrainembedError(f"{path} is not a readable CSV table.") from None
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise BrainembedError(f"{path} lacks the column(s) {', '.join(missing)}.")
    return table


def _per_voxel(table: pd.DataFrame, key: str, n_voxels: int, column: str, source: Path) -> np.ndarray:
    dataset, subject = split_key(key)
    rows = table[(table["dataset"] == dataset) & (table["subject"] == subject)]
    if rows.empty:
        raise BrainembedError(f"{source} has no rows for subject {key}.")
    voxel = pd.to_numeric(rows["voxel"], errors="coerce").to_numpy()
    if np.isnan(voxel).any() or voxel.min() < 0 or voxel.max() >= n_voxels:
        raise BrainembedError(f"{source}: voxel indices of subject {key} are outside 0..{n_voxels - 1}.")
    values = rows[column].to_numpy()
    out = np.full(n_voxels, np.nan) if values.dtype.kind in "iufb" else np.full(n_voxels, None, dtype=object)
    out[voxel.astype(int)] = values
    return out


def flatmap_run(run, *, value: str = "clusters", subjects=None, out=None, renderer: str = "auto",
                clusters: str | None = None, data=None, dpi: int = 150, progress: bool = False) -> dict:
    """Draw one per-voxel value of a run's subjects on flatmaps and save the figure.

    Parameters
    ----------
    run : path
        Run folder written by ``brainembed train``.
    value : {"clusters", "roi", "region", "accuracy"}
        What to draw (see the module docstring).
    subjects : list of str, optional
        Subjects (``"3T:1"``, or ``"1"`` where unambiguous: :mod:`brainembed.data.subjects`);
        default: every subject of the run.
    out : path, optional
        Figure file (``.png``, ``.svg`` or ``.pdf``); default
        ``RUN/figures/flatmap_<value>.png``.
    renderer : {"auto", "pycortex", "nilearn"}
    clusters : str, optional
        Clustering tag under ``RUN/clusters`` (default or ``"latest"``: the
        one named in ``RUN/clusters/LATEST``).
    data : path, optional
        Crowd store (default: the one the run trained on).
    dpi : int
        Resolution of raster figures.
    progress : bool
        Print what is being drawn.

    Returns
    -------
    dict
        ``path`` (the figure), ``subjects`` (keys drawn), ``renderer`` (the one used).
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from brainembed.training.run import RunDirectory
    from brainembed.viz.flatmap import plot_subject_flatmaps, resolve_renderer

    if value not in VALUES:
        raise BrainembedError(f"unknown value {value!r}; choose from {', '.join(VALUES)}.")
    run_dir = RunDirectory.of(run, data)
    out = Path(out) if out is not None else run_dir.output_dir("figures", f"flatmap_{value}.png")
    if out.suffix.lower() not in FIGURE_SUFFIXES:
        raise BrainembedError(f"{out}: the figure file must end in {', '.join(FIGURE_SUFFIXES)}.")
    renderer = resolve_renderer(renderer)
    keys = run_dir.resolve_subjects(subjects)

    table, source = None, None
    if value == "accuracy":
        source = run_dir.path / "evaluation" / "voxels.csv"
        table = _read_csv(source, "per-voxel accuracy", f"brainembed evaluate --run {run_dir.path}",
                          ("dataset", "subject", "model", "voxel", "r"))
        table = table[table["model"] == "universal"]
    elif value == "clusters":
        source = run_dir.clustering_labels(clusters)
        table = _read_csv(source, "cluster labels", f"brainembed cluster --run {run_dir.path}",
                          ("dataset", "subject", "voxel", "cluster"))
        numeric = pd.to_numeric(table["cluster"], errors="coerce")
        if numeric.notna().all():
            table = table.assign(cluster=numeric)

    values, voxels = {}, {}
    with run_dir.open_store() as store:
        for key in keys:
            vox = store.read_voxels(key)
            if value in ("roi", "region"):
                if value not in vox.columns:
                    hint = " (only simulated crowds carry their ground-truth region)" if value == "region" else ""
                    raise BrainembedError(f"subject {key} has no '{value}' column in its voxel table{hint}.")
                values[key] = vox[value].astype(str).to_numpy(dtype=object)
            else:
                column = "r" if value == "accuracy" else "cluster"
                values[key] = _per_voxel(table, key, len(vox), column, source)
            voxels[key] = vox
    if progress:
        print(f"[flatmap] drawing {value} of {', '.join(keys)} with {renderer}", flush=True)
    tag = f" ({source.parent.name})" if value == "clusters" else ""
    fig = plot_subject_flatmaps(values, voxels, renderer=renderer, categorical=value != "accuracy",
                                title=f"{_TITLES[value]}{tag}", label=_TITLES[value].split(" (")[0],
                                roi_view=f"brainembed embed-map --run {run_dir.path} --color roi")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=dpi)
    except OSError as err:
        raise BrainembedError(f"cannot write {out} ({err.strerror or err}).") from None
    finally:
        plt.close(fig)
    return {"path": out, "subjects": keys, "renderer": renderer}
