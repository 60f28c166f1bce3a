"""``brainembed evaluate``: a trained run against held-out test images, beside baselines.

Models compared, per subject:

- ``universal``: the run's encoder, trained jointly on all its subjects;
- ``single``: the same encoder configuration trained on that subject alone;
- ``ridge``: ridge regression (himalaya, per-voxel alpha by cross-validation)
  on the encoder's backbone features (CLS + pooled patch tokens of its layers),
  the paper's "Ridge (DINOv2)" analogue;
- ``gabor``: the same ridge on Gabor-energy features (4 scales x 8
  orientations on an 8 x 8 grid, square-root compressed; Kay et al. 2008).

Written into ``RUN/evaluation/``: ``voxels.csv`` (one row per voxel and model),
``summary.csv`` (one row per subject and model), ``by_roi.csv``, ``rsa.csv``,
``retrieval_repeats.csv``, the statistics tables ``anova.csv``,
``voxel_significance.csv``, ``retrieval_ttests.csv``, and figures.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from brainembed.data.subjects import resolve_subjects, subject_key
from brainembed.errors import BrainembedError

BASELINES = ("ridge", "gabor", "single")


def _log(progress: bool, message: str) -> None:
    if progress:
        print(f"[evaluate] {message}", flush=True)


def _ceilings(subject, rows) -> dict:
    """Noise ceilings of a subject's test responses: estimated from repeats, and the simulation's exact one."""
    from brainembed.data.preprocessing import noise_ceiling_from_repeats

    out = {}
    if subject.repeats is not None and subject.repeats.shape[1] > 1:
        out["estimated"] = np.clip(noise_ceiling_from_repeats(subject.repeats[rows]), 0.0, 1.0)
    if "true_noise_ceiling" in subject.voxels.columns:
        out["true"] = subject.voxels["true_noise_ceiling"].to_numpy(dtype=float)
    return out


def _score(model_name, subject, pred, true, ceilings, n_candidates, n_repeats, seed):
    """Per-voxel table, summary row, retrieval repeats, ROI RSA and region correlations of one model on one subject."""
    from brainembed.evaluation import evaluate_subject, image_retrieval, region_response_correlations, roi_rsa

    roi = subject.voxels["roi"].astype(str).to_numpy() if "roi" in subject.voxels.columns else None
    table, summary = evaluate_subject(pred, true, noise_ceiling=ceilings.get("estimated"), roi=roi)
    if "true" in ceilings:
        nc = ceilings["true"]
        table["true_noise_ceiling"] = nc
        with np.errstate(invalid="ignore", divide="ignore"):
            table["r_over_true_ceiling"] = np.where(nc > 1e-3, table["r"] / np.sqrt(nc), np.nan)
            table["r2_over_true_nc"] = np.where(nc > 1e-3, table["r"] ** 2 / nc, np.nan)
        summary["median_r_over_true_ceiling"] = float(np.nanmedian(table["r_over_true_ceiling"]))
        summary["median_r2_over_true_nc"] = float(np.nanmedian(table["r2_over_true_nc"]))
        summary["median_true_ceiling_r"] = float(np.median(np.sqrt(np.clip(nc, 0, None))))
    n_cand = min(n_candidates, len(true))
    k5 = min(5, n_cand)  # fewer than 5 candidates: "top 5" is every candidate (accuracy and chance 1)
    retrieval = image_retrieval(pred, true, n_candidates=n_cand, top_k=(1, k5), n_repeats=n_repeats,
                                random_state=seed)
    summary.update(top1=float(retrieval["top1_mean"]), top5=float(retrieval[f"top{k5}_mean"]),
                   chance_top1=float(retrieval["chance_top1"]), chance_top5=float(retrieval[f"chance_top{k5}"]),
                   n_candidates=int(n_cand))
    ident = {"dataset": subject.dataset, "subject": subject.subject, "model": model_name}
    table = table.assign(n_images=len(true), **ident)
    if "region" in subject.voxels.columns:
        table["region"] = subject.voxels["region"].astype(str).to_numpy()
    repeats = pd.DataFrame({"repeat": np.arange(n_repeats), "top1": retrieval["top1"], "top5": retrieval[f"top{k5}"],
                            **ident})
    rsa = roi_rsa(pred, true, roi).assign(**ident) if roi is not None else pd.DataFrame()
    # how alike the regions respond: the planted regions of a simulated crowd, else the ROI labels
    regions = subject.voxels["region"] if "region" in subject.voxels.columns else subject.voxels.get("roi")
    between = (region_response_correlations(pred, true, regions.astype(str).to_numpy()).assign(**ident)
               if regions is not None else pd.DataFrame())
    return table, {**ident, **summary}, repeats, rsa, between


def _single_subject_predictions(model_config, training, crowd, key, out_dir, progress):
    """Train (or resume) the same encoder on one subject alone and predict its test images."""
    from brainembed.training.loop import train_encoder
    from brainembed.training.predict import predict_subject
    from brainembed.training.run import load_encoder

    single = crowd.select([key])
    run_dir = out_dir / key.replace(":", "_")
    train_encoder(single, run_dir, encoder=model_config, training=training, progress=progress, resume=True)
    model, _ = load_encoder(run_dir, "best")
    return predict_subject(model, single, key, device="cpu", voxel_chunk=training.predict_chunk)


def _ridge_predictions(model, crowd, key, seed, features: str = "backbone"):
    """Ridge (per-voxel alpha by CV) on backbone or Gabor-energy features of the subject's images."""
    from brainembed.evaluation import RidgeEncoder

    if features == "backbone":
        from brainembed.training.predict import backbone_features

        def featurize(pixels):
            return backbone_features(model, pixels)
    else:
        from brainembed.simulate.gabor import gabor_energy_features as featurize

    subject = crowd.subject(key)
    train_rows, test_rows = subject.rows("train"), subject.rows("test")
    x_train = featurize(crowd.images.get(subject.image_ids[train_rows]))
    x_test = featurize(crowd.images.get(subject.image_ids[test_rows]))
    ridge = RidgeEncoder(random_state=seed).fit(x_train, subject.responses[train_rows])
    return ridge.predict(x_test).astype(np.float32)


def _statistics(voxels: pd.DataFrame, summary: pd.DataFrame, repeats: pd.DataFrame) -> dict:
    from brainembed.evaluation import paired_ttests, repeated_measures_anova, voxel_significance

    stats = {}
    models = list(dict.fromkeys(summary["model"]))
    table = summary.assign(subject_key=subject_key(summary["dataset"], summary["subject"]))
    n_subjects = table["subject_key"].nunique()
    # the ANOVA needs every model for every subject: models given for some subjects only (single_subjects) sit out
    complete = table.groupby("model", sort=False)["subject_key"].nunique() == n_subjects
    table = table[table["model"].isin(complete.index[complete])]
    if table["model"].nunique() > 1 and n_subjects > 1:
        stats["anova"] = pd.DataFrame(repeated_measures_anova(table, subject="subject_key", model="model",
                                                              value="median_r"))
    rows = []
    for (ds, sub, model), part in voxels.groupby(["dataset", "subject", "model"], sort=False):
        sig = voxel_significance(part["r"].to_numpy(), int(part["n_images"].iloc[0]))
        rows.append(sig.assign(dataset=ds, subject=sub, model=model))
    stats["voxel_significance"] = pd.concat(rows, ignore_index=True)
    if len(models) > 1:
        reps = repeats.assign(subject_key=subject_key(repeats["dataset"], repeats["subject"]))
        tests = []
        for metric in ("top1", "top5"):
            tests.append(paired_ttests(reps, model="model", repeat="repeat", value=metric, reference="universal",
                                       by="subject_key").assign(metric=metric))
        stats["retrieval_ttests"] = pd.concat(tests, ignore_index=True)
    return stats


def evaluate_run(run, *, data=None, baselines=("ridge", "single"), subjects=None, single_subjects=None, out=None,
                 n_candidates: int = 100, n_repeats: int = 10, overwrite: bool = False, progress: bool = True,
                 figures: bool = True) -> dict:
    """Evaluate a trained run (and baselines) on every subject's test images.

    Parameters
    ----------
    run : path
        Run folder written by ``brainembed train``.
    data : path, optional
        Crowd store (default: the one the run trained on).
    baselines : sequence of {"ridge", "gabor", "single"}
        Baselines computed beside the universal encoder. ``single`` trains the
        run's encoder configuration on each subject alone (kept under
        ``RUN/baselines/single`` and reused by later calls).
    subjects : list of str, optional
        Subset of the run's subjects (default: all).
    single_subjects : list of str, optional
        Subjects that get the ``single`` baseline (default: every evaluated
        subject). Training one encoder per subject costs about as much as the
        joint run itself, so a quick comparison may name a few.
    out : path, optional
        Output folder (default ``RUN/evaluation``).
    n_candidates : int
        Images per retrieval trial (true image + distractors; capped at the test-set size). With
        fewer than 5 candidates, ``top5`` counts every candidate (accuracy and ``chance_top5`` 1).
    n_repeats : int
        Retrieval repeats with different distractors.
    overwrite : bool
        Replace an earlier evaluation in ``out``.
    progress : bool
    figures : bool

    Returns
    -------
    dict with ``summary`` (DataFrame), ``voxels`` (DataFrame), ``stats`` (dict of
    DataFrames), ``by_roi``, ``rsa``, ``region_correlations`` (per subject and
    model, how alike every pair of regions responds, predicted and measured:
    :func:`~brainembed.evaluation.region_response_correlations` over the planted
    ``region`` of simulated voxels, else their ``roi``) and ``out`` (folder).
    """
    from brainembed.data import load_crowd
    from brainembed.training.predict import predict_subject
    from brainembed.training.run import RunDirectory, fresh_folder

    unknown = sorted(set(baselines) - set(BASELINES))
    if unknown:
        raise BrainembedError(f"unknown baseline(s) {unknown}; choose from {', '.join(BASELINES)}.")
    run_dir = RunDirectory.of(run, data)
    config = run_dir.read_config()
    data_path = run_dir.store_path()
    out = fresh_folder(Path(out) if out is not None else run_dir.output_dir("evaluation"), overwrite,
                       what="an evaluation")
    crowd = load_crowd(data_path, list(config.subjects))
    for subject, n in zip(crowd.subjects, config.voxels_per_subject):
        if subject.n_voxels != n:
            raise BrainembedError(f"subject {subject.key} has {subject.n_voxels} voxels in {data_path} but the run "
                                  f"was trained with {n}; evaluate on the store the run was trained on.")
    keys = resolve_subjects(subjects, crowd.keys)
    single_keys = set(keys if single_subjects is None else resolve_subjects(single_subjects, keys))
    model = run_dir.load_encoder("best")
    tables, rows, reps, rsas, betweens = [], [], [], [], []
    for key in keys:
        subject = crowd.subject(key)
        test_rows = subject.rows("test")
        if test_rows.size < 3:
            raise BrainembedError(f"subject {key} has {test_rows.size} test images; at least 3 are needed.")
        true = subject.responses[test_rows]
        ceilings = _ceilings(subject, test_rows)
        _log(progress, f"{key}: universal encoder on {test_rows.size} test images")
        preds = {"universal": predict_subject(model, crowd, key, device="cpu",
                                              voxel_chunk=config.training.predict_chunk)}
        if "single" in baselines and key in single_keys:
            _log(progress, f"{key}: single-subject encoder")
            preds["single"] = _single_subject_predictions(config.encoder, config.training, crowd, key,
                                                          run_dir.path / "baselines" / "single", progress)
        if "ridge" in baselines:
            _log(progress, f"{key}: ridge on backbone features")
            preds["ridge"] = _ridge_predictions(model, crowd, key, config.training.seed)
        if "gabor" in baselines:
            _log(progress, f"{key}: ridge on Gabor-energy features")
            preds["gabor"] = _ridge_predictions(model, crowd, key, config.training.seed, features="gabor")
        for name, pred in preds.items():
            table, row, rep, rsa, between = _score(name, subject, pred, true, ceilings, n_candidates, n_repeats,
                                                   config.training.seed)
            tables.append(table)
            rows.append(row)
            reps.append(rep)
            rsas.append(rsa)
            betweens.append(between)
    voxels = pd.concat(tables, ignore_index=True)
    summary = pd.DataFrame(rows)
    repeats = pd.concat(reps, ignore_index=True)
    rsa = pd.concat(rsas, ignore_index=True)
    region_correlations = pd.concat(betweens, ignore_index=True)
    stats = _statistics(voxels, summary, repeats)
    by_roi = (voxels.groupby(["dataset", "subject", "model", "roi"], sort=False)["r"].agg(["median", "size"])
              .rename(columns={"median": "median_r", "size": "n_voxels"}).reset_index()
              if "roi" in voxels.columns else pd.DataFrame())
    voxels.to_csv(out / "voxels.csv", index=False)
    summary.to_csv(out / "summary.csv", index=False)
    repeats.to_csv(out / "retrieval_repeats.csv", index=False)
    rsa.to_csv(out / "rsa.csv", index=False)
    region_correlations.to_csv(out / "region_correlations.csv", index=False)
    by_roi.to_csv(out / "by_roi.csv", index=False)
    for name, table in stats.items():
        table.to_csv(out / f"{name}.csv", index="anova" == name)
    if figures:
        _figures(summary, out)
    _log(progress, f"tables and figures written to {out}")
    return {"summary": summary, "voxels": voxels, "stats": stats, "by_roi": by_roi, "rsa": rsa,
            "region_correlations": region_correlations, "out": out}


def _figures(summary: pd.DataFrame, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from brainembed.viz.results import plot_median_correlation, plot_retrieval

    ax = plot_median_correlation(summary)
    ax.figure.tight_layout()
    ax.figure.savefig(out / "median_r.png", dpi=120)
    plt.close(ax.figure)
    fig, axes = plt.subplots(1, 2, figsize=(13, 4))
    plot_retrieval(summary, axes[0], k=1)
    plot_retrieval(summary, axes[1], k=5)
    fig.tight_layout()
    fig.savefig(out / "retrieval.png", dpi=120)
    plt.close(fig)
