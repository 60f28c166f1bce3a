"""``brainembed top-images``: the top images of every cluster of a saved clustering over an image pool.

Outputs::

    RUN/analysis/top_images/<tag>_<pool>/      top_images.csv, activation.csv, clusters.csv, pool.txt, top_images.png
"""

from __future__ import annotations

from brainembed.data.subjects import subject_key
from brainembed.pipeline.common import (
    check_pool,
    image_pool,
    log,
    pool_name,
    rank_images,
    save_figure,
    use_agg,
    write_pool,
)


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

    pool = check_pool(pool)
    run = RunDirectory.of(run, data)
    tag = run.clustering_tag(clusters)
    labels = load_clustering(run, tag)
    suffix = "_relative" if relative else ""
    out = fresh_folder(run.output_dir("analysis", "top_images", f"{tag}_{pool_name(pool)}{suffix}"), overwrite)
    keys = list(dict.fromkeys(subject_key(labels["dataset"], labels["subject"])))
    device = resolve_device(device)
    model = run.load_encoder("best", device=device)
    pixels, image_ids, metadata = image_pool(run.store_path(), pool, keys)
    activation, top = rank_images(model, labels, run.subject_offsets(), pixels, image_ids, metadata, n=n,
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
        use_agg()
        from brainembed.viz.embeddings import plot_top_images

        save_figure(plot_top_images(pixels, top, summary=summary), out / "top_images.png")
    log(progress, "top-images", f"top {min(n, len(pixels))} of {len(pixels)} images for {len(summary)} clusters "
                                 f"of {tag} written to {out}")
    return {"top": top, "activation": activation, "clusters": summary, "tag": tag, "out": out}
