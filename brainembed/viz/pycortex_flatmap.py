"""Flatmaps drawn by pycortex, offline, without depending on the user's pycortex set-up.

pycortex draws data that lives on a *subject* of its database (a folder of
surfaces, the "filestore"). brainembed keeps its own filestore and builds an
``fsaverage5`` subject there from nilearn's bundled GIFTI meshes (pial, white,
inflated and flat surfaces of both hemispheres), so nothing has to be
downloaded. The filestore is, in order of preference:

1. the ``data_dir`` argument, then ``$BRAINEMBED_DATA/pycortex``;
2. ``$XDG_CACHE_HOME/brainembed/pycortex``, else ``~/.cache/brainembed/pycortex``;
3. when that folder cannot be written, a temporary folder removed when the
   process ends (with a warning naming ``BRAINEMBED_DATA``).

The user's pycortex configuration and filestore are only read, and only to
offer a subject of their own: when their database holds an ``fsaverage``
(full resolution), ``fsaverage6`` or ``fsaverage5`` subject of the right size,
that one is used (it may carry ROI outlines), with pycortex's caches for it
kept in brainembed's folder. A configured filestore or colour-map folder that
is missing, is a file or cannot be read is treated as holding no subject;
drawing never needs it. A pycortex configuration file that pycortex itself
cannot read or write makes brainembed load pycortex with its default settings
(with a warning naming the file). pycortex writes
``$XDG_CONFIG_HOME/pycortex/options.cfg`` when it is first imported and none
exists; point ``XDG_CONFIG_HOME`` at a temporary folder in tests.

ROI outlines need a subject with an ``overlays.svg`` and Inkscape; with either
missing they are skipped.
"""

from __future__ import annotations

import configparser
import contextlib
import hashlib
import io
import json
import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

from brainembed._paths import data_home, writable_data_folder
from brainembed.errors import BrainembedError, BrainembedWarning
from brainembed.viz.colours import category_legend, colour_values
from brainembed.viz.meshes import HEMIS, N_VERTICES_FSAVERAGE5, fslr_unavailable

SUBJECT_FSAVERAGE5 = "fsaverage5"
#: pycortex surface name -> nilearn fsaverage5 mesh name.
SURFACES = {"pia": "pial", "wm": "white", "inflated": "infl", "flat": "flat"}
_MARKER = "brainembed.json"
_SUBJECT_FOLDERS = ("surfaces", "transforms", "anatomicals", "surface-info", "cache", "views")
_MEMO_CACHES: dict = {}
#: What pycortex raises at import when its configuration file cannot be read or written.
_CONFIG_ERRORS = (OSError, configparser.Error)


# --------------------------------------------------------------------------- pycortex, quietly
@contextlib.contextmanager
def _quiet():
    """Silence pycortex's start-up chatter (it prints a notice when Inkscape is missing) and its warnings."""
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _import_cortex():
    """Import pycortex; when its configuration file is unusable, import it with pycortex's default settings.

    pycortex reads (and, when missing, writes)
    ``$XDG_CONFIG_HOME/pycortex/options.cfg`` at import and fails when that
    file cannot be parsed or written. brainembed then imports it again with
    ``XDG_CONFIG_HOME`` pointing, during the import only, at a temporary
    folder, and warns once naming the file.
    """
    try:
        with _quiet():
            import cortex
        return cortex
    except _CONFIG_ERRORS as err:
        problem = err
    for name in [m for m in sys.modules if m == "cortex" or m.startswith("cortex.")]:
        del sys.modules[name]  # the half-imported package
    saved = os.environ.get("XDG_CONFIG_HOME")
    scratch = tempfile.mkdtemp(prefix="brainembed-pycortex-config-")
    os.environ["XDG_CONFIG_HOME"] = scratch
    try:
        with _quiet():
            import cortex
    finally:
        if saved is None:
            os.environ.pop("XDG_CONFIG_HOME", None)
        else:
            os.environ["XDG_CONFIG_HOME"] = saved
        shutil.rmtree(scratch, ignore_errors=True)
    where = Path(cortex.appdirs.user_data_dir("pycortex")) / "options.cfg"
    reason = (getattr(problem, "strerror", None) or str(problem)).strip().splitlines()[0]
    warnings.warn(f"pycortex cannot use its configuration file {where} ({reason}); brainembed loaded pycortex "
                  "with its default settings. Fix or remove that file, or set XDG_CONFIG_HOME to a writable folder.",
                  BrainembedWarning, stacklevel=3)
    return cortex


def pycortex_available() -> tuple[bool, str]:
    """Whether pycortex can be imported here.

    Returns
    -------
    ok : bool
    reason : str
        Why not, when ``ok`` is False (empty otherwise).
    """
    try:
        _import_cortex()
    except ImportError:
        return False, "pycortex is not installed"
    except Exception as err:  # pycortex fails at import for set-up reasons (its build)
        return False, f"importing pycortex failed: {type(err).__name__}: {err}"
    return True, ""


def pycortex_filestore(data_dir=None) -> Path:
    """brainembed's preferred pycortex filestore (not created here).

    Parameters
    ----------
    data_dir : path, optional
        Folder to use; default ``$BRAINEMBED_DATA/pycortex``, else
        ``$XDG_CACHE_HOME/brainembed/pycortex``, else
        ``~/.cache/brainembed/pycortex``.

    Returns
    -------
    Path
    """
    if data_dir is not None:
        return Path(data_dir).expanduser()
    return data_home() / "pycortex"


def _writable_filestore(data_dir=None) -> Path:
    """The filestore to build in: ``data_dir`` as given, else the preferred one or, unwritable, a session folder."""
    if data_dir is not None:
        return pycortex_filestore(data_dir)
    return writable_data_folder("pycortex", "its offline fsaverage5 pycortex subject")


def _subject_complete(folder: Path) -> bool:
    return (folder / _MARKER).is_file() and all((folder / "surfaces" / f"{s}_{h}.gii").is_file()
                                                for s in SURFACES for h in HEMIS)


def build_fsaverage5_subject(data_dir=None, *, overwrite: bool = False) -> Path:
    """Build the offline ``fsaverage5`` pycortex subject from nilearn's bundled meshes.

    Writes ``surfaces/{pia,wm,inflated,flat}_{lh,rh}.gii`` and the empty
    ``transforms``, ``anatomicals``, ``surface-info``, ``cache`` and ``views``
    folders pycortex expects. The flat surfaces are nilearn's flat meshes
    with their depth set to zero. Nothing is done when the subject is already
    complete (unless ``overwrite``); the subject appears at once, complete, or
    not at all.

    Parameters
    ----------
    data_dir : path, optional
        The filestore (default: see :func:`pycortex_filestore`; a temporary
        folder for this process when that one cannot be written).
    overwrite : bool
        Rebuild even when the subject exists.

    Returns
    -------
    Path
        The subject folder, ``<filestore>/fsaverage5``.
    """
    import nibabel as nib
    from nilearn import datasets, surface

    filestore = _writable_filestore(data_dir)
    target = filestore / SUBJECT_FSAVERAGE5
    if _subject_complete(target) and not overwrite:
        return target
    try:
        filestore.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".building-fsaverage5-", dir=filestore))
    except OSError as err:
        raise BrainembedError(f"cannot write the pycortex filestore {filestore} ({err.strerror}); choose a "
                              "writable data_dir.") from None
    try:
        for name in _SUBJECT_FOLDERS:
            (tmp / name).mkdir()
        files = datasets.fetch_surf_fsaverage("fsaverage5")
        for ours, theirs in SURFACES.items():
            for hemi, side in zip(HEMIS, ("left", "right")):
                mesh = surface.load_surf_mesh(files[f"{theirs}_{side}"])
                coords = np.asarray(mesh.coordinates, dtype=np.float32).copy()
                faces = np.asarray(mesh.faces, dtype=np.int32)
                if ours == "flat":
                    coords[:, 2] = 0.0  # pycortex reads the flat map from x and y; a few cut vertices have depth
                image = nib.gifti.GiftiImage(darrays=[
                    nib.gifti.GiftiDataArray(coords, intent="NIFTI_INTENT_POINTSET", datatype="NIFTI_TYPE_FLOAT32"),
                    nib.gifti.GiftiDataArray(faces, intent="NIFTI_INTENT_TRIANGLE", datatype="NIFTI_TYPE_INT32"),
                ])
                nib.save(image, tmp / "surfaces" / f"{ours}_{hemi}.gii")
        (tmp / _MARKER).write_text(json.dumps({"source": "nilearn fsaverage5 meshes", "made_by": "brainembed",
                                               "vertices_per_hemisphere": N_VERTICES_FSAVERAGE5}))
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


_DB_STATE = ("filestore", "_subjects", "_memocache")


@contextlib.contextmanager
def using_filestore(filestore, cache=None):
    """Point pycortex's database at ``filestore`` for the duration of a ``with`` block.

    Only the database object's own attributes are swapped, never through
    pycortex's lazy subject look-up (which lists the configured filestore), so
    the user's configured filestore need not exist. pycortex's per-subject
    caches go to ``<cache>/<subject>/cache`` when ``cache`` is given, else into
    the subject's folder, whatever the user's configuration says. Everything is
    restored afterwards. pycortex memoises surfaces by subject name, so each
    filestore keeps its own memo.

    Parameters
    ----------
    filestore : path
    cache : path, optional

    Yields
    ------
    module
        The imported ``cortex`` package.
    """
    cortex = _import_cortex()
    state = vars(cortex.db)
    config = cortex.options.config
    saved = {key: state[key] for key in _DB_STATE if key in state}
    saved_cache = config.get("basic", "cache", raw=True, fallback=None)
    path = str(filestore)
    state.update(filestore=path, _subjects=None, _memocache=_MEMO_CACHES.setdefault(path, {}))
    if cache is None:
        config.remove_option("basic", "cache")
    else:
        config.set("basic", "cache", str(cache).replace("%", "%%"))
    try:
        yield cortex
    finally:
        for key in _DB_STATE:
            if key in saved:
                state[key] = saved[key]
            else:
                state.pop(key, None)
        if saved_cache is None:
            config.remove_option("basic", "cache")
        else:
            config.set("basic", "cache", saved_cache)


def _user_filestore() -> Path | None:
    """The filestore of the user's pycortex configuration, when it is a readable folder (else None)."""
    cortex = _import_cortex()
    store = vars(cortex.db).get("filestore") or getattr(cortex.database, "default_filestore", None)
    if not store:
        return None
    path = Path(store).expanduser()
    return path if os.path.isdir(path) and os.access(path, os.R_OK | os.X_OK) else None


def _subject_vertices(filestore: Path, name: str) -> int | None:
    """Vertices per hemisphere of a subject's flat surface, read from its file (None if absent or unreadable)."""
    cortex = _import_cortex()
    try:
        with _quiet():
            pts, _ = cortex.formats.read(os.path.join(filestore, name, "surfaces", "flat_lh"))
    except Exception:  # an unreadable subject is treated as absent
        return None
    return int(np.shape(pts)[0])


def _made_by_brainembed(filestore: Path, name: str) -> bool:
    return os.path.isfile(os.path.join(filestore, name, _MARKER))


def _user_subject_cache(filestore: Path) -> Path:
    """Where pycortex's caches for a subject of the user's database go: brainembed's folder, not theirs."""
    digest = hashlib.sha1(os.fsencode(os.path.abspath(filestore))).hexdigest()[:12]
    return writable_data_folder("pycortex-caches", "pycortex's caches for your pycortex subjects") / digest


#: Names looked for in the user's pycortex database, per vertices per hemisphere.
USER_SUBJECT_NAMES = {163842: ("fsaverage",), 40962: ("fsaverage6",), N_VERTICES_FSAVERAGE5: ("fsaverage5",),
                      32492: ("fsLR32k", "fs_LR_32k", "32k_fs_LR", "fsLR")}


def user_fsaverage_subject(n_vertices: int) -> tuple[str, Path] | None:
    """A subject of the user's pycortex database with ``n_vertices`` per hemisphere.

    Looks for ``fsaverage`` (163842), ``fsaverage6`` (40962) or
    ``fsaverage5`` (10242) -- or, for fsLR-32k data (32492), a subject named
    ``fsLR32k``, ``fs_LR_32k``, ``32k_fs_LR`` or ``fsLR`` -- in the filestore of
    the user's pycortex configuration. A configured filestore that is
    missing, is a file or cannot be read holds no subject.

    Returns
    -------
    (name, filestore) or None
    """
    store = _user_filestore()
    if store is None:
        return None
    for name in USER_SUBJECT_NAMES.get(int(n_vertices), ()):
        if os.path.isdir(store / name) and _subject_vertices(store, name) == n_vertices:
            return name, store
    return None


def resolve_subject(n_vertices: int, subject=None, data_dir=None) -> tuple[str, Path, int]:
    """The pycortex subject that draws data of ``n_vertices`` per hemisphere.

    Parameters
    ----------
    n_vertices : int
        Length of the per-hemisphere arrays.
    subject : str or (str, path), optional
        A subject name in the user's pycortex database, or a (name, filestore)
        pair. Default: the user's fsaverage subject of this size, else
        brainembed's offline fsaverage5.
    data_dir : path, optional
        brainembed's filestore (see :func:`pycortex_filestore`).

    Returns
    -------
    name : str
    filestore : Path
    vertices : int
        Vertices per hemisphere of that subject.
    """
    if subject is not None:
        name, store = (subject, _user_filestore()) if isinstance(subject, str) else (subject[0], Path(subject[1]))
        if store is None:
            raise BrainembedError(f"pycortex subject {name!r} was asked for, but pycortex's configured filestore is "
                                  "not a readable folder; pass (name, filestore) instead.")
        size = _subject_vertices(store, name)
        if size is None:
            raise BrainembedError(f"pycortex subject {name!r} is not in the filestore {store} (or has no flat "
                                  "surface).")
        return name, store, size
    found = user_fsaverage_subject(n_vertices)
    if found is not None:
        return found[0], found[1], int(n_vertices)
    return SUBJECT_FSAVERAGE5, build_fsaverage5_subject(data_dir).parent, N_VERTICES_FSAVERAGE5


def _outlines_possible(filestore: Path, name: str) -> tuple[bool, str]:
    folder = Path(filestore) / name
    if not ((folder / "overlays.svg").is_file() or (folder / "rois.svg").is_file()):
        return False, f"pycortex subject {name!r} has no ROI overlays"
    cortex = _import_cortex()
    inkscape = getattr(getattr(cortex, "svgoverlay", None), "INKSCAPE_PATH", None) or "inkscape"
    if shutil.which(str(inkscape)) is None:
        return False, "Inkscape is not installed"
    return True, ""


def _draw(ax, values, name, store, n_subject, cmap, vmin, vmax, with_curvature, with_rois, height) -> None:
    """pycortex's flatmap of ``values`` (one array per hemisphere) on subject ``name`` of ``store``, into ``ax``."""
    if with_rois == "auto":
        with_rois = _outlines_possible(store, name)[0]
    elif with_rois:
        ok, why = _outlines_possible(store, name)
        if not ok:
            warnings.warn(f"ROI outlines skipped: {why}.", BrainembedWarning, stacklevel=3)
            with_rois = False
    data = np.concatenate([values.get(h, np.full(n_subject, np.nan)) for h in HEMIS])
    options = dict(with_rois=bool(with_rois), with_sulci=False, with_labels=bool(with_rois), with_colorbar=False,
                   height=int(height))
    cache = None if _made_by_brainembed(store, name) else _user_subject_cache(store)
    failure = None
    with using_filestore(store, cache) as cortex, _quiet():  # pycortex's deprecation and sparse-matrix chatter
        # cmap is a matplotlib Colormap, so pycortex never looks in its configured colour-map folder.
        view = cortex.Vertex(data, name, cmap=cmap, vmin=vmin, vmax=vmax)
        try:
            cortex.quickflat.make_figure(view, fig=ax, with_curvature=with_curvature, **options)
        except Exception as err:
            if not with_curvature:
                raise
            failure = f"{type(err).__name__}: {err}"
            ax.clear()
            cortex.quickflat.make_figure(view, fig=ax, with_curvature=False, **options)
    if failure:
        warnings.warn(f"curvature shading skipped ({failure}).", BrainembedWarning, stacklevel=3)


def plot_flatmap_pycortex(per_hemi: dict, *, ax=None, categorical: bool | None = None, cmap=None, vmin=None,
                          vmax=None, title: str | None = None, legend: bool = True, colorbar: bool = True,
                          labels=None, subject=None, data_dir=None, with_curvature: bool = True,
                          with_rois="auto", height: int = 1024):
    """Draw vertex values on a pycortex flatmap (both hemispheres) into a matplotlib Axes.

    Parameters
    ----------
    per_hemi : dict
        ``{"lh": array (n_vertices,), "rh": array (n_vertices,)}`` on
        fsaverage5, fsaverage6 or fsaverage (see
        :func:`brainembed.viz.flatmap.voxels_to_vertices`); NaN/None vertices
        are transparent over the curvature.
    ax : matplotlib Axes, optional
    categorical : bool, optional
        Labels with a qualitative colour map (default: True when the values
        are not numbers).
    cmap, vmin, vmax : colour map settings (see :func:`brainembed.viz.flatmap.plot_flatmap`).
    title : str, optional
    legend, colorbar : bool
        Add a legend (categories) or a colour bar (numbers).
    labels : list, optional
        Category order, so that several maps share colours.
    subject : str or (str, path), optional
        pycortex subject to draw on (see :func:`resolve_subject`). Values on a
        finer mesh than the subject's are subsampled to it.
    data_dir : path, optional
        brainembed's pycortex filestore (see :func:`pycortex_filestore`).
    with_curvature : bool
        Shade the background by cortical curvature.
    with_rois : bool or "auto"
        Draw ROI outlines ("auto": when the subject has overlays and Inkscape
        is installed; asking for them without either warns and skips them).
    height : int
        Height in pixels of pycortex's flatmap image.

    Returns
    -------
    ax : matplotlib Axes
    """
    import matplotlib.pyplot as plt


    values = {h: np.asarray(per_hemi[h]) for h in HEMIS if h in per_hemi}
    if not values:
        raise BrainembedError("nothing to draw: give values for 'lh' and/or 'rh'.")
    sizes = {v.shape[0] for v in values.values()}
    if len(sizes) != 1:
        raise BrainembedError(f"the hemispheres have different lengths {sorted(sizes)}.")
    n = sizes.pop()
    name, store, n_subject = resolve_subject(n, subject, data_dir)
    if n == 32492 and n_subject != n:
        raise fslr_unavailable()
    if n != n_subject:
        if n < n_subject:
            raise BrainembedError(f"{n} values per hemisphere do not fit pycortex subject {name!r} "
                                  f"({n_subject} vertices).")
        values = {h: v[:n_subject] for h, v in values.items()}  # nested icosahedra: a subsample
    values, categorical, labels, cmap, vmin, vmax = colour_values(values, categorical=categorical, labels=labels,
                                                                  cmap=cmap, vmin=vmin, vmax=vmax)
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 4.5))
    try:
        _draw(ax, values, name, store, n_subject, cmap, vmin, vmax, with_curvature, with_rois, height)
    except OSError as err:  # a subject of the user's database that pycortex cannot use after all
        if _made_by_brainembed(store, name):
            raise
        warnings.warn(f"cannot draw on your pycortex subject {name!r} in {store} ({err.strerror or err}); drawn on "
                      "brainembed's offline fsaverage5 instead.", BrainembedWarning, stacklevel=2)
        ax.clear()
        store = build_fsaverage5_subject(data_dir).parent
        values = {h: v[:N_VERTICES_FSAVERAGE5] for h, v in values.items()}
        _draw(ax, values, SUBJECT_FSAVERAGE5, store, N_VERTICES_FSAVERAGE5, cmap, vmin, vmax, with_curvature,
              with_rois, height)
    ax.axis("off")
    if title:
        ax.set_title(title)
    if categorical and legend and labels:
        category_legend(ax, labels, cmap, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=min(len(labels), 10))
    elif not categorical and colorbar:
        from matplotlib.cm import ScalarMappable
        from matplotlib.colors import Normalize

        ax.figure.colorbar(ScalarMappable(norm=Normalize(vmin, vmax), cmap=cmap), ax=ax, shrink=0.6)
    return ax
