"""``brainembed cluster``: k-means on several subjects' voxel embeddings, described and drawn.

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
"""

from __future__ import annotations

import pandas as pd

from brainembed.pipeline.common import (
    check_pool,
    image_pool,
    load_embeddings,
    log,
    rank_images,
    save_figure,
    use_agg,
    write_pool,
)
from brainembed.validation import check_count


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
        Images ranked for the top images (see :func:`~brainembed.pipeline.common.image_pool`).
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
        check_pool(pool)
    check_count("the number of top images", n_top, 0)
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
    log(progress, "cluster", f"k-means with k={k} over {len(embeddings.select(roi=roi))} voxels{where} of "
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
        activation, top = rank_images(model, labels, run.subject_offsets(), pixels, image_ids, metadata, n=n_top,
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
    log(progress, "cluster", f"clustering {tag} written to {out}")
    return {"labels": labels, "sizes": sizes, "overlap": overlap, "top": top, "activation": activation,
            "truth": truth, "truth_clusters": truth_clusters, "tag": tag, "out": out}


def _cluster_figures(out, sizes, overlap, pixels, top, truth_clusters, labels):
    use_agg()
    from brainembed.viz.embeddings import plot_cluster_sizes, plot_top_images, plot_vertex_overlap

    ax = plot_cluster_sizes(sizes)
    ax.figure.tight_layout()
    save_figure(ax.figure, out / "sizes.png")
    if not overlap.empty:
        ax = plot_vertex_overlap(overlap)
        ax.figure.tight_layout()
        save_figure(ax.figure, out / "overlap.png")
    if pixels is not None and not top.empty:
        summary = truth_clusters if not truth_clusters.empty else \
            labels.groupby("cluster").size().rename("n_voxels").reset_index()
        save_figure(plot_top_images(pixels, top, summary=summary), out / "top_images.png")


def _report_clustering(progress, labels, truth, truth_clusters, overlap):
    if not progress:
        return
    counts = labels["cluster"].value_counts()
    log(True, "cluster", f"{labels['cluster'].nunique()} clusters of {counts.min()}-{counts.max()} voxels")
    if not truth.empty:
        ari = truth.set_index("scope")["ari"]
        log(True, "cluster", f"ARI vs planted regions: {ari['all']:.2f} overall, {ari['category regions']:.2f} "
                              f"in category regions, {ari['early areas']:.2f} in early areas")
    if "dominated" in truth_clusters.columns:
        log(True, "cluster", f"{int(truth_clusters['dominated'].sum())}/{len(truth_clusters)} clusters' top images "
                              "are dominated (>= 50 %) by one category")
    if not overlap.empty and overlap["matched"].any():
        matched = overlap[overlap["matched"]]
        log(True, "cluster", f"clusters both subjects cover: median Jaccard {matched['jaccard'].median():.2f} "
                              f"(chance {matched['chance_jaccard'].median():.2f}), median share of vertex indices "
                              f"that differ {matched['share_differ'].median():.2f}")
