"""``brainembed datasets``: the crowd of datasets (paper §4.3, Fig. 5).

Does data from another scanner help? The same encoder configuration is
trained twice: once on the *target* datasets alone (e.g. the 3T and 4T
subjects) and once with an *added* dataset (e.g. the 7T subjects) in the same
embedding table. Both runs are then evaluated on the target subjects' test
images, and each target subject's voxels are compared between the two runs.

Written into ``OUT/``::

    targets_only/          run trained on the target datasets alone (+ evaluation/)
    with_added/            run trained on targets + added datasets (+ evaluation/), unless
                           an existing joint run is given
    comparison.csv         one row per target subject: median r (and r/ceiling) of both runs,
                           the gain, and a paired Wilcoxon test over voxels
    voxels.csv             per-voxel r of both runs
    comparison.png         median r per target subject, both runs

Finished runs and evaluations are reused when the command is run again.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from brainembed.data.subjects import resolve_subjects, subject_key
from brainembed.errors import BrainembedError


def _log(progress: bool, message: str) -> None:
    if progress:
        print(f"[datasets] {message}", flush=True)


def _subjects_by_dataset(store_path) -> dict[str, list[str]]:
    from brainembed.data import CrowdStore

    with CrowdStore(store_path) as store:
        summary = store.summary()
    datasets = summary["dataset"].astype(str)
    keys = subject_key(datasets, summary["subject"])
    return {d: keys[datasets == d].tolist() for d in dict.fromkeys(datasets)}


def _pick(by_dataset: dict, names, what: str) -> list[str]:
    names = [str(n) for n in names]
    unknown = [n for n in names if n not in by_dataset]
    if unknown:
        raise BrainembedError(f"unknown {what} dataset(s) {', '.join(unknown)}; the store holds "
                              f"{', '.join(by_dataset)}.")
    return [k for n in names for k in by_dataset[n]]


def _evaluation(run: Path, targets: list[str], progress: bool) -> pd.DataFrame:
    """Per-voxel scores of a run on the target subjects (computed once, then read back)."""
    from brainembed.pipeline.evaluate import evaluate_run

    out = run / "evaluation_targets"
    voxels = out / "voxels.csv"
    if voxels.is_file():
        table = pd.read_csv(voxels, dtype={"dataset": str, "subject": str})
        done = set(subject_key(table["dataset"], table["subject"]))
        if set(targets) <= done:
            return table
    result = evaluate_run(run, baselines=(), subjects=targets, out=out, overwrite=True, progress=progress,
                          figures=False)
    return result["voxels"]


def compare_runs(alone: pd.DataFrame, joint: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-subject comparison of two runs' per-voxel test correlations.

    Parameters
    ----------
    alone, joint : DataFrame
        ``voxels.csv`` tables of :func:`~brainembed.pipeline.evaluate.evaluate_run`
        (``dataset``, ``subject``, ``model``, ``voxel``, ``r`` and optionally
        ``r_over_true_ceiling``), universal-model rows only are used.

    Returns
    -------
    comparison : DataFrame
        One row per subject of ``alone``: ``median_r_alone``, ``median_r_joint``,
        ``gain`` (difference), ``relative_gain``, ``share_voxels_improved``,
        ``wilcoxon_p`` (paired over voxels, two-sided, scipy) and, when known,
        the medians of r over the exact noise ceiling.
    voxels : DataFrame
        ``dataset``, ``subject``, ``voxel``, ``r_alone``, ``r_joint``.
    """
    from scipy import stats

    columns = ["dataset", "subject", "voxel", "r"]
    extra = "r_over_true_ceiling" if "r_over_true_ceiling" in alone.columns else None
    keep = columns + ([extra] if extra else [])

    def universal(table):
        table = table[table["model"] == "universal"] if "model" in table.columns else table
        return table[[c for c in keep if c in table.columns]].astype({"dataset": str, "subject": str})

    merged = universal(alone).merge(universal(joint), on=["dataset", "subject", "voxel"], suffixes=("_alone", "_joint"),
                                    how="left", validate="one_to_one")
    if merged["r_joint"].isna().any():
        missing = merged.loc[merged["r_joint"].isna(), ["dataset", "subject"]].drop_duplicates()
        raise BrainembedError("the joint run has no scores for subject(s) "
                              f"{', '.join(missing['dataset'] + ':' + missing['subject'])}.")
    rows = []
    for (dataset, subject), part in merged.groupby(["dataset", "subject"], sort=False):
        a, b = part["r_alone"].to_numpy(float), part["r_joint"].to_numpy(float)
        ok = np.isfinite(a) & np.isfinite(b)
        row = {"dataset": dataset, "subject": subject, "n_voxels": int(ok.sum()),
               "median_r_alone": float(np.median(a[ok])), "median_r_joint": float(np.median(b[ok]))}
        row["gain"] = row["median_r_joint"] - row["median_r_alone"]
        row["relative_gain"] = row["gain"] / abs(row["median_r_alone"]) if row["median_r_alone"] else np.nan
        row["share_voxels_improved"] = float(np.mean(b[ok] > a[ok]))
        row["wilcoxon_p"] = float(stats.wilcoxon(b[ok], a[ok]).pvalue) if np.any(a[ok] != b[ok]) else 1.0
        if extra:
            row["median_r_over_ceiling_alone"] = float(np.nanmedian(part[f"{extra}_alone"]))
            row["median_r_over_ceiling_joint"] = float(np.nanmedian(part[f"{extra}_joint"]))
        rows.append(row)
    voxels = merged[["dataset", "subject", "voxel", "r_alone", "r_joint"]]
    return pd.DataFrame(rows), voxels


def crowd_of_datasets(data, out, *, targets=("3T", "4T"), added=("7T",), exclude=(), joint_run=None,
                      encoder: str = "ube_sim", training: dict | None = None, overwrite: bool = False,
                      progress: bool = True, figures: bool = True) -> dict:
    """Train on target datasets with and without an added dataset; compare on the targets.

    Parameters
    ----------
    data : path
        Crowd store.
    out : path
        Output folder (see the module docstring).
    targets : sequence of str
        Datasets whose subjects are evaluated (default the 3T and 4T datasets).
    added : sequence of str
        Datasets added in the joint run (default the 7T dataset).
    exclude : sequence of str
        Subjects left out of both runs (e.g. a subject kept for transfer): keys, or bare ids
        unique in the store (:mod:`brainembed.data.subjects`).
    joint_run : path, optional
        An existing run that already trained on targets + added subjects (e.g.
        the demo's run); used instead of training ``with_added``, and its
        encoder and training settings are used for ``targets_only`` so that
        the two runs differ only in their data.
    encoder : str
        Registered encoder for the runs trained here (without ``joint_run``).
    training : dict, optional
        TrainConfig fields for the runs trained here (without ``joint_run``).
    overwrite : bool
        Discard earlier runs and tables in ``out`` (default: reuse finished ones).
    progress, figures : bool

    Returns
    -------
    dict with ``comparison`` (DataFrame), ``voxels`` (DataFrame), ``runs`` and ``out``.
    """
    from brainembed.data import load_crowd
    from brainembed.data.store import resolve_store_path
    from brainembed.training.config import TrainConfig
    from brainembed.training.loop import train_encoder
    from brainembed.training.run import RunDirectory

    store_path = resolve_store_path(data)
    by_dataset = _subjects_by_dataset(store_path)
    excluded = set(resolve_subjects(list(exclude), [k for keys in by_dataset.values() for k in keys])) \
        if len(exclude) else set()
    target_keys = [k for k in _pick(by_dataset, targets, "target") if k not in excluded]
    added_keys = [k for k in _pick(by_dataset, added, "added") if k not in excluded]
    if set(targets) & set(added):
        raise BrainembedError("a dataset cannot be both a target and added.")
    if not target_keys or not added_keys:
        raise BrainembedError("both the target and the added datasets need at least one subject.")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    settings = TrainConfig.from_dict(training or {})
    runs = {"targets_only": out / "targets_only"}
    if joint_run is not None:
        config = RunDirectory(joint_run).read_config()
        missing = sorted(set(target_keys) - set(config.subjects))
        if missing:
            raise BrainembedError(f"the joint run {joint_run} did not train on {', '.join(missing)}.")
        if not set(added_keys) & set(config.subjects):
            raise BrainembedError(f"the joint run {joint_run} holds no subject of {', '.join(map(str, added))}.")
        runs["with_added"] = Path(joint_run)
        encoder, settings = config.encoder, config.training
    else:
        runs["with_added"] = out / "with_added"
    plans = {"targets_only": target_keys, "with_added": target_keys + added_keys}
    for name, keys in plans.items():
        if name == "with_added" and joint_run is not None:
            continue
        _log(progress, f"training '{name}' on {len(keys)} subjects: {', '.join(keys)}")
        crowd = load_crowd(store_path, keys, repeats=False)
        train_encoder(crowd, runs[name], encoder=encoder, training=settings, data_path=str(store_path),
                      overwrite=overwrite, resume=True, progress=progress)
    _log(progress, "evaluating both runs on the target subjects' test images")
    alone = _evaluation(runs["targets_only"], target_keys, progress)
    joint = _evaluation(runs["with_added"], target_keys, progress)
    comparison, voxels = compare_runs(alone, joint)
    comparison.to_csv(out / "comparison.csv", index=False)
    voxels.to_csv(out / "voxels.csv", index=False)
    if figures:
        _figure(comparison, out / "comparison.png", added)
    for row in comparison.itertuples():
        _log(progress, f"{row.dataset}:{row.subject}: median r {row.median_r_alone:.3f} alone -> "
                       f"{row.median_r_joint:.3f} with {'+'.join(map(str, added))} ({row.relative_gain:+.1%}, "
                       f"Wilcoxon p {row.wilcoxon_p:.2g})")
    return {"comparison": comparison, "voxels": voxels, "runs": runs, "out": out}


def _figure(comparison: pd.DataFrame, path: Path, added) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    labels = subject_key(comparison["dataset"], comparison["subject"]).tolist()
    x = np.arange(len(labels))
    fig, ax = plt.subplots(figsize=(1.2 * len(labels) + 2, 3.5))
    ax.bar(x - 0.2, comparison["median_r_alone"], 0.4, label="target datasets alone")
    ax.bar(x + 0.2, comparison["median_r_joint"], 0.4, label=f"with {'+'.join(map(str, added))} data")
    ax.set_xticks(x)
    ax.set_xticklabels(labels)
    ax.set_ylabel("median voxel r (test)")
    ax.legend(frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
