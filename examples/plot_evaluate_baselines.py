"""
Evaluate the encoder against baselines
======================================

The universal encoder is scored on every subject's held-out test images
beside three baselines, as in the paper's Fig. 4a:

- ``single``: the same encoder configuration trained on that subject alone;
- ``ridge``: ridge regression on the same frozen trunk's features;
- ``gabor``: ridge on Gabor-energy features (Kay et al. 2008).

Accuracy is the Pearson correlation per voxel across test images; since the
crowd is simulated, it is also divided by each voxel's exact noise ceiling.
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
# Evaluate
# --------
# :func:`~brainembed.pipeline.evaluate.evaluate_run` predicts the test images
# of each subject with each model and writes per-voxel and per-subject tables,
# statistics and figures into ``RUN/evaluation``. The single-subject models
# are trained once and kept under ``RUN/baselines/single``. To stay quick this
# example scores two subjects of two datasets (leave out ``subjects`` to
# score them all).
import matplotlib.pyplot as plt

from brainembed.pipeline.evaluate import evaluate_run

evaluation = evaluate_run(RUN, baselines=("ridge", "gabor", "single"), subjects=["7T:1", "4T:5"], n_candidates=10,
                          overwrite=True, progress=False)
summary = evaluation["summary"]
summary[["dataset", "subject", "model", "median_r", "p25_r", "p75_r", "median_r_over_true_ceiling", "top1"]].round(3)

# %%
# Median voxel correlation
# ------------------------
# Bars give the median over voxels, whiskers the 25th to 75th percentile.
# On this tiny crowd (60 training images per subject, 10-20 test images,
# seconds of training) the differences between models are noisy. The Gabor
# ridge is a strong competitor here: the simulation's early voxels, most of
# the named voxels of the tiny crowd, follow a Gabor-energy model. The
# ``demo`` preset (``brainembed demo``) runs the same comparison at a larger
# scale.
from brainembed.data.subjects import subject_key
from brainembed.viz.results import plot_median_correlation

ax = plot_median_correlation(summary)
ax.figure.tight_layout()
ax.figure.savefig(FIGURES / "evaluate_median_r.png", dpi=100)

# %%
# Relative to the noise ceiling
# -----------------------------
# ``r / sqrt(NC)`` is the share of the attainable correlation a model reaches
# (1 = as good as the noise in the test responses allows).
table = summary.assign(key=subject_key(summary["dataset"], summary["subject"]))
wide = table.pivot(index="key", columns="model", values="median_r_over_true_ceiling")
wide = wide.loc[list(dict.fromkeys(table["key"])), list(dict.fromkeys(table["model"]))]
ax = wide.plot.bar(figsize=(7, 3.8), rot=0, width=0.8)
ax.axhline(1.0, color="0.5", ls="--", lw=0.8)
ax.set_xlabel("")
ax.set_ylabel("median r / noise ceiling")
ax.set_title("Encoding accuracy relative to the exact noise ceiling")
ax.legend(frameon=False, fontsize="small", ncol=4, loc="upper center")
ax.set_ylim(0, 1.15)
ax.figure.tight_layout()
ax.figure.savefig(FIGURES / "evaluate_r_over_ceiling.png", dpi=100)

# %%
# Image retrieval
# ---------------
# For each measured test response, the true image is ranked among
# distractors by how well its predicted response matches (dashed: chance).
from brainembed.viz.results import plot_retrieval

fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
plot_retrieval(summary, axes[0], k=1)
plot_retrieval(summary, axes[1], k=5)
fig.tight_layout()
fig.savefig(FIGURES / "evaluate_retrieval.png", dpi=100)

# %%
# Statistics
# ----------
# A repeated-measures ANOVA across subjects between models, and the share of
# voxels whose correlation is significant (FDR 0.05).
print(evaluation["stats"]["anova"])
significance = evaluation["stats"]["voxel_significance"]
significance.round(3)

# %%
print(f"tables and figures in {evaluation['out']}; example figures in {FIGURES}")
