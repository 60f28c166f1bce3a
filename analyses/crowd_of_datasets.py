"""Fig. 5 and appendix B.4: the wisdom of a crowd of datasets.

The same encoder configuration as the base run is trained on the 3T and 4T
datasets alone (``targets_only``); the base run, trained on those subjects
together with the 7T dataset, is the "multi datasets" model. Both are scored
on the 3T/4T subjects' test images with
:func:`brainembed.pipeline.datasets.crowd_of_datasets`, and the single-subject
encoders of the base evaluation stand for the "baseline encoder".
"""

from __future__ import annotations

import pandas as pd

from analyses.common import evaluation_table
from analyses.verdicts import count_verdict, fmt, gain_verdict, pct, verdict_row
from brainembed.data.subjects import subject_key

NAME = "crowd_of_datasets"
TITLE = "Fig. 5: the crowd of datasets (3T/4T subjects with and without the 7T data)"
PAPER = ("§4.3, Fig. 5 and appendix B.4: on fMRI-on-ImageNet (3T) a universal encoder trained on all subjects of the "
         "dataset beats the single-subject baseline encoder, and adding the NSD (7T) data in the same model yields a "
         "further improvement; on VIM1 (4T) too, adding NSD training data significantly improves encoding (median r "
         "with 25th/75th percentiles; bar chart, no numbers given in the text).")

TARGETS = ("3T", "4T")
ADDED = ("7T",)


def added_data_verdict(comparison: pd.DataFrame, alpha: float = 0.05) -> dict:
    """Headline: the joint run (with the added data) beats the targets-only run on every target subject.

    Parameters
    ----------
    comparison : DataFrame
        From :func:`brainembed.pipeline.datasets.crowd_of_datasets`: ``dataset``, ``subject``,
        ``median_r_alone``, ``median_r_joint``, ``relative_gain``, ``wilcoxon_p``.
    alpha : float
        Significance level of the per-subject Wilcoxon test over voxels.

    Returns
    -------
    dict, a verdict row.
    """
    labels = subject_key(comparison["dataset"], comparison["subject"]).tolist()
    gains = comparison["median_r_joint"] - comparison["median_r_alone"]
    ours = (f"median r {fmt(comparison['median_r_alone'].mean())} alone -> {fmt(comparison['median_r_joint'].mean())} "
            f"with 7T (mean of {len(comparison)} subjects); relative gain "
            f"{pct(comparison['relative_gain'].min(), 1)} to {pct(comparison['relative_gain'].max(), 1)}; largest "
            f"Wilcoxon p {comparison['wilcoxon_p'].max():.2g}")
    return verdict_row("Adding the 7T dataset significantly improves every 3T and 4T subject",
                       "improvement on fMRI-on-ImageNet (3T) and VIM1 (4T) subjects (Fig. 5)", ours,
                       gain_verdict(gains, comparison["wilcoxon_p"], labels, alpha=alpha, what="target subjects"))


def same_dataset_verdict(comparison: pd.DataFrame, single: pd.DataFrame) -> dict:
    """The targets-only universal encoder against single-subject encoders (Fig. 5a green vs blue).

    Parameters
    ----------
    comparison : DataFrame
        As in :func:`added_data_verdict`.
    single : DataFrame
        ``dataset``, ``subject``, ``median_r`` of the single-subject encoders.

    Returns
    -------
    dict, a verdict row.
    """
    merged = comparison.merge(single.rename(columns={"median_r": "median_r_single"}), on=["dataset", "subject"])
    labels = subject_key(merged["dataset"], merged["subject"]).tolist()
    wins = (merged["median_r_alone"] > merged["median_r_single"]).tolist()
    ours = (f"median r {fmt(merged['median_r_single'].mean())} single -> {fmt(merged['median_r_alone'].mean())} "
            f"universal on the target datasets (mean of {len(merged)}); higher for {sum(wins)}/{len(wins)}")
    return verdict_row("A universal encoder trained on the subjects of the same (3T/4T) datasets beats the "
                       "single-subject encoder", "green above blue in Fig. 5a", ours,
                       count_verdict(wins, labels, "target subjects"))


def run(ctx) -> dict:
    """Train the targets-only run, compare with the base run on the 3T/4T subjects."""
    from brainembed.pipeline.datasets import crowd_of_datasets

    exclude = (ctx.held_out,) if ctx.held_out else ()
    result = crowd_of_datasets(ctx.store, ctx.folder / "runs", targets=TARGETS, added=ADDED, exclude=exclude,
                               joint_run=ctx.base_run, progress=ctx.progress)
    comparison = result["comparison"]
    summary = evaluation_table(ctx.base_run, "summary")
    single = summary[summary["model"] == "single"][["dataset", "subject", "median_r"]]
    table = comparison.merge(single.rename(columns={"median_r": "median_r_single_subject"}),
                             on=["dataset", "subject"], how="left")
    verdicts = [added_data_verdict(comparison), same_dataset_verdict(comparison, single)]
    notes = ["median_r_alone: the universal encoder trained on the 3T and 4T subjects only; median_r_joint: the base "
             "run (7T + 3T + 4T); median_r_single_subject: the same encoder trained on the subject alone. The "
             "Wilcoxon test pairs the two universal runs' r over the subject's voxels.",
             "Both universal runs use the base run's encoder and training settings, so they differ only in data."]
    return {"tables": {"comparison": table}, "figures": {"fig5_comparison": result["out"] / "comparison.png"},
            "verdicts": verdicts, "notes": notes}
