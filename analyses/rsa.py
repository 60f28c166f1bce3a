"""Figs. S13 and S22: representational similarity of predictions and of voxel embeddings.

:func:`brainembed.pipeline.rsa.rsa_run` per subject and ROI: (S13) the
Spearman correlation between the predicted and the measured image RDMs of the
test images; (S22) the Spearman correlation between the voxel-by-voxel
dissimilarity of the voxel embeddings and of the voxels' measured response
profiles. Both with Mantel permutation p-values.
"""

from __future__ import annotations

import pandas as pd

from analyses.verdicts import count_verdict, fmt, verdict_row
from brainembed.data.subjects import subject_key

NAME = "rsa"
TITLE = "Figs. S13, S22: RSA of predictions and of voxel embeddings"
PAPER = ("§4 (evaluation metrics) and Fig. S13: the RSA of the encoder's predictions aligns with the empirical RSA, "
         "'indicating faithful preservation of fMRI representational geometry'; §5 and Fig. S22: the voxel embeddings "
         "'strongly correlate with fMRI-based RSA', i.e. they capture the representational structure of the brain "
         "(figures only; no numbers in the text).")

SUBJECTS = ("1", "2")
#: Mantel permutations and voxels per ROI, per preset.
SETTINGS = {"tiny": {"n_permutations": 100, "max_voxels": 200},
            "demo": {"n_permutations": 200, "max_voxels": 500},
            "paper": {"n_permutations": 1000, "max_voxels": 500}}


def rsa_verdict(table: pd.DataFrame, value: str, p_column: str, claim: str, paper: str,
                alpha: float = 0.05) -> dict:
    """Positive and significant (Mantel p < ``alpha``) RSA in every subject and ROI.

    Parameters
    ----------
    table : DataFrame
        ``rsa.csv`` of :func:`~brainembed.pipeline.rsa.rsa_run`.
    value, p_column : str
        The RSA column and its p-value column.
    claim, paper : str
    alpha : float

    Returns
    -------
    dict, a verdict row.
    """
    rows = table.dropna(subset=[value])
    wins = ((rows[value] > 0) & (rows[p_column] < alpha)).tolist()
    labels = (subject_key(rows["dataset"], rows["subject"]) + " " + rows["roi"].astype(str)).tolist()
    ours = (f"Spearman median {fmt(rows[value].median())} (range {fmt(rows[value].min())} to "
            f"{fmt(rows[value].max())}); positive with p < {alpha} in {sum(wins)}/{len(wins)} subject-ROIs")
    return verdict_row(claim, paper, ours, count_verdict(wins, labels, "subject-ROIs"))


def run(ctx) -> dict:
    """RSA of subjects 1 and 2 per ROI, and the verdicts."""
    from brainembed.pipeline.rsa import rsa_run

    settings = ctx.pick(SETTINGS)
    result = rsa_run(ctx.base_run, list(SUBJECTS), n_permutations=settings["n_permutations"],
                     max_voxels=settings["max_voxels"], seed=ctx.seed, overwrite=True, progress=ctx.progress)
    table = result["table"].astype({"dataset": str, "subject": str})
    verdicts = [
        rsa_verdict(table, "embedding_rsa", "embedding_p",
                    "Voxel-embedding similarity correlates with the similarity of measured response profiles "
                    "(every ROI)", "'strongly correlate' (Fig. S22)"),
        rsa_verdict(table, "image_rsa", "image_p",
                    "Predicted image RDMs match the measured ones (every ROI)",
                    "'align with empirical RSA' (Fig. S13)"),
    ]
    notes = [f"Subjects {' and '.join(SUBJECTS)}; {settings['n_permutations']} Mantel permutations; at most "
             f"{settings['max_voxels']} voxels per ROI in the embedding RSA. 'other' is the rest of the visual-cortex "
             "mask."]
    return {"tables": {"rsa": table},
            "figures": {"rsa_by_roi": result["out"] / "rsa.png", "rdms": result["out"] / "rdms.png"},
            "verdicts": verdicts, "notes": notes}
