"""
A map of the voxel embeddings (t-SNE and UMAP)
==============================================

The voxel embeddings of two subjects, projected to two dimensions with
t-SNE, and coloured by ROI, by subject and by cluster. The embedding space is
shared by all brains, so ideally voxels of different subjects mix while
voxels of the same ROI group together. A separation score (accuracy of a
10-nearest-neighbour vote, in the map and in the full embedding space) says
how far each colouring is organised in the embeddings.
"""

# %%
# The shared crowd and run
# ------------------------
# Outputs go under ``BRAINEMBED_EXAMPLES_OUT`` (default: a fresh temporary
# folder, shared by the examples run in one process). The tiny simulated crowd
# and the encoder of :ref:`sphx_glr_auto_examples_plot_train_encoder.py` (trained on every subject but
# ``7T:3``) are made by the first example that needs them
# (:func:`brainembed.demo.example_crowd_and_run`) and read back by the others.
from brainembed.demo import example_crowd_and_run, example_folders

OUT, FIGURES = example_folders()
crowd, RUN = example_crowd_and_run(OUT)

# %%
# t-SNE
# -----
# :func:`~brainembed.pipeline.embed_map.embed_map_run` (``brainembed
# embed-map``) computes the map, writes the coordinates and the separation
# table into ``RUN/analysis/embed_map``. Colouring by cluster uses the run's
# latest clustering, made here first.
import matplotlib.pyplot as plt

from brainembed.pipeline.cluster import cluster_run
from brainembed.pipeline.embed_map import embed_map_run
from brainembed.viz.embeddings import plot_embedding_map

cluster_run(RUN, ["1", "2"], k=6, n_top=0, overwrite=True, progress=False, figures=False)
colours = ("roi", "subject", "cluster")
tsne = embed_map_run(RUN, ["1", "2"], method="tsne", color=colours, overwrite=True, progress=False,
                     figures=False)
coords = tsne["coords"]

fig, axes = plt.subplots(1, 3, figsize=(16, 4.6))
for ax, name in zip(axes, colours):
    plot_embedding_map(coords[["x", "y"]].to_numpy(), coords[f"colour_{name}"].to_numpy(), ax=ax,
                       title=f"t-SNE, coloured by {name}")
fig.tight_layout()
fig.savefig(FIGURES / "embedding_map_tsne.png", dpi=100)

# %%
# Separation of each colouring (chance is about the share of the largest
# group). On this tiny crowd, trained for seconds on 60 images per subject,
# the embeddings are data-limited and ROIs separate little; the ``demo``
# preset gives them far more to learn from.
tsne["separation"].round(3)

# %%
# Any voxel column colours the map, e.g. the horizontal position of the
# receptive field:
ax = plot_embedding_map(coords[["x", "y"]].to_numpy(), coords["rf_x"].to_numpy(dtype=float),
                        title="t-SNE, coloured by rf_x")
ax.figure.savefig(FIGURES / "embedding_map_rf_x.png", dpi=100)

# %%
# UMAP
# ----
# The same with UMAP (``method="umap"``; needs ``umap-learn``), on every
# subject of the run, coloured by subject and ROI.
umap = embed_map_run(RUN, method="umap", color=("subject", "roi"), overwrite=True, progress=False, figures=False)
fig, axes = plt.subplots(1, 2, figsize=(11, 4.6))
for ax, name in zip(axes, ("subject", "roi")):
    plot_embedding_map(umap["coords"][["x", "y"]].to_numpy(), umap["coords"][f"colour_{name}"].to_numpy(), ax=ax,
                       title=f"UMAP of all subjects, coloured by {name}")
fig.tight_layout()
fig.savefig(FIGURES / "embedding_map_umap.png", dpi=100)
umap["separation"].round(3)

# %%
print(f"coordinates in {tsne['out']} and {umap['out']}; figures in {FIGURES}")
