"""
Simulate a crowd of brains and look at it
=========================================

brainembed ships a *simulated crowd of brains* with a known ground truth, so
that the whole pipeline runs without any download. This example simulates the
``tiny`` crowd (five subjects from three "datasets", 40 px images) and shows
what it holds: the procedurally drawn stimuli, the category regions planted on
each subject's cortex, the population receptive fields of early visual
voxels, and the noise ceilings.
"""

# %%
# Where the outputs go
# --------------------
# Every example writes under the folder named by ``BRAINEMBED_EXAMPLES_OUT``
# (default: a fresh temporary folder, shared by the examples run in one
# process). The simulated crowd is stored there as an HDF5 file.
import matplotlib.pyplot as plt
import numpy as np

from brainembed.data import load_crowd
from brainembed.demo import example_folders
from brainembed.simulate import simulate_crowd

OUT, FIGURES = example_folders()
STORE = OUT / "data" / "crowd.h5"

# %%
# Simulate the crowd
# ------------------
# ``simulate_crowd`` draws the stimuli, places the regions on fsaverage5,
# computes every voxel's responses (with noise and repeats) and writes the
# store. A store left by an earlier example is simply read back.
if STORE.is_file():
    crowd = load_crowd(STORE)
else:
    crowd = simulate_crowd("tiny", seed=0, out=STORE.parent, overwrite=True, progress=False)
print(crowd)
crowd.summary()[["dataset", "subject", "n_voxels", "n_train", "n_test"]]

# %%
# The stimuli
# -----------
# Seven categories (faces, bodies, indoor and outdoor scenes, text, food,
# objects) with low-level variety in position, size, colour and texture. The
# ``4T`` dataset sees them in grayscale.
from brainembed.viz import plot_stimulus_grid

fig = plot_stimulus_grid(crowd.images.pixels, crowd.images.metadata, per_category=8)
fig.savefig(FIGURES / "simulate_stimuli.png", dpi=100)
crowd.images.metadata["category"].value_counts()

# %%
# Planted regions on the cortex
# -----------------------------
# Early areas (V1-V3, hV4, V3AB) and category regions (FFA, EBA, PPA with an
# indoor and an outdoor part, VWFA, food) sit at plausible places on the real
# fsaverage5 anatomy, shifted per subject, so function and anatomy do not
# align exactly across people. ``renderer="auto"`` draws with pycortex (from
# an fsaverage5 subject brainembed builds offline) and falls back to
# nilearn's flat meshes.
from brainembed.viz import plot_subject_flatmaps

shown = [crowd.subject("7T:1"), crowd.subject("7T:2")]
fig = plot_subject_flatmaps({s.key: s.voxels["region"].astype(str).to_numpy() for s in shown},
                            {s.key: s.voxels for s in shown}, title="planted regions (ground truth)",
                            label="region")
fig.savefig(FIGURES / "simulate_regions_flatmap.png", dpi=100)

# %%
# Population receptive fields
# ---------------------------
# Every early voxel has a receptive field (centre ``rf_x``, ``rf_y`` in
# image units, and a size). Left-hemisphere voxels see the right half of the
# image and vice versa; the eccentricity grows away from the occipital pole.
early = {"V1", "V2", "V3", "hV4", "V3AB"}
voxels = shown[0].voxels
is_early = voxels["region"].isin(early).to_numpy()

fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
for hemi, marker in (("lh", "o"), ("rh", "s")):
    part = voxels[is_early & (voxels["hemi"] == hemi).to_numpy()]
    points = axes[0].scatter(part["rf_x"], part["rf_y"], c=part["ecc_deg"], s=6 + 30 * part["rf_size"],
                             marker=marker, cmap="viridis", vmin=0, vmax=voxels.loc[is_early, "ecc_deg"].max(),
                             alpha=0.8, label=f"{hemi} ({len(part)} voxels)")
axes[0].axvline(0, color="0.6", lw=0.8)
axes[0].axhline(0, color="0.6", lw=0.8)
axes[0].set_aspect("equal")
axes[0].set_xlabel("rf_x (image units)")
axes[0].set_ylabel("rf_y")
axes[0].set_title(f"{shown[0].key}: early-voxel RF centres")
axes[0].legend(fontsize="small", frameon=False)
fig.colorbar(points, ax=axes[0], label="eccentricity (deg)")
for region in sorted(early):
    sizes = voxels.loc[voxels["region"] == region, ["ecc_deg", "rf_size"]]
    axes[1].scatter(sizes["ecc_deg"], sizes["rf_size"], s=10, label=region)
axes[1].set_xlabel("eccentricity (deg)")
axes[1].set_ylabel("RF size")
axes[1].set_title("RF size vs eccentricity")
axes[1].legend(fontsize="small", frameon=False)
fig.tight_layout()
fig.savefig(FIGURES / "simulate_prf.png", dpi=100)

# %%
# The same horizontal position on the flatmap (early voxels only; the other
# voxels are left out).
fig = plot_subject_flatmaps({s.key: np.where(s.voxels["region"].isin(early), s.voxels["rf_x"], np.nan)
                             for s in shown}, {s.key: s.voxels for s in shown},
                            title="horizontal RF position of early voxels", label="rf_x", cmap="RdBu_r")
fig.savefig(FIGURES / "simulate_prf_flatmap.png", dpi=100)

# %%
# Noise ceilings
# --------------
# Test responses average several repeats, so the noise ceiling can be
# estimated from the repeats (NSD definition) -- and the simulation also
# knows it exactly (``true_noise_ceiling``). The ``7T`` dataset has the
# highest SNR.
from brainembed.data.preprocessing import noise_ceiling_from_repeats

fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
for subject in crowd.subjects:
    axes[0].hist(subject.voxels["true_noise_ceiling"], bins=25, histtype="step", lw=1.5, label=subject.key)
axes[0].set_xlabel("true noise ceiling (share of explainable variance)")
axes[0].set_ylabel("voxels")
axes[0].legend(fontsize="small", frameon=False)
subject = shown[0]
test = subject.rows("test")
estimated = noise_ceiling_from_repeats(subject.repeats[test])
axes[1].scatter(subject.voxels["true_noise_ceiling"], estimated, s=6, alpha=0.6)
axes[1].plot([0, 1], [0, 1], color="k", lw=0.8)
axes[1].set_xlabel("true noise ceiling")
axes[1].set_ylabel(f"estimated ({subject.repeats.shape[1]} repeats)")
axes[1].set_title(f"{subject.key}: noise ceiling from {test.size} test images")
fig.tight_layout()
fig.savefig(FIGURES / "simulate_noise_ceilings.png", dpi=100)
print(f"figures written to {FIGURES}")
