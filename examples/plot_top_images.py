"""
Top images of each cluster
==========================

What does a cluster of voxels respond to? Its voxels' predicted responses
are averaged over a pool of images and the images that drive the cluster most
are shown, with their category. Because the encoder predicts any image, the
pool need not be images the subjects saw (``pool="all"`` ranks every stored
image; a folder of your own images works too). The same is done inside one
ROI to subdivide it (the paper splits the place area into indoor and outdoor
scenes).
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
# Cluster, then rank images
# -------------------------
# :func:`~brainembed.pipeline.cluster.cluster_run` clusters the voxel
# embeddings of subjects 1 and 2 together;
# :func:`~brainembed.pipeline.top_images.top_images_run` ranks an image pool for
# every cluster of a saved clustering (``brainembed top-images``).
from brainembed.pipeline.cluster import cluster_run
from brainembed.pipeline.common import image_pool
from brainembed.pipeline.top_images import top_images_run

clusters = cluster_run(RUN, ["1", "2"], k=6, n_top=0, overwrite=True, progress=False, figures=False)
ranked = top_images_run(RUN, clusters["tag"], pool="all", n=8, overwrite=True, progress=False, figures=False)
ranked["clusters"].round(2)

# %%
# The top images, one row per cluster; under each image its category, beside
# each row the cluster's size, its most frequent category among the top
# images and (simulated crowd) its most frequent planted region.
from brainembed.viz.embeddings import plot_top_images

pixels, image_ids, metadata = image_pool(OUT / "data" / "crowd.h5", "all")
fig = plot_top_images(pixels, ranked["top"], summary=ranked["clusters"])
fig.savefig(FIGURES / "top_images_clusters.png", dpi=100)

# %%
# Share of each category among every cluster's top images:
top = ranked["top"]
top.groupby("cluster")["category"].value_counts(normalize=True).unstack(fill_value=0).round(2)

# %%
# Subdividing one ROI
# -------------------
# Clustering only the place-area (PPA) voxels of both subjects into two
# groups; the simulation planted an indoor and an outdoor part. The table
# says which planted part dominates each sub-cluster; with a handful of PPA
# voxels per subject in the tiny crowd, the top images are only a rough
# guide.
place = cluster_run(RUN, ["1", "2"], k=2, roi="PPA", pool="all", n_top=8, overwrite=True, progress=False,
                    figures=False)
fig = plot_top_images(pixels, place["top"], summary=place["truth_clusters"])
fig.savefig(FIGURES / "top_images_place_subdivision.png", dpi=100)
place["truth_clusters"][["cluster", "n_voxels", "planted_region", "planted_region_share", "top_category",
                         "top_category_share"]].round(2)

# %%
print(f"tables in {ranked['out']} and {place['out']}; figures in {FIGURES}")
