"""Colours of per-voxel values on flatmaps, shared by both renderers.

Categorical values (ROI names, cluster labels) get a qualitative map with one
colour per category and :data:`NEUTRAL_LABELS` in pale grey; numbers get a
diverging map centred on zero when they have both signs, else ``viridis``.
:mod:`brainembed.viz.flatmap` (nilearn) and :mod:`brainembed.viz.pycortex_flatmap`
both import from here, so neither imports the other for its colours.
"""

from __future__ import annotations

import numpy as np

#: Category labels meaning "none of the others": listed last and drawn in pale grey.
NEUTRAL_LABELS = ("other", "none", "unknown", "n/a", "")
_NEUTRAL_COLOUR = (0.93, 0.93, 0.93, 1.0)


def _is_missing(v) -> bool:
    return v is None or (isinstance(v, float) and v != v) or (isinstance(v, np.floating) and np.isnan(v))


def _tidy_label(v):
    """Plain Python label: integer-valued numbers as int, other numbers as float, the rest as str."""
    if isinstance(v, (bool, np.bool_)):
        return int(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return int(v) if float(v).is_integer() else float(v)
    return str(v)


def category_labels(arrays) -> list:
    """Sorted distinct labels over several arrays (numbers, then text, then :data:`NEUTRAL_LABELS`).

    Parameters
    ----------
    arrays : iterable of array-like
        Label arrays; None and NaN entries are ignored.

    Returns
    -------
    list
    """
    seen = {_tidy_label(v) for arr in arrays for v in np.asarray(arr, dtype=object).ravel() if not _is_missing(v)}
    numbers = sorted(v for v in seen if not isinstance(v, str))
    texts = sorted(v for v in seen if isinstance(v, str) and v.lower() not in NEUTRAL_LABELS)
    neutral = sorted(v for v in seen if isinstance(v, str) and v.lower() in NEUTRAL_LABELS)
    return numbers + texts + neutral


def encode_categories(arr, labels) -> np.ndarray:
    """Label array -> float codes (position in ``labels``; NaN where missing or not listed)."""
    code = {lab: k for k, lab in enumerate(labels)}
    return np.array([np.nan if _is_missing(v) else code.get(_tidy_label(v), np.nan)
                     for v in np.asarray(arr, dtype=object).ravel()], dtype=float)


def categorical_colormap(n: int, cmap=None, labels=None):
    """A qualitative colour map with exactly ``n`` colours.

    Parameters
    ----------
    n : int
        Number of categories.
    cmap : str or Colormap, optional
        Colours to take from (default: the 10 strong colours of tab10, then
        the 10 light ones of tab20, then tab20b and tab20c up to 60, then
        evenly spaced hues).
    labels : list, optional
        The categories; those in :data:`NEUTRAL_LABELS` (e.g. ``"other"``)
        are drawn in pale grey and take no colour from the palette.

    Returns
    -------
    matplotlib.colors.ListedColormap
        Category ``k`` is drawn with code ``k`` under ``vmin=-0.5, vmax=n-0.5``.
    """
    import matplotlib
    from matplotlib.colors import ListedColormap

    n = max(int(n), 1)
    if isinstance(cmap, ListedColormap) and cmap.N == n and cmap.name.startswith("brainembed_categories"):
        return cmap  # already made for these categories
    neutral = [labels is not None and k < len(labels) and isinstance(labels[k], str)
               and labels[k].lower() in NEUTRAL_LABELS for k in range(n)]
    m = max(n - sum(neutral), 1)
    if cmap is not None:
        base = matplotlib.colormaps[cmap] if isinstance(cmap, str) else cmap
        palette = [base(k) for k in range(m)] if isinstance(base, ListedColormap) and base.N >= m \
            else [base(x) for x in np.linspace(0, 1, m)]
    elif m <= 60:
        tab20 = matplotlib.colormaps["tab20"].colors
        palette = (list(tab20[0::2]) + list(tab20[1::2]) + list(matplotlib.colormaps["tab20b"].colors)
                   + list(matplotlib.colormaps["tab20c"].colors))[:m]
    else:
        palette = [matplotlib.colormaps["hsv"](x) for x in np.linspace(0, 1, m, endpoint=False)]
    palette = iter(palette)
    colours = [_NEUTRAL_COLOUR if is_neutral else next(palette) for is_neutral in neutral]
    return ListedColormap(colours, name=f"brainembed_categories_{n}").with_extremes(bad=(0, 0, 0, 0))


def continuous_limits(arrays, vmin=None, vmax=None, cmap=None):
    """Colour map and limits shared by several value arrays.

    Values of both signs get a diverging map (``RdBu_r``) centred on zero;
    otherwise ``viridis`` from the smallest to the largest finite value.

    Returns
    -------
    cmap : Colormap
    vmin, vmax : float
    """
    import matplotlib

    finite = np.concatenate([np.asarray(a, dtype=float)[np.isfinite(np.asarray(a, dtype=float))] for a in arrays]
                            or [np.array([])])
    lo = float(finite.min()) if finite.size else 0.0
    hi = float(finite.max()) if finite.size else 1.0
    diverging = lo < 0 < hi
    if diverging and vmin is None and vmax is None:
        bound = max(abs(lo), abs(hi))
        lo, hi = -bound, bound
    vmin = lo if vmin is None else float(vmin)
    vmax = hi if vmax is None else float(vmax)
    if vmax <= vmin:
        vmax = vmin + 1.0
    name = cmap or ("RdBu_r" if diverging else "viridis")
    out = (matplotlib.colormaps[name] if isinstance(name, str) else name).with_extremes(bad=(0, 0, 0, 0))
    return out, vmin, vmax


def _label_text(label) -> str:
    return f"{label:g}" if isinstance(label, float) else str(label)


def category_legend(target, labels, cmap, *, title=None, **kw):
    """Add a legend of coloured patches, one per category, to an Axes or Figure.

    Parameters
    ----------
    target : matplotlib Axes or Figure
    labels : list
        Category labels in code order.
    cmap : Colormap
        Colour of code ``k`` is ``cmap(k)``.
    title : str, optional
    **kw
        Passed to ``legend`` (e.g. ``loc``, ``bbox_to_anchor``, ``ncol``).

    Returns
    -------
    matplotlib.legend.Legend
    """
    from matplotlib.patches import Patch

    handles = [Patch(facecolor=cmap(k), edgecolor="none", label=_label_text(lab)) for k, lab in enumerate(labels)]
    kw.setdefault("ncol", min(len(handles), 10) or 1)
    kw.setdefault("fontsize", "small")
    kw.setdefault("frameon", False)
    return target.legend(handles=handles, title=title, **kw)


def colour_values(per_hemi: dict, *, categorical=None, labels=None, cmap=None, vmin=None, vmax=None):
    """Values per hemisphere turned into what a renderer draws, with their colour map and limits.

    Parameters
    ----------
    per_hemi : dict
        ``{"lh": array of shape (n_vertices,), "rh": ...}``.
    categorical : bool, optional
        Default: categorical when any array is not numeric.
    labels : list, optional
        Categories in code order (default :func:`category_labels` of the values).
    cmap : str or Colormap, optional
    vmin, vmax : float, optional
        Limits of continuous values.

    Returns
    -------
    values : dict
        Float arrays per hemisphere (category codes for categorical values).
    categorical : bool
    labels : list or None
        Categories in code order (categorical values only).
    cmap : Colormap
    vmin, vmax : float
    """
    if categorical is None:
        categorical = any(v.dtype.kind not in "iufb" for v in per_hemi.values())
    if categorical:
        labels = category_labels(per_hemi.values()) if labels is None else list(labels)
        values = {h: encode_categories(arr, labels) for h, arr in per_hemi.items()}
        return values, True, labels, categorical_colormap(len(labels), cmap, labels), -0.5, len(labels) - 0.5
    values = {h: v.astype(float) for h, v in per_hemi.items()}
    cmap, vmin, vmax = continuous_limits(values.values(), vmin, vmax, cmap)
    return values, False, labels, cmap, vmin, vmax
