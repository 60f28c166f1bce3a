"""``brainembed rsa``: RSA of voxel embeddings and of predicted image RDMs, per subject and ROI.

Outputs::

    RUN/analysis/rsa/<subjects>[_roi-...]/     rsa.csv, rsa.png, rdms.png
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from brainembed.errors import BrainembedError
from brainembed.pipeline.common import load_embeddings, log, save_figure, use_agg


def rsa_run(run, subjects=None, *, roi=None, n_permutations: int = 1000, max_voxels: int | None = 500,
            seed: int = 0, data=None, device="auto", overwrite: bool = False, progress: bool = True,
            figures: bool = True) -> dict:
    """RSA of voxel embeddings and of predicted image RDMs, per subject and ROI.

    For every subject and ROI: (1) Spearman correlation between the
    voxel-by-voxel dissimilarity (1 - Pearson r) of the voxels' embeddings
    and of their measured response profiles over the test images; (2)
    Spearman correlation between the predicted and the measured image RDMs
    (1 - Pearson r over the ROI's voxels) of the test images. Both with a
    Mantel permutation p-value.

    Parameters
    ----------
    run : path
    subjects : sequence of str, optional
        Default all of the run's subjects.
    roi : str or sequence of str, optional
        ROIs (default every ROI of the subjects).
    n_permutations : int, default=1000
    max_voxels : int or None, default=500
        Voxels per ROI in the embedding RSA (seeded subset).
    seed : int, default=0
    data : path, optional
    device : str, default="auto"
    overwrite : bool, default=False
    progress, figures : bool

    Returns
    -------
    dict
        ``table`` (one row per subject and ROI: ``embedding_rsa``,
        ``embedding_p``, ``image_rsa``, ``image_p``, voxel and image counts)
        and ``out``.
    """
    from brainembed.analysis import embedding_rsa_by_roi, image_rsa_by_roi, subjects_tag
    from brainembed.data import load_crowd
    from brainembed.training.distributed import resolve_device
    from brainembed.training.predict import predict_subject
    from brainembed.training.run import RunDirectory, fresh_folder

    run = RunDirectory.of(run, data)
    keys = run.resolve_subjects(subjects)
    rois = None if roi is None else ([roi] if isinstance(roi, str) else list(roi))
    embeddings = load_embeddings(run, keys)
    crowd = load_crowd(run.store_path(), keys, repeats=False)
    for key in keys:
        subject = crowd.subject(key)
        if "roi" not in subject.voxels.columns:
            raise BrainembedError(f"subject {key} has no ROI labels ('roi' column), so RSA per ROI is undefined.")
        present = set(subject.voxels["roi"].astype(str))
        for name in rois or []:
            if name not in present:
                raise BrainembedError(f"ROI {name!r} has no voxels in subject {key}; choose from "
                                      f"{', '.join(sorted(present))}.")
        if subject.rows("test").size < 3:
            raise BrainembedError(f"subject {key} has {subject.rows('test').size} test images; RSA needs at least 3.")
    suffix = f"_roi-{'+'.join(rois)}" if rois else ""
    out = fresh_folder(run.output_dir("analysis", "rsa", f"{subjects_tag(keys)}{suffix}"), overwrite)
    device = resolve_device(device)
    model = run.load_encoder("best", device=device)
    offsets, config = run.subject_offsets(), run.read_config()
    tables, example = [], None
    for key in keys:
        subject = crowd.subject(key)
        test = subject.rows("test")
        true = subject.responses[test]
        log(progress, "rsa", f"{key}: predicting {test.size} test images, RSA per ROI")
        pred = predict_subject(model, crowd, key, test, device=device, voxel_offset=offsets[key],
                               voxel_chunk=config.training.predict_chunk)
        labels = subject.voxels["roi"].astype(str).to_numpy()
        own = embeddings.select([key]).embeddings
        emb = embedding_rsa_by_roi(own, true, labels, rois=rois, max_voxels=max_voxels,
                                   n_permutations=n_permutations, random_state=seed)
        img = image_rsa_by_roi(pred, true, labels, rois=rois, n_permutations=n_permutations, random_state=seed)
        table = emb.rename(columns={"rsa": "embedding_rsa", "p_value": "embedding_p", "n_used": "n_voxels_used"}) \
            .merge(img.drop(columns="n_voxels").rename(columns={"rsa": "image_rsa", "p_value": "image_p"}), on="roi")
        table.insert(0, "subject", subject.subject)
        table.insert(0, "dataset", subject.dataset)
        tables.append(table)
        if example is None:
            example = (key, subject, pred, true, labels, own)
    table = pd.concat(tables, ignore_index=True)
    table.to_csv(out / "rsa.csv", index=False)
    if figures:
        _rsa_figures(out, table, example, crowd, seed, max_voxels)
    log(progress, "rsa", f"median over subjects and ROIs: embedding RSA {table['embedding_rsa'].median():.2f}, "
                          f"predicted-vs-measured image RSA {table['image_rsa'].median():.2f}")
    log(progress, "rsa", f"RSA tables and figures written to {out}")
    return {"table": table, "out": out}


def _rsa_figures(out, table, example, crowd, seed, max_voxels):
    use_agg()
    import matplotlib.pyplot as plt

    from brainembed.analysis import subsample
    from brainembed.evaluation import rdm
    from brainembed.viz.embeddings import plot_rdms, plot_rsa_by_roi

    fig, axes = plt.subplots(1, 2, figsize=(13, 4))
    plot_rsa_by_roi(table, "embedding_rsa", axes[0], p_column="embedding_p",
                    ylabel="Spearman: embedding vs response similarity")
    axes[0].set_title("Voxel embeddings vs measured response profiles")
    plot_rsa_by_roi(table, "image_rsa", axes[1], p_column="image_p", ylabel="Spearman: predicted vs measured RDM")
    axes[1].set_title("Image RDMs on test images")
    fig.tight_layout()
    save_figure(fig, out / "rsa.png")
    key, subject, pred, true, labels, own = example
    candidates = table[(table["dataset"] == subject.dataset) & (table["subject"] == subject.subject)]
    candidates = candidates[candidates["n_voxels"] >= 5].sort_values("n_voxels", ascending=False)
    named = candidates[candidates["roi"] != "other"]  # prefer a named ROI over the rest of cortex
    candidates = named if not named.empty else candidates
    if candidates.empty:
        return
    roi = candidates["roi"].iloc[0]
    voxels = np.flatnonzero(labels == roi)
    order = np.arange(len(true))
    meta = crowd.images.metadata
    if "category" in meta.columns:
        categories = meta["category"].astype(str).to_numpy()[crowd.images.positions(
            subject.image_ids[subject.rows("test")])]
        order = np.argsort(categories, kind="stable")  # images grouped by category
    used = voxels[subsample(voxels.size, max_voxels, seed)]
    fig = plt.figure(figsize=(15, 3.6))
    plot_rdms({f"{key} {roi}: predicted image RDM": rdm(pred[order][:, voxels]),
               f"{key} {roi}: measured image RDM": rdm(true[order][:, voxels]),
               "voxel embedding RDM": rdm(own[used]), "voxel response-profile RDM": rdm(true[:, used].T)}, fig=fig)
    fig.tight_layout()
    save_figure(fig, out / "rdms.png")
