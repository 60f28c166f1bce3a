"""
Transfer learning to a new subject
==================================

A trained universal encoder adapts to a subject it never saw by learning only
the new subject's voxel embeddings: every shared weight stays frozen. This
needs few images -- the paper's Fig. 6 shows transfer from a hundred images
beating a subject-specific model trained from scratch on the same images.
Here subject ``7T:3``, kept out of the shared run, is added with 10, 25 and
all of its training images.
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
# The few-shot curve
# ------------------
# :func:`~brainembed.pipeline.transfer.transfer_curve` (``brainembed
# transfer``) fits the new subject's embeddings on N of its training images
# (``transfer``) and, on the same N images, trains the run's encoder
# configuration from scratch (``scratch``); both are scored on the subject's
# test images. The frozen trunk's features are cached, so the transfer fits
# take seconds.
from brainembed.pipeline.transfer import transfer_curve
from brainembed.viz.results import plot_transfer_curve

new_subject = "7T:3"
print(f"{new_subject}: {crowd.subject(new_subject).rows('train').size} training images, "
      f"{crowd.subject(new_subject).rows('test').size} test images")
result = transfer_curve(RUN, new_subject, n_train=(10, 25, "all"), seeds=1, out=OUT / "transfer", overwrite=True,
                        progress=False)
result["curve"].round(3)

# %%
from matplotlib.ticker import NullFormatter, ScalarFormatter

ax = plot_transfer_curve(result["summary"])
ax.set_title(f"transfer learning to {new_subject}")
ax.set_xticks(sorted(result["summary"]["n_train"].unique()))
ax.xaxis.set_major_formatter(ScalarFormatter())
ax.xaxis.set_minor_formatter(NullFormatter())
ax.figure.tight_layout()
ax.figure.savefig(FIGURES / "transfer_curve.png", dpi=100)

# %%
# Several seeds (``seeds=5``) draw different image subsets and give the error
# bars of the paper's figure; ``n_train=(100, 200, 400, 800, "all")`` is its
# setting on real data.
print(f"tables and figure in {result['out']}; figures in {FIGURES}")
