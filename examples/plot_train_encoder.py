"""
Train a universal encoder on a crowd of brains
==============================================

One image-to-fMRI encoder is trained on every subject of the simulated crowd
at once: a frozen image trunk shared by all, and one learned embedding per
voxel of every subject. Subject ``7T:3`` is kept out of training, for the
transfer-learning example. The run folder holds the resolved configuration,
the checkpoints and the training logs, from which we draw the loss curve.
"""

# %%
# The crowd and the run folder
# ----------------------------
# Outputs go under ``BRAINEMBED_EXAMPLES_OUT`` (default: a fresh temporary
# folder, shared by the examples run in one process).
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from brainembed.demo import EXAMPLE_HELD_OUT, EXAMPLE_TRAINING, example_crowd, example_folders

OUT, FIGURES = example_folders()
STORE = OUT / "data" / "crowd.h5"
RUN = OUT / "run"
crowd = example_crowd(OUT)
train_keys = [key for key in crowd.keys if key != EXAMPLE_HELD_OUT]
print(crowd, "- training on", ", ".join(train_keys))

# %%
# Train
# -----
# ``ube_sim`` is the configuration made for the simulated world: the small
# ViT trunk pretrained on procedural stimuli that ships with brainembed,
# frozen (as DINOv2 is in the paper), so its tokens are computed once and
# cached (``feature_cache=True``) and each epoch trains only the voxel head.
# The settings are tiny so that this runs in seconds on a laptop CPU; the
# paper's are the :class:`~brainembed.training.config.TrainConfig` defaults.
# Training again into the same folder with the same settings returns at once
# (a stopped run resumes exactly where it stopped).
from brainembed.models import list_encoders
from brainembed.training.config import TrainConfig
from brainembed.training.loop import train_encoder

print("registered encoders:", ", ".join(list_encoders()))
training = TrainConfig(epochs=6, batch_size=16, voxels_per_image=64, feature_cache=True, max_shift=0)
assert training == TrainConfig.from_dict(EXAMPLE_TRAINING)  # what the other examples read back
result = train_encoder(crowd.select(train_keys), RUN, encoder="ube_sim", training=training, data_path=str(STORE),
                       progress=False)
print(f"best validation 75th-percentile voxel r: {result['best_score']:.3f} (epoch {result['best_epoch'] + 1})")
print(sorted(p.name for p in RUN.iterdir()))

# %%
# The run's resolved configuration (enough to reproduce it):
print((RUN / "config.yaml").read_text()[:1200])

# %%
# Loss curve
# ----------
# ``steps.csv`` has one row per optimisation step, ``metrics.csv`` one row per
# epoch with the validation correlations that pick the best checkpoint and
# drive the learning-rate schedule. (With ``readout_init="ridge"`` the
# readout starts from ridge regression and that start is validated too, as
# epoch 0.)
steps = pd.read_csv(RUN / "steps.csv")
metrics = pd.read_csv(RUN / "metrics.csv")

fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
axes[0].plot(steps["global_step"], steps["loss"], lw=0.8, color="0.6", label="per step")
smooth = steps["loss"].rolling(10, min_periods=1).mean()
axes[0].plot(steps["global_step"], smooth, color="tab:blue", label="running mean (10 steps)")
axes[0].set_xlabel("optimisation step")
axes[0].set_ylabel("loss (MSE - 0.1 cosine)")
axes[0].set_title("training loss")
axes[0].legend(frameon=False, fontsize="small")
axes[1].plot(metrics["epoch"] + 1, metrics["val_median_r"], marker="o", label="median voxel r")
axes[1].plot(metrics["epoch"] + 1, metrics["val_p75_r"], marker="o", label="75th percentile")
best = metrics.loc[metrics["best"].astype(bool)].iloc[-1]
axes[1].axvline(best["epoch"] + 1, color="0.6", ls="--", lw=0.8, label="best checkpoint")
axes[1].set_xlabel("epoch")
axes[1].set_ylabel("validation correlation")
axes[1].set_title("validation images")
axes[1].legend(frameon=False, fontsize="small")
fig.tight_layout()
fig.savefig(FIGURES / "train_loss_curve.png", dpi=100)
metrics

# %%
# Predict held-out test images
# ----------------------------
# The best checkpoint predicts every voxel of a subject; the test
# correlation per voxel is compared with the simulation's exact noise ceiling
# (the best r a perfect model could reach on these noisy test responses is
# the square root of the noise ceiling).
from brainembed.evaluation import pearson_per_voxel
from brainembed.training.predict import predict_subject
from brainembed.training.run import load_encoder

model, config = load_encoder(RUN)
trained = crowd.select(list(config.subjects))  # the run's subjects, in the order of its embedding table
subject = trained.subject("7T:1")
test = subject.rows("test")
predicted = predict_subject(model, trained, subject.key, test)
r = pearson_per_voxel(predicted, subject.responses[test])
ceiling = np.sqrt(subject.voxels["true_noise_ceiling"].to_numpy())

fig, ax = plt.subplots(figsize=(5, 4.2))
ax.scatter(ceiling, r, s=8, alpha=0.6)
ax.plot([0, 1], [0, 1], color="k", lw=0.8)
ax.set_xlabel("noise ceiling (r)")
ax.set_ylabel("test correlation r")
ax.set_title(f"{subject.key}: median r {np.median(r):.2f}, median r / ceiling {np.median(r / ceiling):.2f}")
fig.tight_layout()
fig.savefig(FIGURES / "train_test_accuracy.png", dpi=100)
print(f"figures written to {FIGURES}")
