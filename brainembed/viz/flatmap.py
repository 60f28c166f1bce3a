"""Per-voxel values drawn on cortical flatmaps.

Two renderers draw the same picture: both hemispheres of a flattened cortex,
left hemisphere on the left, occipital poles meeting in the middle (the
pycortex layout).

- ``"pycortex"`` (preferred): :mod:`brainembed.viz.pycortex_flatmap` draws
  with ``cortex.quickflat`` on an fsaverage subject -- the user's own pycortex
  ``fsaverage``/``fsaverage5`` subject when their pycortex database has one,
  otherwise an ``fsaverage5`` subject that brainembed builds offline from
  nilearn's bundled meshes into its own folder.
- ``"nilearn"`` (fallback, no 3-D engine, no pycortex): matplotlib triangles
  on nilearn's bundled fsaverage5 flat mesh (:func:`plot_flatmap`).

Voxels reach the surface through their ``hemi`` and ``vertex`` descriptors
(:func:`voxels_to_vertices`). fsaverage meshes are nested icosahedra: the
first 10242 vertices of fsaverage6 (40962 per hemisphere) and of full
fsaverage (163842, the space of NSD/Algonauts) *are* the fsaverage5 vertices.
Data on a finer mesh is therefore drawn on fsaverage5 by keeping the voxels
whose vertex index is below 10242 -- a subsample of about one vertex in 16 for
full fsaverage -- unless a pycortex subject of the data's own resolution is
installed. Data on the coarser fsaverage3 (642 vertices per hemisphere) and
fsaverage4 (2562) is spread onto fsaverage5: every fsaverage5 vertex takes the
value of the nearest coarse vertex on the sphere (:func:`from_coarse_fsaverage`).

Which surface a voxel table lives on (:func:`surface_space`): its ``space``
column when it has one (``fsaverage3`` ... ``fsaverage7``/``fsaverage``,
``fsLR32k``), else the smallest of fsaverage5, fsaverage6 and fsaverage that
holds every vertex index. fsLR-32k data (NOD, MOSAIC) is drawn only on a
pycortex subject of the user's with 32492 vertices per hemisphere (named
``fsLR32k``, ``fs_LR_32k``, ``32k_fs_LR`` or ``fsLR``): neither nilearn nor
pycortex ships an fsLR-32k flat mesh to draw on offline, so without one the
flatmap says so in one sentence and points to the ROI view (``brainembed
embed-map --color roi``). Volumetric voxels (no ``vertex``, or all -1: GOD,
vim-1, NSD's volume betas) have no flatmap; that too is said in one sentence.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd

from brainembed.errors import BrainembedError, BrainembedWarning
from brainembed.viz.colours import (
    categorical_colormap,
    category_labels,
    category_legend,
    colour_values,
    continuous_limits,
)
from brainembed.viz.meshes import (
    HEMIS,
    N_VERTICES_FSAVERAGE5,
    ROI_VIEW,
    fsaverage5_mesh,
    fsaverage5_sulc,
    fslr_unavailable,
    volumetric_error,
)

#: Vertices per hemisphere of the fsaverage meshes (nested icosahedra; fsaverage is fsaverage7).
FSAVERAGE_SIZES = {"fsaverage3": 642, "fsaverage4": 2562, "fsaverage5": 10242, "fsaverage6": 40962,
                   "fsaverage7": 163842, "fsaverage": 163842}
#: Vertices per hemisphere of the fsLR-32k mesh (HCP, CIFTI grayordinates).
N_FSLR32K = 32492
#: Meshes the max-vertex rule chooses from when a voxel table has no ``space`` column.
_INFERRED_SIZES = (10242, 40962, 163842)
_SPACE_NAMES = {**{k.lower(): v for k, v in FSAVERAGE_SIZES.items()},
                **{k: N_FSLR32K for k in ("fslr32k", "fslr_32k", "fs_lr_32k", "32k_fs_lr", "fslr")}}
RENDERERS = ("auto", "pycortex", "nilearn")
def surface_space(voxels: pd.DataFrame, who: str = "the data", roi_view: str = ROI_VIEW) -> tuple[str, int]:
    """The surface a voxel table lives on and its vertices per hemisphere.

    Parameters
    ----------
    voxels : DataFrame with ``hemi`` and ``vertex`` (and optionally ``space``) columns
    who : str
        Names the data in error messages (e.g. a subject key).
    roi_view : str
        The command offered instead of a flatmap.

    Returns
    -------
    space : str
        ``"fsaverage3"`` ... ``"fsaverage"`` or ``"fsLR32k"``.
    n_vertices : int
        642, 2562, 10242, 40962, 163842 or 32492.

    Raises
    ------
    BrainembedError
        For volumetric voxels (no ``vertex`` column, or every vertex -1), an
        unknown ``space``, or vertex indices beyond the mesh.
    """
    vertex = pd.to_numeric(voxels["vertex"], errors="coerce") if "vertex" in voxels.columns else None
    if vertex is None or len(voxels) == 0 or not (vertex >= 0).any():
        raise volumetric_error(who, roi_view)
    top = int(vertex.max())
    if "space" in voxels.columns:
        spaces = {str(v) for v in voxels.loc[vertex >= 0, "space"].unique()}
        if len(spaces) != 1:
            raise BrainembedError(f"{who} mixes surfaces {sorted(spaces)} in its voxel table.")
        space = spaces.pop()
        n = _SPACE_NAMES.get(space.lower())
        if n is None:
            raise BrainembedError(f"{who} lies on surface {space!r}, which brainembed cannot draw (known: "
                                  "fsaverage3 to fsaverage7, fsLR32k).")
        if top >= n:
            raise BrainembedError(f"{who}: vertex index {top} is beyond {space} ({n} vertices per hemisphere).")
        if n == N_FSLR32K:
            return "fsLR32k", n
        return ("fsaverage" if n == 163842 else next(k for k, v in FSAVERAGE_SIZES.items() if v == n)), n
    for n in _INFERRED_SIZES:
        if top < n:
            return ("fsaverage" if n == 163842 else next(k for k, v in FSAVERAGE_SIZES.items() if v == n)), n
    raise BrainembedError(f"vertex index {top} is beyond full fsaverage (163842 vertices per hemisphere).")


# --------------------------------------------------------------------------- voxels -> vertices
def surface_size(voxels: pd.DataFrame) -> int:
    """Vertices per hemisphere of the mesh a voxel table lives on (see :func:`surface_space`).

    Parameters
    ----------
    voxels : DataFrame with a ``vertex`` column

    Returns
    -------
    int
        642 ... 163842 (fsaverage3 to full fsaverage) or 32492 (fsLR-32k);
        without a ``space`` column, the smallest of 10242 (fsaverage5), 40962
        (fsaverage6) and 163842 (fsaverage) holding every vertex index.
    """
    if "vertex" not in voxels.columns:
        raise BrainembedError("the voxel table needs 'hemi' and 'vertex' columns to be drawn on a surface.")
    return surface_space(voxels)[1]


def voxels_to_vertices(voxels: pd.DataFrame, values, n_vertices: int = N_VERTICES_FSAVERAGE5) -> dict:
    """Scatter per-voxel values onto per-hemisphere vertex arrays.

    Parameters
    ----------
    voxels : DataFrame with columns ``hemi`` and ``vertex``
        One row per voxel (e.g. ``SubjectData.voxels``).
    values : array of shape (n_voxels,)
        Value per voxel (numbers, or labels -- labels are returned as objects).
    n_vertices : int
        Vertices per hemisphere. Vertices of full fsaverage (163842) are
        mapped to fsaverage5 by keeping indices below 10242 (fsaverage5's
        vertices are the first 10242 of fsaverage); others are dropped.

    Returns
    -------
    dict ``{"lh": array (n_vertices,), "rh": array (n_vertices,)}`` with NaN
    (or None for labels) where no voxel lies. When several voxels share a
    vertex, the last one wins.
    """
    if "vertex" not in voxels.columns or "hemi" not in voxels.columns:
        raise BrainembedError("the voxel table needs 'hemi' and 'vertex' columns to be drawn on a surface.")
    values = np.asarray(values)
    if values.ndim != 1 or values.shape[0] != len(voxels):
        raise BrainembedError(f"{values.shape[0] if values.ndim else 0} values for {len(voxels)} voxels.")
    numeric = values.dtype.kind in "iufb"
    hemi = voxels["hemi"].astype(str).str.lower().str[0].map({"l": "lh", "r": "rh"}).to_numpy()
    vertex = pd.to_numeric(voxels["vertex"], errors="coerce").fillna(-1).to_numpy()
    out = {}
    for h in HEMIS:
        arr = np.full(n_vertices, np.nan) if numeric else np.full(n_vertices, None, dtype=object)
        sel = (hemi == h) & (vertex >= 0) & (vertex < n_vertices)
        arr[vertex[sel].astype(int)] = values[sel]
        out[h] = arr
    return out


def to_fsaverage5(per_hemi: dict) -> dict:
    """Keep the fsaverage5 vertices of values on a finer fsaverage mesh.

    Parameters
    ----------
    per_hemi : dict of hemisphere -> array (n_vertices,)
        Values on fsaverage5, fsaverage6 or fsaverage.

    Returns
    -------
    dict of hemisphere -> array (10242,)
        The first 10242 entries (fsaverage5 vertex ``i`` is vertex ``i`` of the
        finer meshes): a subsample, not an average over neighbouring vertices.
    """
    out = {}
    for h, arr in per_hemi.items():
        arr = np.asarray(arr)
        if arr.shape[0] < N_VERTICES_FSAVERAGE5:
            raise BrainembedError(f"{h}: {arr.shape[0]} values, fewer than fsaverage5's 10242 vertices.")
        out[h] = arr[:N_VERTICES_FSAVERAGE5]
    return out


def from_coarse_fsaverage(per_hemi: dict) -> dict:
    """Spread values on fsaverage3 (642) or fsaverage4 (2562) onto fsaverage5 (10242 vertices).

    fsaverage's meshes are nested: the first 642 (or 2562) vertices of
    fsaverage5 are those of fsaverage3 (or 4). Every fsaverage5 vertex takes
    the value of the nearest of them on fsaverage5's sphere (nilearn's bundled
    mesh, offline).

    Parameters
    ----------
    per_hemi : dict of hemisphere -> array (642,) or (2562,)

    Returns
    -------
    dict of hemisphere -> array (10242,)
    """
    from scipy.spatial import cKDTree

    out = {}
    for h, arr in per_hemi.items():
        arr = np.asarray(arr)
        n = arr.shape[0]
        if n not in (FSAVERAGE_SIZES["fsaverage3"], FSAVERAGE_SIZES["fsaverage4"]):
            raise BrainembedError(f"{h}: {n} values are neither fsaverage3 (642) nor fsaverage4 (2562) vertices.")
        sphere, _ = fsaverage5_mesh("sphere", h)
        _, nearest = cKDTree(sphere[:n]).query(sphere)
        out[h] = arr[nearest]
    return out


def to_drawable(per_hemi: dict) -> dict:
    """Values of any fsaverage resolution as fsaverage5 arrays (coarser: spread; finer: subsampled)."""
    sizes = {np.asarray(v).shape[0] for v in per_hemi.values()}
    if sizes & {N_FSLR32K}:
        raise fslr_unavailable()
    if sizes <= {FSAVERAGE_SIZES["fsaverage3"], FSAVERAGE_SIZES["fsaverage4"]}:
        return from_coarse_fsaverage(per_hemi)
    if sizes == {N_VERTICES_FSAVERAGE5}:
        return per_hemi
    if not sizes <= {40962, 163842}:
        raise BrainembedError(f"{sorted(sizes)} values per hemisphere match no fsaverage mesh (642, 2562, 10242, "
                              "40962 or 163842 vertices).")
    return to_fsaverage5(per_hemi)


# --------------------------------------------------------------------------- the nilearn renderer
def plot_flatmap(per_hemi: dict, *, ax=None, categorical: bool | None = None, cmap=None, vmin=None, vmax=None,
                 title: str | None = None, legend: bool = True, colorbar: bool = True, labels=None,
                 renderer: str = "nilearn", **renderer_options):
    """Draw vertex values on both hemispheres of the fsaverage5 flat mesh.

    Parameters
    ----------
    per_hemi : dict
        ``{"lh": array (10242,), "rh": array (10242,)}`` as returned by
        :func:`voxels_to_vertices`; NaN/None vertices show the sulcal
        background (a triangle is coloured when any of its vertices has a
        value). Values on a finer fsaverage mesh are subsampled to fsaverage5
        (see :func:`to_fsaverage5`).
    ax : matplotlib Axes, optional
    categorical : bool, optional
        Draw labels with a qualitative colour map and a legend (default: True
        when the values are not numbers).
    cmap, vmin, vmax : colour map settings.
        For categories, ``cmap`` names the colours to draw from (see
        :func:`~brainembed.viz.colours.categorical_colormap`).
    title : str, optional
    legend, colorbar : bool
        Add a legend (categories) or a colour bar (numbers) beside the axes.
    labels : list, optional
        Category order (and so colours); default: the sorted labels present.
        Give the same list to several maps to colour them alike.
    renderer : {"nilearn", "pycortex"}
        ``"nilearn"`` draws matplotlib triangles on nilearn's flat mesh;
        ``"pycortex"`` hands over to
        :func:`brainembed.viz.pycortex_flatmap.plot_flatmap_pycortex`.
    **renderer_options
        Passed to the pycortex renderer (e.g. ``with_curvature``).

    Returns
    -------
    ax : matplotlib Axes
    """
    if renderer == "pycortex":
        from brainembed.viz.pycortex_flatmap import plot_flatmap_pycortex

        return plot_flatmap_pycortex(per_hemi, ax=ax, categorical=categorical, cmap=cmap, vmin=vmin, vmax=vmax,
                                     title=title, legend=legend, colorbar=colorbar, labels=labels,
                                     **renderer_options)
    if renderer != "nilearn":
        raise BrainembedError(f"unknown flatmap renderer {renderer!r}; choose 'nilearn' or 'pycortex'.")
    if renderer_options:
        raise BrainembedError(f"the nilearn renderer takes no option(s) {sorted(renderer_options)}.")
    import matplotlib.pyplot as plt

    values = {h: np.asarray(per_hemi[h]) for h in HEMIS if h in per_hemi}
    if not values:
        raise BrainembedError("nothing to draw: give values for 'lh' and/or 'rh'.")
    if any(v.shape[0] != N_VERTICES_FSAVERAGE5 for v in values.values()):
        values = to_drawable(values)
    values, categorical, labels, cmap, vmin, vmax = colour_values(values, categorical=categorical, labels=labels,
                                                                  cmap=cmap, vmin=vmin, vmax=vmax)
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 4.5))
    gap = 6.0
    mappable = None
    for hemi, data in values.items():
        coords, faces = fsaverage5_mesh("flat", hemi)
        xy = coords[:, :2].copy()
        width = xy[:, 0].max() - xy[:, 0].min()
        # Left hemisphere on the left, right on the right: the occipital poles meet in the middle.
        xy[:, 0] += (-1 if hemi == "lh" else 1) * (width / 2 + gap)
        sulc = fsaverage5_sulc(hemi)
        ax.tripcolor(xy[:, 0], xy[:, 1], faces, facecolors=(sulc[faces].mean(1) > 0).astype(float),
                     cmap="Greys", vmin=-1.5, vmax=2.5, shading="flat")
        # A face takes the value of its vertices that carry one (the first, for categories), so that
        # sparse voxels still show, much as pycortex's nearest-vertex sampling shows them.
        face_val = data[faces]
        finite = np.isfinite(face_val)
        shown = finite.any(axis=1)
        if shown.any():
            fv, ok = face_val[shown], finite[shown]
            if categorical:
                fv = fv[np.arange(len(fv)), ok.argmax(axis=1)]
            else:
                fv = np.where(ok, fv, 0.0).sum(1) / ok.sum(1)
            mappable = ax.tripcolor(xy[:, 0], xy[:, 1], faces[shown], facecolors=fv, cmap=cmap,
                                    vmin=vmin, vmax=vmax, shading="flat")
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title)
    if categorical and legend and labels:
        category_legend(ax, labels, cmap, loc="upper center", bbox_to_anchor=(0.5, 0.0),
                        ncol=min(len(labels), 10))
    elif not categorical and colorbar and mappable is not None:
        ax.figure.colorbar(mappable, ax=ax, shrink=0.6)
    return ax


# --------------------------------------------------------------------------- several subjects
def _pair_up(values_by_subject, voxels_by_subject, titles):
    if isinstance(values_by_subject, Mapping):
        names = [str(k) for k in values_by_subject]
        values = list(values_by_subject.values())
        if isinstance(voxels_by_subject, Mapping):
            missing = [k for k in values_by_subject if k not in voxels_by_subject]
            if missing:
                raise BrainembedError(f"no voxel table for subject(s) {', '.join(map(str, missing))}.")
            voxels = [voxels_by_subject[k] for k in values_by_subject]
        else:
            voxels = list(voxels_by_subject)
    else:
        values = list(values_by_subject)
        voxels = list(voxels_by_subject.values()) if isinstance(voxels_by_subject, Mapping) \
            else list(voxels_by_subject)
        names = [f"subject {k + 1}" for k in range(len(values))]
    if len(values) != len(voxels):
        raise BrainembedError(f"{len(values)} value arrays but {len(voxels)} voxel tables.")
    if not values:
        raise BrainembedError("no subjects to draw.")
    if titles is not None:
        titles = [str(t) for t in titles]
        if len(titles) != len(values):
            raise BrainembedError(f"{len(titles)} titles for {len(values)} subjects.")
        names = titles
    return names, values, voxels


def resolve_renderer(renderer: str = "auto") -> str:
    """``"pycortex"`` or ``"nilearn"``: the renderer asked for, ``"auto"`` picking pycortex when it imports.

    Raises
    ------
    BrainembedError
        For an unknown name, or ``"pycortex"`` when pycortex cannot be imported.
    """
    if renderer not in RENDERERS:
        raise BrainembedError(f"unknown flatmap renderer {renderer!r}; choose from {', '.join(RENDERERS)}.")
    if renderer == "nilearn":
        return renderer
    from brainembed.viz.pycortex_flatmap import pycortex_available

    ok, why = pycortex_available()
    if ok:
        return "pycortex"
    if renderer == "pycortex":
        raise BrainembedError(f"the pycortex renderer is unavailable ({why}); install brainembed[flatmap] or use "
                              "the nilearn renderer.")
    return "nilearn"


def plot_subject_flatmaps(values_by_subject, voxels_by_subject, *, renderer: str = "auto",
                          categorical: bool | None = None, cmap=None, vmin=None, vmax=None, titles=None,
                          title: str | None = None, label: str | None = None, labels=None, ncols: int | None = None,
                          fig=None, roi_view: str = ROI_VIEW, **renderer_options):
    """Per-voxel values of several subjects on flatmaps, one panel per subject.

    Each panel shows both hemispheres (left on the left, occipital poles in
    the middle). Categories (cluster labels, ROI names) share one colour per
    label across panels and one legend; numbers (accuracy, one embedding
    dimension) share one colour scale and one colour bar.

    Parameters
    ----------
    values_by_subject : dict of name -> array of shape (n_voxels,), or list of arrays
        Value of each voxel of each subject.
    voxels_by_subject : dict of name -> DataFrame, or list of DataFrames
        Voxel tables with ``hemi`` and ``vertex`` columns (vertex indices of
        fsaverage3 ... full fsaverage, or of fsLR-32k, as the optional
        ``space`` column says; see :func:`surface_space`), rows matching the values.
    renderer : {"auto", "pycortex", "nilearn"}
        ``"auto"`` uses pycortex when it can be imported, else nilearn.
    categorical : bool, optional
        Treat values as labels. Default: True for text, integer and boolean
        values, False for floating-point values.
    cmap : str or Colormap, optional
        Default: qualitative colours for categories (see
        :func:`~brainembed.viz.colours.categorical_colormap`), ``RdBu_r`` centred on zero for numbers
        of both signs, else ``viridis``.
    vmin, vmax : float, optional
        Limits of the colour scale for numbers (default: over all subjects).
    titles : list of str, optional
        Panel titles (default: the keys of ``values_by_subject``).
    title : str, optional
        Figure title.
    label : str, optional
        Title of the legend or colour bar.
    labels : list, optional
        Category order and so colours (default: every label present, sorted).
    ncols : int, optional
        Panels per row (default: up to 3).
    fig : matplotlib Figure, optional
        Figure to draw into (default: a new one sized for the panels).
    roi_view : str
        The command offered instead, in the message for data that cannot be
        drawn (volumetric voxels; fsLR-32k without an fsLR-32k mesh).
    **renderer_options
        Passed to the pycortex renderer (``with_curvature``, ``with_rois``,
        ``height``, ``data_dir``, ``subject``); ignored by nilearn.

    Returns
    -------
    fig : matplotlib Figure

    Notes
    -----
    Data on full fsaverage (vertex indices up to 163841, e.g. NSD/Algonauts)
    is drawn on the user's pycortex ``fsaverage`` subject when their pycortex
    database holds one; otherwise it is subsampled to fsaverage5 by keeping
    the voxels on vertices below 10242 (fsaverage5's vertices are the first
    10242 of fsaverage), and a :class:`~brainembed.errors.BrainembedWarning`
    says how many voxels remain.
    """
    import matplotlib.pyplot as plt
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    names, values, voxels = _pair_up(values_by_subject, voxels_by_subject, titles)
    renderer = resolve_renderer(renderer)
    values = [np.asarray(v.to_numpy() if isinstance(v, pd.Series) else v) for v in values]
    if categorical is None:
        categorical = any(v.dtype.kind not in "fc" for v in values)
    if categorical:
        values = [v.astype(object) for v in values]

    spaces = [surface_space(vox, f"subject {name}", roi_view) for name, vox in zip(names, voxels)]
    fslr = [space == "fsLR32k" for space, _ in spaces]
    if any(fslr) and not all(fslr):
        raise BrainembedError("fsaverage and fsLR-32k subjects cannot share one flatmap figure; draw them apart.")
    coarse = any(n < N_VERTICES_FSAVERAGE5 for _, n in spaces)
    size = N_FSLR32K if all(fslr) else max(n for _, n in spaces)
    native = None
    if renderer == "pycortex" and (size > N_VERTICES_FSAVERAGE5 or all(fslr)) and not coarse:
        from brainembed.viz.pycortex_flatmap import user_fsaverage_subject

        native = user_fsaverage_subject(size)
    if all(fslr) and native is None:
        raise fslr_unavailable("subject " + ", ".join(names) if len(names) == 1 else "subjects " + ", ".join(names),
                               roi_view)
    per_subject = []
    for name, vals, vox, (_, n_own) in zip(names, values, voxels, spaces):
        if n_own < N_VERTICES_FSAVERAGE5:  # fsaverage3/4: spread onto fsaverage5
            per_hemi = from_coarse_fsaverage(voxels_to_vertices(vox, vals, n_vertices=n_own))
        else:
            per_hemi = voxels_to_vertices(vox, vals, n_vertices=N_VERTICES_FSAVERAGE5 if coarse else size)
        if not coarse and size > N_VERTICES_FSAVERAGE5 and native is None:
            kept = int((pd.to_numeric(vox["vertex"], errors="coerce") < N_VERTICES_FSAVERAGE5).sum())
            warnings.warn(f"{name}: data on a mesh of {size} vertices per hemisphere drawn on fsaverage5; kept the "
                          f"{kept} of {len(vox)} voxels on fsaverage5 vertices.", BrainembedWarning, stacklevel=2)
            per_hemi = to_fsaverage5(per_hemi)
        elif coarse and n_own > N_VERTICES_FSAVERAGE5:
            warnings.warn(f"{name}: drawn on fsaverage5 beside coarser subjects; kept the voxels on fsaverage5 "
                          "vertices.", BrainembedWarning, stacklevel=2)
        per_subject.append(per_hemi)

    if categorical:
        labels = category_labels(a for ph in per_subject for a in ph.values()) if labels is None else list(labels)
        if not labels:
            raise BrainembedError("no voxel of any subject lies on the surface; nothing to draw.")
        cmap = categorical_colormap(len(labels), cmap, labels)
        vmin, vmax = -0.5, len(labels) - 0.5
        options = {"categorical": True, "labels": labels}
    else:
        per_subject = [{h: np.asarray(a, dtype=float) for h, a in ph.items()} for ph in per_subject]
        cmap, vmin, vmax = continuous_limits([a for ph in per_subject for a in ph.values()], vmin, vmax, cmap)
        options = {"categorical": False}

    n = len(per_subject)
    ncols = min(n, 3) if ncols is None else max(1, min(int(ncols), n))
    nrows = int(np.ceil(n / ncols))
    # Room (inches) under the panels for the legend or colour bar, and above them for titles.
    if categorical:
        legend_cols = min(len(labels), 10)
        legend_rows = int(np.ceil(len(labels) / legend_cols))
        below = 0.25 + 0.24 * legend_rows + (0.25 if label else 0.0)
    else:
        below = 1.0 if label else 0.75
    above = 0.65 if title else 0.35
    panel_w, panel_h = 6.4, 3.0
    if fig is None:
        fig = plt.figure(figsize=(panel_w * ncols, panel_h * nrows + below + above))
    width, height = fig.get_size_inches()
    axes = fig.subplots(nrows, ncols, squeeze=False)
    extra = {} if renderer == "nilearn" else dict(renderer_options)
    if native is not None:
        extra.setdefault("subject", native)
    for ax, name, per_hemi in zip(axes.ravel(), names, per_subject):
        plot_flatmap(per_hemi, ax=ax, cmap=cmap, vmin=vmin, vmax=vmax, title=name, legend=False, colorbar=False,
                     renderer=renderer, **options, **extra)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    fig.subplots_adjust(left=0.01, right=0.99, top=1 - above / height, bottom=below / height, wspace=0.03,
                        hspace=0.25)
    if categorical:
        category_legend(fig, labels, cmap, title=label, loc="lower center", bbox_to_anchor=(0.5, 0.05 / height),
                        ncol=legend_cols, fontsize="small" if legend_rows < 4 else "x-small")
    else:
        bar_h = 0.14
        bar_y = (0.6 if label else 0.4) / height
        bar_w = 0.3 if ncols > 1 else 0.5
        cax = fig.add_axes((0.5 - bar_w / 2, bar_y, bar_w, bar_h / height))
        fig.colorbar(ScalarMappable(norm=Normalize(vmin, vmax), cmap=cmap), cax=cax, orientation="horizontal",
                     label=label)
    if title:
        fig.suptitle(title, y=1 - 0.12 / height, va="top")
    return fig
