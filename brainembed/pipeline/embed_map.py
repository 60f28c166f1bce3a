"""``brainembed embed-map``: a t-SNE or UMAP map of voxel embeddings, with how well it separates groups.

Outputs::

    RUN/analysis/embed_map/<method>_<subjects>/ coords.csv, separation.csv, map.png
"""

from __future__ import annotations

import pandas as pd

from brainembed.data.subjects import subject_key
from brainembed.errors import BrainembedError
from brainembed.pipeline.common import load_embeddings, log, save_figure, use_agg

MAP_COLOURS_SPECIAL = ("subject", "cluster")

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
    log(progress, "embed-map", f"{method} map of {len(picked)} voxels of {', '.join(embeddings.keys)}")
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
        use_agg()
        import matplotlib.pyplot as plt

        from brainembed.viz.embeddings import plot_embedding_map

        fig, axes = plt.subplots(1, len(color), figsize=(6.2 * len(color), 5), squeeze=False)
        for ax, name in zip(axes[0], color):
            plot_embedding_map(coords, table[f"colour_{name}"].to_numpy(), ax=ax,
                               title=f"{method.upper()} of voxel embeddings, coloured by {name}")
        fig.tight_layout()
        save_figure(fig, out / "map.png")
    log(progress, "embed-map", f"map written to {out}")
    return {"coords": table, "separation": separation, "out": out}
