"""
Cluster voxel embeddings and draw them on flatmaps
==================================================

Every voxel of every subject has a learned embedding. Clustering the
embeddings of subjects 1 and 2 *together* (k-means) gives clusters shared by
both subjects; drawn on each subject's cortical flatmap they show where the
functional clusters lie, and the fsaverage vertices they cover can be compared
across the two brains. The paper found that more than half of a cluster's
vertex indices differ between subjects: function and anatomy do not align
exactly.
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
# Cluster subjects 1 and 2 together
# ---------------------------------
# :func:`~brainembed.pipeline.cluster.cluster_run` is what
# ``brainembed cluster --subjects 1 2 --k 6`` calls: it writes one label per
# voxel, cluster sizes, the anatomical overlap and, for the simulated crowd,
# the agreement with the planted regions into ``RUN/clusters/<tag>``.
from brainembed.pipeline.cluster import cluster_run

clusters = cluster_run(RUN, ["1", "2"], k=6, n_top=0, overwrite=True, progress=False, figures=False)
labels = clusters["labels"]
labels.head()

# %%
# Each cluster holds voxels of both subjects:
from brainembed.viz.embeddings import plot_cluster_sizes

ax = plot_cluster_sizes(clusters["sizes"])
ax.figure.tight_layout()
ax.figure.savefig(FIGURES / "cluster_sizes.png", dpi=100)

# %%
# Clusters on the flatmaps
# ------------------------
# One panel per subject, both hemispheres each; the same colour is the same
# cluster in both subjects. pycortex draws them (from an fsaverage5 subject
# that brainembed builds offline); ``renderer="nilearn"`` draws the same on
# nilearn's flat fsaverage5 meshes.
from brainembed.data.subjects import subject_key
from brainembed.viz import plot_subject_flatmaps

keys = list(dict.fromkeys(subject_key(labels["dataset"], labels["subject"])))
values = {key: labels.loc[subject_key(labels["dataset"], labels["subject"]) == key, "cluster"].to_numpy()
          for key in keys}
voxels = {key: labels.loc[subject_key(labels["dataset"], labels["subject"]) == key, ["hemi", "vertex"]]
          for key in keys}
fig = plot_subject_flatmaps(values, voxels, renderer="pycortex", title=f"clusters {clusters['tag']}",
                            label="cluster")
fig.savefig(FIGURES / "cluster_flatmap_pycortex.png", dpi=100)

# %%
fig = plot_subject_flatmaps(values, voxels, renderer="nilearn", title="the same clusters, nilearn renderer",
                            label="cluster")
fig.savefig(FIGURES / "cluster_flatmap_nilearn.png", dpi=100)

# %%
# The planted regions of the same voxels, for comparison:
regions = {key: labels.loc[subject_key(labels["dataset"], labels["subject"]) == key, "region"].astype(str).to_numpy()
           for key in keys}
fig = plot_subject_flatmaps(regions, voxels, title="planted regions (ground truth)", label="region")
fig.savefig(FIGURES / "cluster_regions_flatmap.png", dpi=100)

# %%
# The command line writes the same kind of figure straight from the run
# folder: ``brainembed flatmap --run RUN --value clusters --subjects 1 2``.
from brainembed.pipeline.flatmap import flatmap_run

written = flatmap_run(RUN, value="clusters", subjects=["1", "2"], out=FIGURES / "cluster_flatmap_cli.png")
print(f"{written['renderer']} flatmap written to {written['path']}")

# %%
# Clusters vs the planted regions
# -------------------------------
# Adjusted Rand and mutual information between clusters and planted regions,
# over all voxels, in the category regions and in the early areas (k-means
# over all voxels tends to split early areas by receptive-field position).
# On this tiny crowd, 60 training images per subject and a few seconds of
# training, the embeddings are data-limited and the agreement is low; it is
# the crowd (the ``demo`` preset, or real data) that makes clusters follow
# function.
clusters["truth"].round(3)

# %%
# Anatomical overlap between the two subjects
# -------------------------------------------
# For each cluster, the fsaverage vertices its voxels cover in subject 1 and
# in subject 2: Jaccard overlap (beside its value at chance) and the share of
# each subject's vertices the other lacks. The tiny crowd's subjects have a
# few hundred voxels each, scattered over fsaverage5, so two subjects rarely
# share a vertex and overlaps sit near chance; with thousands of voxels per
# subject (``demo`` preset, NSD) the comparison becomes informative.
from brainembed.viz.embeddings import plot_vertex_overlap

overlap = clusters["overlap"]
ax = plot_vertex_overlap(overlap)
ax.figure.tight_layout()
ax.figure.savefig(FIGURES / "cluster_overlap.png", dpi=100)
overlap[["cluster", "subject_a", "subject_b", "n_vertices_a", "n_vertices_b", "n_shared", "jaccard",
         "chance_jaccard", "share_differ", "matched"]].round(3)

# %%
print(f"median share of vertex indices that differ: {overlap['share_differ'].median():.0%}")
print(f"tables in {clusters['out']}; figures in {FIGURES}")
