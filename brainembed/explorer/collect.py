"""Everything the explorer shows, gathered from the tables of one clustering.

:func:`explorer_data` reads ``RUN/clusters/<tag>/`` -- the folder that
``brainembed cluster`` writes -- and returns one JSON-ready dict. Nothing is
recomputed: cluster sizes, overlaps, ground truth and top images are the rows
of ``sizes.csv``, ``overlap.csv``, ``truth_clusters.csv`` and
``top_images.csv`` as they are; per-voxel colours come from ``labels.csv``;
the only aggregates made here are counts of ``labels.csv`` rows (voxels per
ROI and cluster) and means of ``activation.csv`` columns per image category.
Pixels of the top images come from the run's crowd store.
"""

from __future__ import annotations

import base64
import io
import math
from pathlib import Path

import numpy as np
import pandas as pd

from brainembed.data.subjects import subject_key
from brainembed.errors import BrainembedError
from brainembed.validation import is_integer

#: Version of the data layout embedded in the page.
DATA_VERSION = 1
SIZE_COLUMNS = ("n_voxels", "cluster_size", "share_of_cluster", "share_of_subject")
OVERLAP_COLUMNS = ("subject_a", "subject_b", "n_vertices_a", "n_vertices_b", "n_shared", "n_union", "jaccard",
                   "share_differ", "share_a_only", "share_b_only", "chance_jaccard", "matched")
TRUTH_CLUSTER_COLUMNS = ("planted_region", "planted_region_share", "planted_category",
                         "planted_category_voxel_share", "n_top", "top_category", "top_category_share", "dominated",
                         "planted_category_top_share")
TOP_COLUMNS = ("rank", "image_id", "activation", "category")


def _plain(value):
    """A JSON-ready scalar: numpy types unwrapped, NaN/inf as None."""
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return value if math.isfinite(value) else None
    if value is None or (isinstance(value, str)):
        return value
    if pd.isna(value):
        return None
    return value


def _records(table: pd.DataFrame, columns) -> list[dict]:
    present = [c for c in columns if c in table.columns]
    return [{c: _plain(v) for c, v in zip(present, row)} for row in table[present].itertuples(index=False)]


def _read_table(folder: Path, name: str) -> pd.DataFrame | None:
    path = folder / name
    if not path.is_file():
        return None
    try:
        return pd.read_csv(path, dtype={"dataset": str, "subject": str, "subject_a": str, "subject_b": str,
                                        "category": str, "top_category": str, "planted_region": str,
                                        "planted_category": str},
                           keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError):
        raise BrainembedError(f"{path} is not a readable CSV table.") from None


def _hex(rgba) -> str:
    return "#" + "".join(f"{int(round(255 * float(c))):02x}" for c in rgba[:3])


def _palette(labels: list) -> list[str]:
    from brainembed.viz.colours import categorical_colormap

    cmap = categorical_colormap(len(labels), labels=labels)
    return [_hex(cmap(k)) for k in range(len(labels))]


THUMBNAIL_FORMATS = {"png": ("PNG", {"optimize": True}), "jpeg": ("JPEG", {"quality": 90}),
                     "webp": ("WEBP", {"quality": 90})}


def _read_pool(folder: Path) -> str | None:
    """The image pool a clustering's top images were ranked over (``pool.txt``), or None if unrecorded."""
    path = Path(folder) / "pool.txt"
    return path.read_text().strip() if path.is_file() else None


def _folder_thumbnails(pool: Path, top: pd.DataFrame, size: int, fmt: str) -> tuple[dict, list]:
    """Thumbnails of top images ranked over a folder, read from their files (square centre crops)."""
    from PIL import Image, ImageOps

    images, missing = {}, []
    for image_id, name in dict(zip(top["image_id"].astype(int), top["file"].astype(str))).items():
        try:
            with Image.open(pool / name) as image:
                square = ImageOps.fit(image.convert("RGB"), (size, size), Image.LANCZOS)
            images[str(image_id)] = _thumbnail(np.asarray(square), size, fmt)
        except OSError:
            missing.append(image_id)
    return images, missing


def _thumbnail(pixels: np.ndarray, size: int, fmt: str = "png") -> str:
    from PIL import Image

    image = Image.fromarray(np.asarray(pixels, dtype=np.uint8))
    if max(image.size) > size:
        image = image.resize((size, size), Image.LANCZOS)
    name, options = THUMBNAIL_FORMATS[fmt]
    buffer = io.BytesIO()
    image.save(buffer, format=name, **options)
    return f"data:image/{fmt};base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _category_profile(activation: pd.DataFrame, clusters, store) -> tuple[list, dict]:
    """Mean activation per image category of every cluster (``activation.csv`` by the store's categories)."""
    if activation is None or store is None or "image_id" not in activation.columns:
        return [], {}
    ids = activation["image_id"].to_numpy()
    images = store.read_image_store(ids)
    if "category" not in images.metadata.columns or len(images.ids) == 0:
        return [], {}
    category_of = dict(zip(images.ids.tolist(), images.metadata["category"].astype(str)))
    categories = activation["image_id"].map(category_of)
    names = sorted(c for c in categories.dropna().unique())
    profiles = {}
    for c in clusters:
        column = str(c)
        if column not in activation.columns:
            continue
        means = activation[column].groupby(categories).mean()
        counts = categories.value_counts()
        profiles[c] = [{"category": n, "mean_activation": _plain(means.get(n)), "n_images": int(counts.get(n, 0))}
                       for n in names]
    return names, profiles


def explorer_data(run, tag: str, *, store_path=None, subjects=None, map_width: int = 1800,
                  thumbnail_size: int = 96, thumbnail_format: str = "png", title: str | None = None) -> dict:
    """Gather the explorer's data from one clustering of a run.

    Parameters
    ----------
    run : path or RunDirectory
        Run folder.
    tag : str
        Clustering tag (a folder of ``RUN/clusters``).
    store_path : path, optional
        Crowd store holding the top images' pixels and categories; without
        it the page shows image ids but no thumbnails.
    subjects : sequence of str, optional
        ``"dataset:subject"`` keys to draw (default: every subject of the
        clustering, in its order).
    map_width : int, default=1800
        Width in pixels of each flatmap picture (both hemispheres).
    thumbnail_size : int, default=96
        Largest side of the embedded top-image thumbnails.
    thumbnail_format : {"png", "jpeg", "webp"}, default="png"
        Encoding of the thumbnails: lossless PNG, or JPEG/WebP (quality 90),
        about 4 and 8 times smaller for the simulated stimuli at 96 pixels.
    title : str, optional
        Page title (default: the run folder's name and the tag).

    Returns
    -------
    dict
        JSON-ready: ``meta``, ``map`` (backdrop picture and size),
        ``subjects`` (per subject: voxel-id map and per-voxel cluster, ROI,
        region, hemisphere, vertex and pixel position), ``clusters`` (per
        cluster: colour, sizes, overlap, ground truth, top images, ROI counts,
        category profile), ``rois``, ``regions``, ``images`` (thumbnails by
        image id), ``truth`` (rows of ``truth.csv``).
    """
    from brainembed.analysis import load_clustering
    from brainembed.explorer.raster import (
        backdrop_data_uri,
        flat_layout,
        png_data_uri,
        voxel_id_image,
        voxel_vertices,
    )
    from brainembed.training.run import RunDirectory

    if thumbnail_format not in THUMBNAIL_FORMATS:
        raise BrainembedError(f"unknown thumbnail format {thumbnail_format!r}; choose png, jpeg or webp.")
    if not is_integer(thumbnail_size) or thumbnail_size < 8:
        raise BrainembedError(f"the thumbnail size must be an integer of at least 8 pixels, got {thumbnail_size!r}.")
    run = RunDirectory.of(run)
    folder = run.clustering_dir(tag)
    labels = load_clustering(run, tag)
    if "cluster" not in labels.columns or labels.empty:
        raise BrainembedError(f"{folder / 'labels.csv'} holds no cluster labels.")
    labels = labels.assign(key=subject_key(labels["dataset"], labels["subject"]))
    order = list(dict.fromkeys(labels["key"]))
    keys = order if subjects is None else [str(s) for s in subjects]
    unknown = [k for k in keys if k not in order]
    if unknown:
        raise BrainembedError(f"subject(s) {', '.join(unknown)} are not in clustering {tag}; it has "
                              f"{', '.join(order)}.")
    if not keys:
        raise BrainembedError("the explorer needs at least one subject.")
    labels = labels[labels["key"].isin(keys)]
    clusters = sorted(int(c) for c in labels["cluster"].unique())
    colours = dict(zip(clusters, _palette(clusters)))

    sizes = _read_table(folder, "sizes.csv")
    overlap = _read_table(folder, "overlap.csv")
    top = _read_table(folder, "top_images.csv")
    truth = _read_table(folder, "truth.csv")
    truth_clusters = _read_table(folder, "truth_clusters.csv")
    activation = _read_table(folder, "activation.csv")

    rois = sorted(labels["roi"].dropna().astype(str).unique()) if "roi" in labels.columns else []
    regions = sorted(labels["region"].dropna().astype(str).unique()) if "region" in labels.columns else []
    has_surface = {"hemi", "vertex"} <= set(labels.columns)
    layout = flat_layout(map_width) if has_surface else None

    subject_rows = []
    for key in keys:
        rows = labels[labels["key"] == key].sort_values("voxel", kind="stable")
        entry = {"key": key, "dataset": str(rows["dataset"].iloc[0]), "subject": str(rows["subject"].iloc[0]),
                 "n_voxels": int(len(rows)), "voxel": rows["voxel"].astype(int).tolist(),
                 "cluster": rows["cluster"].astype(int).tolist()}
        for name, values in (("roi", rois), ("region", regions)):
            if values:
                index = {v: i for i, v in enumerate(values)}
                entry[name] = [index.get(v, -1) if isinstance(v, str) else -1 for v in rows[name]]
        if layout is not None:
            hemi, vertex = voxel_vertices(rows)
            x = np.full(len(rows), np.nan)
            y = np.full(len(rows), np.nan)
            for h in ("lh", "rh"):
                sel = hemi == h
                x[sel], y[sel] = layout.xy[h][vertex[sel]].T
            entry.update(hemi=[h or None for h in hemi.tolist()], vertex=vertex.tolist(),
                         x=[_plain(round(v, 1)) for v in x], y=[_plain(round(v, 1)) for v in y],
                         ids=png_data_uri(voxel_id_image(layout, hemi, vertex)),
                         n_drawn=int((hemi != "").sum()))
        subject_rows.append(entry)

    store = None
    if store_path is not None and Path(store_path).exists():
        from brainembed.data import CrowdStore

        store = CrowdStore(store_path)
    try:
        categories, profiles = _category_profile(activation, clusters, store)
        images, missing_images = {}, []
        pool = _read_pool(folder)
        if top is not None and pool not in (None, "test", "all") and "file" in top.columns:
            # Ranked over a folder of images: ids are positions in that folder, not store ids.
            images, missing_images = _folder_thumbnails(Path(pool), top, thumbnail_size, thumbnail_format)
        elif top is not None and store is not None and "image_id" in top.columns:
            wanted = sorted(set(int(i) for i in top["image_id"]))
            try:
                pixels = store.read_images(wanted)
                images = {str(i): _thumbnail(p, thumbnail_size, thumbnail_format) for i, p in zip(wanted, pixels)}
            except BrainembedError:
                missing_images = wanted
    finally:
        if store is not None:
            store.close()

    cluster_rows = []
    for c in clusters:
        in_c = labels[labels["cluster"] == c]
        entry = {"id": c, "colour": colours[c], "n_voxels": int(len(in_c)),
                 "n_voxels_by_subject": {k: int((in_c["key"] == k).sum()) for k in keys}}
        if sizes is not None:
            rows = sizes[(sizes["cluster"] == c) & subject_key(sizes["dataset"], sizes["subject"]).isin(keys)]
            rows = rows.assign(key=subject_key(rows["dataset"], rows["subject"]))
            entry["sizes"] = [{"subject": k, **r} for k, r in zip(rows["key"], _records(rows, SIZE_COLUMNS))]
        if overlap is not None:
            rows = overlap[(overlap["cluster"] == c) & overlap["subject_a"].isin(keys)
                           & overlap["subject_b"].isin(keys)]
            entry["overlap"] = _records(rows, OVERLAP_COLUMNS)
        if truth_clusters is not None:
            rows = truth_clusters[truth_clusters["cluster"] == c]
            if len(rows):
                entry["truth"] = _records(rows, TRUTH_CLUSTER_COLUMNS)[0]
        if top is not None:
            rows = top[top["cluster"] == c].sort_values("rank")
            entry["top"] = _records(rows, TOP_COLUMNS)
        if rois:
            counts = in_c.groupby(["roi", "key"]).size().unstack(fill_value=0)
            counts = counts.reindex(columns=keys, fill_value=0)
            counts = counts.loc[counts.sum(axis=1).sort_values(ascending=False, kind="stable").index]
            entry["rois"] = [{"roi": str(r), "n_voxels": int(v.sum()),
                              "by_subject": {k: int(v[k]) for k in keys}} for r, v in counts.iterrows()]
        if c in profiles:
            entry["profile"] = profiles[c]
        entry["label"] = _cluster_label(entry)
        cluster_rows.append(entry)

    roi_rows = []
    if rois:
        for roi in rois:
            in_roi = labels[labels["roi"] == roi]
            counts = in_roi.groupby(["cluster", "key"]).size().unstack(fill_value=0).reindex(columns=keys,
                                                                                            fill_value=0)
            counts = counts.loc[counts.sum(axis=1).sort_values(ascending=False, kind="stable").index]
            roi_rows.append({"roi": roi, "n_voxels": int(len(in_roi)),
                             "n_voxels_by_subject": {k: int((in_roi["key"] == k).sum()) for k in keys},
                             "clusters": [{"cluster": int(c), "n_voxels": int(v.sum()),
                                           "by_subject": {k: int(v[k]) for k in keys}}
                                          for c, v in counts.iterrows()]})

    simulated = truth_clusters is not None or "region" in labels.columns
    where = run.path.resolve()
    meta = {"title": title or f"{where.parent.name}/{where.name} · {tag}", "run": str(where), "tag": str(tag),
            "clusters_folder": str(folder.resolve()), "n_clusters": len(clusters), "subjects": keys,
            "n_voxels": int(len(labels)), "simulated": bool(simulated), "categories": categories,
            "store": str(store_path) if store_path is not None else None,
            "missing_images": len(missing_images),
            "tables": sorted(p.name for p in folder.glob("*.csv"))}
    try:
        from brainembed import __version__

        meta["brainembed_version"] = __version__
    except ImportError:  # pragma: no cover
        pass
    data = {"version": DATA_VERSION, "meta": meta, "subjects": subject_rows, "clusters": cluster_rows,
            "rois": roi_rows, "roi_names": rois, "regions": regions, "images": images,
            "truth": _records(truth, tuple(truth.columns)) if truth is not None else []}
    if rois:
        data["roi_colours"] = _palette(rois)
    if regions:
        data["region_colours"] = _palette(regions)
    if layout is not None:
        data["map"] = {"width": layout.width, "height": layout.height, "backdrop": backdrop_data_uri(layout.width),
                       "data_box": _data_box(subject_rows, layout),
                       "hemispheres": [{"name": name, "x": float(np.mean(layout.xy[h][np.unique(layout.faces[h]), 0]))}
                                       for h, name in (("lh", "left hemisphere"), ("rh", "right hemisphere"))]}
    return data


def _cluster_label(entry: dict) -> str:
    """Short description for the legend: the dominant top-image category when there is one."""
    truth = entry.get("truth") or {}
    if truth.get("top_category") and truth.get("top_category_share") is not None:
        return f"{truth['top_category']} {round(100 * truth['top_category_share'])}%"
    categories = [t.get("category") for t in entry.get("top", []) if t.get("category")]
    if categories:
        name, count = pd.Series(categories).value_counts().index[0], pd.Series(categories).value_counts().iloc[0]
        return f"{name} {round(100 * count / len(categories))}%"
    return ""


def _data_box(subject_rows, layout, margin: float = 30.0) -> list[float]:
    """Pixel box (x0, y0, x1, y1) around every drawn voxel, or the whole picture."""
    xs = np.array([v for s in subject_rows for v in s.get("x", []) if v is not None], dtype=float)
    ys = np.array([v for s in subject_rows for v in s.get("y", []) if v is not None], dtype=float)
    if xs.size == 0:
        return [0.0, 0.0, float(layout.width), float(layout.height)]
    return [float(max(0.0, xs.min() - margin)), float(max(0.0, ys.min() - margin)),
            float(min(layout.width, xs.max() + margin)), float(min(layout.height, ys.max() + margin))]
