"""Exploring a trained run's voxel embeddings: ``cluster``, ``top-images``, ``embed-map`` and ``rsa``.

The torch-using glue between a run folder (read through
:class:`~brainembed.training.run.RunDirectory`) and :mod:`brainembed.analysis`:
the voxel embeddings with their descriptors, predicting responses over an
image pool, and one function per command that computes, writes CSV tables and
PNG figures into the run folder, says where, and returns the results.

Outputs::

    RUN/clusters/LATEST                        tag of the last clustering
    RUN/clusters/<tag>/labels.csv              one row per voxel (see brainembed.analysis.clustering)
                       sizes.csv               cluster x subject voxel counts and shares
                       overlap.csv             fsaverage vertex overlap per cluster and subject pair
                       top_images.csv          top images of every cluster over the pool
                       activation.csv          mean (z-scored) predicted activation per image and cluster
                       truth.csv               ARI/AMI vs planted regions (simulated data)
                       truth_clusters.csv      per cluster: planted region/category, top-image category shares
                       sizes.png, overlap.png, top_images.png
    RUN/analysis/top_images/<tag>_<pool>/      top_images.csv, activation.csv, clusters.csv, top_images.png
    RUN/analysis/embed_map/<method>_<subjects>/ coords.csv, separation.csv, map.png
    RUN/analysis/rsa/<subjects>[_roi-...]/     rsa.csv, rsa.png, rdms.png
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from brainembed.data.subjects import resolve_subjects, subject_key
from brainembed.errors import BrainembedError

POOLS = ("test", "all")
MAP_COLOURS_SPECIAL = ("subject", "cluster")


def _log(progress: bool, command: str, message: str) -> None:
    if progress:
        print(f"[{command}] {message}", flush=True)


def load_embeddings(run, subjects=None, *, which: str = "best", data=None, store=None):
    """The voxel embeddings of a trained run, with each voxel's descriptors.

    Parameters
    ----------
    run : path or RunDirectory
        Run folder written by ``brainembed train``.
    subjects : sequence of str, optional
        Subject keys, or bare ids unique among the run's subjects
        (:mod:`brainembed.data.subjects`); default all.
    which : {"best", "last"}, default="best"
        Checkpoint read.
    data : path, optional
        Crowd store holding the voxel tables (default: the run's).
    store : CrowdStore, optional
        An open store to read from (then ``data`` is not used).

    Returns
    -------
    VoxelEmbeddings
        Subjects in the order given; voxels in each subject's order.
    """
    from brainembed.analysis import VoxelEmbeddings
    from brainembed.training.run import RunDirectory

    run = RunDirectory.of(run, data)
    keys = run.resolve_subjects(subjects)
    table = run.embedding_table(which)
    sizes, offsets = run.voxel_counts(), run.subject_offsets()
    if store is None:
        with run.open_store() as opened:
            return load_embeddings(run, keys, which=which, store=opened)
    tables = {}
    for key in keys:
        voxels = store.read_voxels(store.resolve(key))
        if len(voxels) != sizes[key]:
            raise BrainembedError(f"subject {key} has {len(voxels)} voxels in {store.path} but the run was "
                                  f"trained with {sizes[key]}; pass the store the run was trained on.")
        tables[key] = voxels
    rows = np.concatenate([np.arange(offsets[k], offsets[k] + sizes[k]) for k in keys])
    return VoxelEmbeddings.from_table(table[rows], tables)


def global_voxel_index(labels: pd.DataFrame, offsets: dict) -> np.ndarray:
    """Rows of the model's embedding table of voxels given by ``dataset``, ``subject``, ``voxel``.

    Returns
    -------
    array of shape (n_voxels,), int64
    """
    keys = subject_key(labels["dataset"], labels["subject"])
    unknown = sorted(set(keys) - set(offsets))
    if unknown:
        raise BrainembedError(f"subject(s) {unknown} are not part of this run.")
    return (keys.map(offsets).to_numpy(dtype=np.int64) + labels["voxel"].to_numpy(dtype=np.int64))


def predict_pool(model, pixels: np.ndarray, voxel_index, *, device="cpu", image_batch: int = 32,
                 voxel_chunk: int | None = None, progress: bool = False) -> np.ndarray:
    """Predicted responses of some voxels to a pool of images.

    Parameters
    ----------
    model : UniversalBrainEncoder
    pixels : array of shape (n_images, height, width, 3), uint8
    voxel_index : array of shape (n_voxels,)
        Rows of the model's embedding table.
    device : torch device
    image_batch : int, default=32
        Images per forward pass.
    voxel_chunk : int, optional
        Voxels per head pass (default: the model's).
    progress : bool

    Returns
    -------
    predictions : array of shape (n_images, n_voxels), float32
    """
    import torch

    from brainembed.training.predict import images_to_tensor

    device = torch.device(device)
    model = model.to(device)
    index = torch.as_tensor(np.asarray(voxel_index, dtype=np.int64), device=device)
    out = np.empty((len(pixels), index.numel()), dtype=np.float32)
    starts = range(0, len(pixels), image_batch)
    every = max(1, len(starts) // 10)
    with torch.no_grad():
        for b, lo in enumerate(starts):
            batch = images_to_tensor(model, pixels[lo:lo + image_batch], device)
            out[lo:lo + len(batch)] = model.predict(batch, index, chunk_size=voxel_chunk).float().cpu().numpy()
            if progress and len(starts) > 1 and ((b + 1) % every == 0 or b + 1 == len(starts)):
                print(f"  predicted {lo + len(batch)}/{len(pixels)} images", flush=True)
    return out


def _check_pool(pool) -> str:
    pool = str(pool)
    if pool not in POOLS and not Path(pool).is_dir():
        raise BrainembedError(f"image pool {pool!r} is neither 'test', 'all' nor an existing folder of images.")
    return pool


def pool_name(pool) -> str:
    """Short name of an image pool for file names (``test``, ``all`` or the folder's name)."""
    return pool if pool in POOLS else Path(pool).resolve().name.replace(" ", "_")


def image_pool(store, pool="test", subjects=None):
    """Images to rank clusters by.

    Parameters
    ----------
    store : CrowdStore or path
        Crowd store (an open one is left open).
    pool : {"test", "all"} or path
        ``"test"``: the test images of ``subjects`` (all subjects when None);
        ``"all"``: every stored image; a folder: every image in it and its
        sub-folders, read by :func:`brainembed.data.readers.images.read_image_folder`
        at the store's image size.
    subjects : sequence of str, optional
        Subject keys (for the ``test`` pool).

    Returns
    -------
    pixels : array of shape (n_images, H, W, 3), uint8
    image_ids : array of shape (n_images,)
        Store ids (positions for a folder).
    metadata : DataFrame with n_images rows
        The store's image metadata (the simulation's ``category``), or the
        folder's ``file`` and, where images sit in sub-folders, ``category``
        (the sub-folder's name).
    """
    from brainembed.data import CrowdStore

    pool = _check_pool(pool)
    if not isinstance(store, CrowdStore):
        with CrowdStore(store) as opened:
            return image_pool(opened, pool, subjects)
    if pool not in POOLS:
        from brainembed.data.readers.images import read_image_folder

        size = int(store.read_images(store.read_image_ids(store.keys[0])[:1]).shape[1])
        images = read_image_folder(pool, image_size=size, ids="index", recursive=True)
        metadata = images.metadata.reset_index(drop=True)[["file"]]
        parts = [Path(f).parts for f in metadata["file"]]
        if any(len(p) > 1 for p in parts):
            metadata["category"] = [p[0] if len(p) > 1 else "" for p in parts]
        return images.pixels, np.arange(len(images.pixels)), metadata
    ids = None
    if pool == "test":
        keys = resolve_subjects(subjects, store.keys)
        parts = []
        for key in keys:
            subject = store.read_subject(key, repeats=False)
            parts.append(subject.image_ids[subject.split == "test"])
        ids = np.unique(np.concatenate(parts))
        if ids.size == 0:
            raise BrainembedError(f"subjects {', '.join(keys)} have no test images; use --pool all.")
    images = store.read_image_store(ids)
    return images.pixels, images.ids, images.metadata.reset_index(drop=True)


def _rank_images(model, labels, offsets, pixels, image_ids, metadata, *, n, device, zscore=True, relative=False,
                 progress=False, command="top-images"):
    """Activation of every cluster over a pool, and its top images."""
    from brainembed.analysis import cluster_activation, top_images

    index = global_voxel_index(labels, offsets)
    _log(progress, command, f"predicting {index.size} voxels over {len(pixels)} pool images")
    predictions = predict_pool(model, pixels, index, device=device, progress=progress and len(pixels) > 256)
    activation = cluster_activation(predictions, labels["cluster"].to_numpy(), zscore=zscore, relative=relative)
    categories = metadata["category"].astype(str).to_numpy() if "category" in metadata.columns else None
    top = top_images(activation, n, image_ids=image_ids, categories=categories).assign(
        ranking="relative" if relative else "absolute")
    if "file" in metadata.columns and len(top):  # a folder pool: ids are positions, keep the file names
        top = top.assign(file=metadata["file"].astype(str).to_numpy()[top["image_id"].to_numpy(dtype=np.int64)])
    return activation, top


def write_pool(out: Path, pool) -> Path:
    """Record which image pool top images were ranked over (``pool.txt``: test, all or a folder's path)."""
    path = Path(out) / "pool.txt"
    path.write_text((pool if pool in POOLS else str(Path(pool).resolve())) + "\n")
    return path


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _agg():
    import matplotlib

    matplotlib.use("Agg", force=False)


# --------------------------------------------------------------------------- cluster
def cluster_run(run, subjects=None, k: int = 20, *, roi=None, normalize: bool = False, seed: int = 0,
                pool="test", n_top: int = 16, relative: bool = False, data=None, device="auto",
                overwrite: bool = False, progress: bool = True, figures: bool = True) -> dict:
    """Cluster the voxel embeddings of several subjects together and describe the clusters.

    Parameters
    ----------
    run : path
        Run folder.
    subjects : sequence of str, optional
        Subjects clustered together (keys, or bare ids unique in the run; default all of the run's).
    k : int, default=20
        Number of clusters.
    roi : str, optional
        Cluster only this ROI's voxels (ROI subdivision, e.g. ``"PPA"`` with k=2).
    normalize : bool, default=False
        L2-normalise the embeddings first.
    seed : int, default=0
        k-means seed.
    pool : {"test", "all"} or path, default="test"
        Images ranked for the top images (see :func:`image_pool`).
    n_top : int, default=16
        Top images per cluster (0 skips prediction and top images).
    relative : bool, default=False
        Rank images by a cluster's activation minus that of all clustered
        voxels (see :func:`~brainembed.analysis.cluster_activation`).
    data : path, optional
        Crowd store (default: the run's).
    device : str, default="auto"
    overwrite : bool, default=False
        Replace an earlier clustering with the same tag.
    progress, figures : bool

    Returns
    -------
    dict
        ``labels``, ``sizes``, ``overlap``, ``top``, ``activation``,
        ``truth``, ``truth_clusters`` (DataFrames; empty where not
        applicable), ``tag`` and ``out`` (the clustering folder).
    """
    from brainembed.analysis import (
        cluster_sizes,
        cluster_truth,
        cluster_voxels,
        clustering_tag,
        compare_to_truth,
        save_clustering,
        vertex_overlap,
    )

    if n_top:
        _check_pool(pool)
    if isinstance(n_top, bool) or not isinstance(n_top, (int, np.integer)) or n_top < 0:
        raise BrainembedError(f"the number of top images must be a non-negative integer, got {n_top!r}.")
    from brainembed.training.distributed import resolve_device
    from brainembed.training.run import RunDirectory, fresh_folder

    run = RunDirectory.of(run, data)
    keys = run.resolve_subjects(subjects)
    tag = clustering_tag(k, keys, roi=roi, normalize=normalize, random_state=seed)
    out = fresh_folder(run.clustering_dir(tag), overwrite, what="this clustering", create=False)
    device = resolve_device(device) if n_top else None
    pixels = None
    with run.open_store() as store:
        embeddings = load_embeddings(run, keys, store=store)
        if n_top:
            pixels, image_ids, metadata = image_pool(store, pool, keys)
    where = f" in ROI {roi}" if roi else ""
    _log(progress, "cluster", f"k-means with k={k} over {len(embeddings.select(roi=roi))} voxels{where} of "
                              f"{', '.join(keys)}")
    labels = cluster_voxels(embeddings, k, roi=roi, normalize=normalize, random_state=seed)
    fresh_folder(out, overwrite=True)
    save_clustering(labels, run, tag)
    sizes = cluster_sizes(labels)
    sizes.to_csv(out / "sizes.csv", index=False)
    overlap = pd.DataFrame()
    if len(keys) > 1 and "vertex" in labels.columns and "hemi" in labels.columns:
        overlap = vertex_overlap(labels)
        overlap.to_csv(out / "overlap.csv", index=False)
    activation = top = pd.DataFrame()
    if n_top:
        model = run.load_encoder("best", device=device)
        activation, top = _rank_images(model, labels, run.subject_offsets(), pixels, image_ids, metadata, n=n_top,
                                       device=device, relative=relative, progress=progress, command="cluster")
        top.to_csv(out / "top_images.csv", index=False)
        activation.assign(image_id=image_ids).to_csv(out / "activation.csv", index=False)
        write_pool(out, pool)
    truth = truth_clusters = pd.DataFrame()
    if {"region", "preferred_category"} <= set(labels.columns):
        truth = compare_to_truth(labels)
        truth.to_csv(out / "truth.csv", index=False)
        truth_clusters = cluster_truth(labels, top if "category" in top.columns else None)
        truth_clusters.to_csv(out / "truth_clusters.csv", index=False)
    if figures:
        _cluster_figures(out, sizes, overlap, pixels, top, truth_clusters, labels)
    _report_clustering(progress, labels, truth, truth_clusters, overlap)
    _log(progress, "cluster", f"clustering {tag} written to {out}")
    return {"labels": labels, "sizes": sizes, "overlap": overlap, "top": top, "activation": activation,
            "truth": truth, "truth_clusters": truth_clusters, "tag": tag, "out": out}


def _cluster_figures(out, sizes, overlap, pixels, top, truth_clusters, labels):
    _agg()
    from brainembed.viz.embeddings import plot_cluster_sizes, plot_top_images, plot_vertex_overlap

    ax = plot_cluster_sizes(sizes)
    ax.figure.tight_layout()
    _save(ax.figure, out / "sizes.png")
    if not overlap.empty:
        ax = plot_vertex_overlap(overlap)
        ax.figure.tight_layout()
        _save(ax.figure, out / "overlap.png")
    if pixels is not None and not top.empty:
        summary = truth_clusters if not truth_clusters.empty else \
            labels.groupby("cluster").size().rename("n_voxels").reset_index()
        _save(plot_top_images(pixels, top, summary=summary), out / "top_images.png")


def _report_clustering(progress, labels, truth, truth_clusters, overlap):
    if not progress:
        return
    counts = labels["cluster"].value_counts()
    _log(True, "cluster", f"{labels['cluster'].nunique()} clusters of {counts.min()}-{counts.max()} voxels")
    if not truth.empty:
        ari = truth.set_index("scope")["ari"]
        _log(True, "cluster", f"ARI vs planted regions: {ari['all']:.2f} overall, {ari['category regions']:.2f} "
                              f"in category regions, {ari['early areas']:.2f} in early areas")
    if "dominated" in truth_clusters.columns:
        _log(True, "cluster", f"{int(truth_clusters['dominated'].sum())}/{len(truth_clusters)} clusters' top images "
                              "are dominated (>= 50 %) by one category")
    if not overlap.empty and overlap["matched"].any():
        matched = overlap[overlap["matched"]]
        _log(True, "cluster", f"clusters both subjects cover: median Jaccard {matched['jaccard'].median():.2f} "
                              f"(chance {matched['chance_jaccard'].median():.2f}), median share of vertex indices "
                              f"that differ {matched['share_differ'].median():.2f}")


# --------------------------------------------------------------------------- top images
def top_images_run(run, clusters="latest", *, pool="test", n: int = 16, relative: bool = False, data=None,
                   device="auto", overwrite: bool = False, progress: bool = True, figures: bool = True) -> dict:
    """Top images of every cluster of a saved clustering over an image pool.

    Parameters
    ----------
    run : path
    clusters : str, default="latest"
        Clustering tag (a folder of ``RUN/clusters``) or ``"latest"``.
    pool : {"test", "all"} or path, default="test"
        The clustered subjects' test images, every stored image, or a folder.
    n : int, default=16
        Images per cluster.
    relative : bool, default=False
        Rank images by a cluster's activation minus that of all clustered
        voxels (see :func:`~brainembed.analysis.cluster_activation`); written
        to a folder of its own (``..._relative``).
    data : path, optional
    device : str, default="auto"
    overwrite : bool, default=False
    progress, figures : bool

    Returns
    -------
    dict
        ``top``, ``activation``, ``clusters`` (per-cluster summary: dominant
        category, and ground truth for simulated data), ``tag`` and ``out``.
    """
    from brainembed.analysis import cluster_truth, load_clustering, top_image_categories
    from brainembed.training.distributed import resolve_device
    from brainembed.training.run import RunDirectory, fresh_folder

    pool = _check_pool(pool)
    run = RunDirectory.of(run, data)
    tag = run.clustering_tag(clusters)
    labels = load_clustering(run, tag)
    suffix = "_relative" if relative else ""
    out = fresh_folder(run.output_dir("analysis", "top_images", f"{tag}_{pool_name(pool)}{suffix}"), overwrite)
    keys = list(dict.fromkeys(subject_key(labels["dataset"], labels["subject"])))
    device = resolve_device(device)
    model = run.load_encoder("best", device=device)
    pixels, image_ids, metadata = image_pool(run.store_path(), pool, keys)
    activation, top = _rank_images(model, labels, run.subject_offsets(), pixels, image_ids, metadata, n=n,
                                   device=device, relative=relative, progress=progress)
    summary = labels.groupby("cluster").size().rename("n_voxels").reset_index()
    if {"region", "preferred_category"} <= set(labels.columns):
        summary = cluster_truth(labels, top if "category" in top.columns else None)
    elif "category" in top.columns:
        summary = summary.merge(top_image_categories(top), on="cluster")
    top.to_csv(out / "top_images.csv", index=False)
    activation.assign(image_id=image_ids).to_csv(out / "activation.csv", index=False)
    summary.to_csv(out / "clusters.csv", index=False)
    write_pool(out, pool)
    if figures:
        _agg()
        from brainembed.viz.embeddings import plot_top_images

        _save(plot_top_images(pixels, top, summary=summary), out / "top_images.png")
    _log(progress, "top-images", f"top {min(n, len(pixels))} of {len(pixels)} images for {len(summary)} clusters "
                                 f"of {tag} written to {out}")
    return {"top": top, "activation": activation, "clusters": summary, "tag": tag, "out": out}


# --------------------------------------------------------------------------- embed-map
def embed_map_run(run, subjects=None, *, method: str = "tsne", color=("roi",), clusters="latest",
                  max_voxels: int | None = 5000, normalize: bool = False, seed: int = 0, data=None,
                  overwrite: bool = False, progress: bool = True, figures: bool = True) -> dict:
    """A t-SNE or UMAP map of voxel embeddings, coloured by ROI, subject, cluster or any voxel column.

    Parameters
    ----------
    run : path
    subjects : sequence of str, optional
        Default all of the run's subjects.
    method : {"tsne", "umap"}, default="tsne"
    color : sequence of str, default=("roi",)
        One panel per entry: ``roi``, ``subject``, ``cluster`` (from the
        clustering ``clusters``) or any column of the voxel table (``region``,
        ``hemi``, ``rf_x``, ...).
    clusters : str, default="latest"
        Clustering used for ``cluster`` colours.
    max_voxels : int or None, default=5000
        Larger selections are subsampled (seeded).
    normalize : bool, default=False
        L2-normalise embeddings first.
    seed : int, default=0
    data : path, optional
    overwrite : bool, default=False
    progress, figures : bool

    Returns
    -------
    dict
        ``coords`` (DataFrame: voxel descriptors, ``x``, ``y`` and one column
        per colour), ``separation`` (leave-one-out 10-NN accuracy of every
        colouring in the map and in the full embedding space) and ``out``.
    """
    from brainembed.analysis import embed_2d, knn_label_accuracy, load_clustering, subjects_tag, subsample
    from brainembed.analysis.manifold import METHODS
    from brainembed.training.run import RunDirectory, fresh_folder

    if method not in METHODS:
        raise BrainembedError(f"unknown map method {method!r}; choose 'tsne' or 'umap'.")
    color = [color] if isinstance(color, str) else list(color or ["roi"])
    run = RunDirectory.of(run, data)
    embeddings = load_embeddings(run, subjects)
    for name in color:
        if name not in MAP_COLOURS_SPECIAL and name not in embeddings.voxels.columns:
            choices = sorted(set(MAP_COLOURS_SPECIAL) | set(embeddings.voxels.columns) - {"dataset", "voxel"})
            raise BrainembedError(f"unknown colour {name!r}; choose from {', '.join(choices)}.")
    cluster_labels = load_clustering(run, clusters) if "cluster" in color else None
    out = fresh_folder(run.output_dir("analysis", "embed_map", f"{method}_{subjects_tag(embeddings.keys)}"),
                       overwrite)
    keep = subsample(len(embeddings), max_voxels, seed)
    picked = embeddings.subset(keep)
    _log(progress, "embed-map", f"{method} map of {len(picked)} voxels of {', '.join(embeddings.keys)}")
    coords = embed_2d(picked.embeddings, method, random_state=seed, normalize=normalize)
    table = picked.voxels.copy()
    table["x"], table["y"] = coords[:, 0], coords[:, 1]
    for name in color:
        if name == "subject":
            table["colour_subject"] = subject_key(table["dataset"], table["subject"])
        elif name == "cluster":
            merged = table[["dataset", "subject", "voxel"]].merge(
                cluster_labels[["dataset", "subject", "voxel", "cluster"]], how="left", on=["dataset", "subject",
                                                                                           "voxel"])
            table["colour_cluster"] = merged["cluster"].map(lambda c: "unclustered" if pd.isna(c) else str(int(c)))
        else:
            table[f"colour_{name}"] = table[name]
    rows = []
    for name in color:
        values = table[f"colour_{name}"]
        if values.dtype.kind == "f" and values.nunique() > 25:
            continue  # continuous colours (e.g. rf_x) have no groups to separate
        values = values.astype(str).to_numpy()
        rows.append({"color": name, "n_groups": int(len(set(values))),
                     "knn_accuracy_map": knn_label_accuracy(coords, values),
                     "knn_accuracy_embedding": knn_label_accuracy(picked.embeddings, values),
                     "largest_group_share": float(pd.Series(values).value_counts(normalize=True).iloc[0])})
    separation = pd.DataFrame(rows, columns=["color", "n_groups", "knn_accuracy_map", "knn_accuracy_embedding",
                                             "largest_group_share"])
    table.to_csv(out / "coords.csv", index=False)
    separation.to_csv(out / "separation.csv", index=False)
    if figures:
        _agg()
        import matplotlib.pyplot as plt

        from brainembed.viz.embeddings import plot_embedding_map

        fig, axes = plt.subplots(1, len(color), figsize=(6.2 * len(color), 5), squeeze=False)
        for ax, name in zip(axes[0], color):
            plot_embedding_map(coords, table[f"colour_{name}"].to_numpy(), ax=ax,
                               title=f"{method.upper()} of voxel embeddings, coloured by {name}")
        fig.tight_layout()
        _save(fig, out / "map.png")
    _log(progress, "embed-map", f"map written to {out}")
    return {"coords": table, "separation": separation, "out": out}


# --------------------------------------------------------------------------- rsa
def rsa_run(run, subjects=None, *, roi=None, n_permutations: int = 1000, max_voxels: int | None = 500,
            seed: int = 0, data=None, device="auto", overwrite: bool = False, progress: bool = True,
            figures: bool = True) -> dict:
    """RSA of voxel embeddings and of predicted image RDMs, per subject and ROI.

    For every subject and ROI: (1) Spearman correlation between the
    voxel-by-voxel dissimilarity (1 - Pearson r) of the voxels' embeddings
    and of their measured response profiles over the test images; (2)
    Spearman correlation between the predicted and the measured image RDMs
    (1 - Pearson r over the ROI's voxels) of the test images. Both with a
    Mantel permutation p-value.

    Parameters
    ----------
    run : path
    subjects : sequence of str, optional
        Default all of the run's subjects.
    roi : str or sequence of str, optional
        ROIs (default every ROI of the subjects).
    n_permutations : int, default=1000
    max_voxels : int or None, default=500
        Voxels per ROI in the embedding RSA (seeded subset).
    seed : int, default=0
    data : path, optional
    device : str, default="auto"
    overwrite : bool, default=False
    progress, figures : bool

    Returns
    -------
    dict
        ``table`` (one row per subject and ROI: ``embedding_rsa``,
        ``embedding_p``, ``image_rsa``, ``image_p``, voxel and image counts)
        and ``out``.
    """
    from brainembed.analysis import embedding_rsa_by_roi, image_rsa_by_roi, subjects_tag
    from brainembed.data import load_crowd
    from brainembed.training.distributed import resolve_device
    from brainembed.training.predict import predict_subject
    from brainembed.training.run import RunDirectory, fresh_folder

    run = RunDirectory.of(run, data)
    keys = run.resolve_subjects(subjects)
    rois = None if roi is None else ([roi] if isinstance(roi, str) else list(roi))
    embeddings = load_embeddings(run, keys)
    crowd = load_crowd(run.store_path(), keys, repeats=False)
    for key in keys:
        subject = crowd.subject(key)
        if "roi" not in subject.voxels.columns:
            raise BrainembedError(f"subject {key} has no ROI labels ('roi' column), so RSA per ROI is undefined.")
        present = set(subject.voxels["roi"].astype(str))
        for name in rois or []:
            if name not in present:
                raise BrainembedError(f"ROI {name!r} has no voxels in subject {key}; choose from "
                                      f"{', '.join(sorted(present))}.")
        if subject.rows("test").size < 3:
            raise BrainembedError(f"subject {key} has {subject.rows('test').size} test images; RSA needs at least 3.")
    suffix = f"_roi-{'+'.join(rois)}" if rois else ""
    out = fresh_folder(run.output_dir("analysis", "rsa", f"{subjects_tag(keys)}{suffix}"), overwrite)
    device = resolve_device(device)
    model = run.load_encoder("best", device=device)
    offsets, config = run.subject_offsets(), run.read_config()
    tables, example = [], None
    for key in keys:
        subject = crowd.subject(key)
        test = subject.rows("test")
        true = subject.responses[test]
        _log(progress, "rsa", f"{key}: predicting {test.size} test images, RSA per ROI")
        pred = predict_subject(model, crowd, key, test, device=device, voxel_offset=offsets[key],
                               voxel_chunk=config.training.predict_chunk)
        labels = subject.voxels["roi"].astype(str).to_numpy()
        own = embeddings.select([key]).embeddings
        emb = embedding_rsa_by_roi(own, true, labels, rois=rois, max_voxels=max_voxels,
                                   n_permutations=n_permutations, random_state=seed)
        img = image_rsa_by_roi(pred, true, labels, rois=rois, n_permutations=n_permutations, random_state=seed)
        table = emb.rename(columns={"rsa": "embedding_rsa", "p_value": "embedding_p", "n_used": "n_voxels_used"}) \
            .merge(img.drop(columns="n_voxels").rename(columns={"rsa": "image_rsa", "p_value": "image_p"}), on="roi")
        table.insert(0, "subject", subject.subject)
        table.insert(0, "dataset", subject.dataset)
        tables.append(table)
        if example is None:
            example = (key, subject, pred, true, labels, own)
    table = pd.concat(tables, ignore_index=True)
    table.to_csv(out / "rsa.csv", index=False)
    if figures:
        _rsa_figures(out, table, example, crowd, seed, max_voxels)
    _log(progress, "rsa", f"median over subjects and ROIs: embedding RSA {table['embedding_rsa'].median():.2f}, "
                          f"predicted-vs-measured image RSA {table['image_rsa'].median():.2f}")
    _log(progress, "rsa", f"RSA tables and figures written to {out}")
    return {"table": table, "out": out}


def _rsa_figures(out, table, example, crowd, seed, max_voxels):
    _agg()
    import matplotlib.pyplot as plt

    from brainembed.analysis import subsample
    from brainembed.evaluation import rdm
    from brainembed.viz.embeddings import plot_rdms, plot_rsa_by_roi

    fig, axes = plt.subplots(1, 2, figsize=(13, 4))
    plot_rsa_by_roi(table, "embedding_rsa", axes[0], p_column="embedding_p",
                    ylabel="Spearman: embedding vs response similarity")
    axes[0].set_title("Voxel embeddings vs measured response profiles")
    plot_rsa_by_roi(table, "image_rsa", axes[1], p_column="image_p", ylabel="Spearman: predicted vs measured RDM")
    axes[1].set_title("Image RDMs on test images")
    fig.tight_layout()
    _save(fig, out / "rsa.png")
    key, subject, pred, true, labels, own = example
    candidates = table[(table["dataset"] == subject.dataset) & (table["subject"] == subject.subject)]
    candidates = candidates[candidates["n_voxels"] >= 5].sort_values("n_voxels", ascending=False)
    named = candidates[candidates["roi"] != "other"]  # prefer a named ROI over the rest of cortex
    candidates = named if not named.empty else candidates
    if candidates.empty:
        return
    roi = candidates["roi"].iloc[0]
    voxels = np.flatnonzero(labels == roi)
    order = np.arange(len(true))
    meta = crowd.images.metadata
    if "category" in meta.columns:
        categories = meta["category"].astype(str).to_numpy()[crowd.images.positions(
            subject.image_ids[subject.rows("test")])]
        order = np.argsort(categories, kind="stable")  # images grouped by category
    used = voxels[subsample(voxels.size, max_voxels, seed)]
    fig = plt.figure(figsize=(15, 3.6))
    plot_rdms({f"{key} {roi}: predicted image RDM": rdm(pred[order][:, voxels]),
               f"{key} {roi}: measured image RDM": rdm(true[order][:, voxels]),
               "voxel embedding RDM": rdm(own[used]), "voxel response-profile RDM": rdm(true[:, used].T)}, fig=fig)
    fig.tight_layout()
    _save(fig, out / "rdms.png")
