"""Fig. 7 and §5: exploring the brain with the voxel embeddings.

k-means over the voxel embeddings of subjects 1 and 2 together
(:func:`brainembed.pipeline.cluster.cluster_run`, k = 20), the top test images
of every cluster, the fsaverage vertex overlap of each cluster between the two
subjects, and the subdivision of the place region (PPA, k = 2). On the
simulated crowd the planted regions are known, so the clusters are also
scored against them (ARI) and each cluster's top-image category is checked
against its voxels' planted category. The run's jointly trained embeddings
are clustered once, their top images ranked as in the paper and relative to
the mean voxel; then ``brainembed refit`` fits the two subjects' embeddings
afresh against the frozen shared weights and they are clustered again (top
images ranked relative to the mean voxel).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analyses.verdicts import (
    NOT_REPRODUCED,
    REPRODUCED,
    count_verdict,
    differs,
    not_run,
    pct,
    threshold_verdict,
    verdict_row,
)

NAME = "clusters"
TITLE = "Fig. 7: clusters of voxel embeddings across subjects, PPA subdivision"
PAPER = ("§5 and Fig. 7: k-means (k = 20) over the voxel embeddings of NSD subjects 1 and 2 finds shared functional "
         "regions that emerge although the subjects saw different images; the 4 clusters shown are activated by "
         "food, faces, text and outdoor scenes; the regions are in nearby but not aligned anatomical locations (more "
         "than 50 % of each cluster's fsaverage voxel indices differ between the subjects). Within the PPA, k = 2 "
         "separates indoor-scene from outdoor-scene sub-regions (Fig. 7b).")

SUBJECTS = ("1", "2")
#: Clusters per preset (the tiny crowd has too few voxels for 20).
K = {"tiny": 6, "demo": 20, "paper": 20}
#: A cluster is shared when each subject holds at least this share of its voxels.
MIN_SHARE = 0.2
#: Adjusted Rand index against the planted regions: at or above ``ARI_GOOD`` the clusters recover them,
#: at or below ``ARI_CHANCE`` they do not (ARI is 0 for a random partition).
ARI_GOOD, ARI_CHANCE = 0.5, 0.1
#: The categories of the clusters shown in Fig. 7a.
PAPER_CATEGORIES = ("food", "face", "text", "outdoor")


def shared_clusters(sizes: pd.DataFrame, min_share: float = MIN_SHARE) -> pd.DataFrame:
    """Per cluster: the smallest subject share and whether the cluster is shared.

    Parameters
    ----------
    sizes : DataFrame
        ``sizes.csv`` of a clustering (``cluster``, ``dataset``, ``subject``,
        ``n_voxels``, ``share_of_cluster``).
    min_share : float

    Returns
    -------
    DataFrame with ``cluster``, ``cluster_size``, ``min_subject_share``, ``shared``.
    """
    grouped = sizes.groupby("cluster")
    table = pd.DataFrame({"cluster_size": grouped["n_voxels"].sum(),
                          "min_subject_share": grouped["share_of_cluster"].min()}).reset_index()
    table["shared"] = table["min_subject_share"] >= min_share
    return table


def shared_verdict(shared: pd.DataFrame, min_share: float = MIN_SHARE) -> dict:
    """Headline: most clusters hold voxels of both subjects (each at least ``min_share``)."""
    n, k = int(shared["shared"].sum()), len(shared)
    voxels = float(shared.loc[shared["shared"], "cluster_size"].sum() / shared["cluster_size"].sum())
    if n == 0:
        verdict = NOT_REPRODUCED
    elif n >= k / 2:
        verdict = REPRODUCED
    else:
        verdict = differs(f"only {n} of {k} clusters are shared by both subjects")
    return verdict_row(f"Clusters are shared across subjects (each subject holds >= {min_share:.0%} of the cluster)",
                       "shared regions emerge in both subjects (Fig. 7a)",
                       f"{n}/{k} clusters shared, holding {pct(voxels, 0, False)} of the voxels", verdict)


def category_verdict(truth_clusters: pd.DataFrame, categories=PAPER_CATEGORIES) -> dict:
    """The clusters' top images are dominated by one category, including the paper's four."""
    dominated = truth_clusters[truth_clusters["dominated"].astype(bool)]
    found = sorted(set(dominated["top_category"].astype(str)))
    missing = [c for c in categories if c not in found]
    planted = dominated[dominated["planted_category"].astype(str) != "none"]
    matches = int((planted["top_category"].astype(str) == planted["planted_category"].astype(str)).sum())
    ours = (f"{len(dominated)}/{len(truth_clusters)} clusters dominated (>= 50 % of top images) by one category: "
            f"{', '.join(found) or 'none'}; {matches}/{len(planted)} of those in category regions match the planted "
            "category")
    if dominated.empty:
        verdict = NOT_REPRODUCED
    elif not missing:
        verdict = REPRODUCED
    else:
        verdict = differs(f"no cluster's top images are dominated by {', '.join(missing)}")
    return verdict_row("Clusters have category-dominated top images: food, faces, text, outdoor scenes",
                       "4 clusters of 20 shown: food, faces, text, outdoor scenes", ours, verdict)


def anatomy_verdict(overlap: pd.DataFrame, truth: pd.DataFrame | None = None) -> dict:
    """More than half of each shared cluster's fsaverage vertex indices differ between the subjects.

    Clusters that do not follow any functional organisation also differ
    between subjects, trivially. So when the ground truth is known
    (``truth``, the clustering's ``truth.csv``) and the clusters recover the
    planted category regions no better than chance (ARI <= :data:`ARI_CHANCE`),
    the verdict says that the overlap measures noise rather than anatomy.
    """
    if truth is not None and not truth.empty and "category regions" in set(truth["scope"]):
        ari = float(truth.set_index("scope").loc["category regions", "ari"])
        if ari <= ARI_CHANCE:
            return verdict_row("Shared clusters are not anatomically aligned (> 50 % of fsaverage vertex indices "
                               "differ)", "> 50 % in each cluster",
                               f"ARI {ari:.2f} against the planted category regions",
                               differs(f"the clusters barely follow the planted regions (ARI {ari:.2f}), so their "
                                       "vertex overlap says nothing about the anatomy of functional regions"))
    matched = overlap[overlap["matched"].astype(bool)] if "matched" in overlap.columns else overlap
    shares = matched["share_differ"].dropna()
    if shares.empty:
        return verdict_row("Shared clusters are not anatomically aligned (> 50 % of vertex indices differ)",
                           "> 50 % in each cluster", "no cluster covers both subjects",
                           differs("no cluster covers vertices of both subjects"))
    n_over = int((shares > 0.5).sum())
    ours = (f"median {pct(float(shares.median()), 0, False)} differ (range {pct(float(shares.min()), 0, False)}-"
            f"{pct(float(shares.max()), 0, False)}); > 50 % in {n_over}/{len(shares)} clusters")
    return verdict_row("Shared clusters are not anatomically aligned (> 50 % of fsaverage vertex indices differ)",
                       "> 50 % in each cluster", ours,
                       count_verdict((shares > 0.5).tolist(), matched.loc[shares.index, "cluster"].astype(str),
                                     "clusters"))


def place_verdict(truth_clusters: pd.DataFrame | None, reason: str | None = None) -> dict:
    """The PPA's two clusters have indoor and outdoor scenes as their top-image categories."""
    claim, paper = "Within the PPA, k = 2 separates indoor from outdoor scenes", "indoor vs outdoor (Fig. 7b)"
    if truth_clusters is None or truth_clusters.empty:
        return verdict_row(claim, paper, "-", not_run(reason or "the subdivision could not be run"))
    tops = truth_clusters["top_category"].astype(str).tolist()
    shares = truth_clusters["top_category_share"].tolist()
    planted = truth_clusters["planted_region"].astype(str).tolist()
    ours = "; ".join(f"cluster {c}: top images {pct(s, 0, False)} {t} (planted {p})"
                     for c, t, s, p in zip(truth_clusters["cluster"], tops, shares, planted))
    if sorted(tops) == ["indoor", "outdoor"]:
        verdict = REPRODUCED
    elif {"indoor", "outdoor"} & set(tops):
        verdict = differs(f"the two sub-clusters' top images are {' and '.join(tops)}, not indoor and outdoor")
    else:
        verdict = NOT_REPRODUCED
    return verdict_row(claim, paper, ours, verdict)


def truth_verdict(truth: pd.DataFrame, scope: str, claim: str) -> dict:
    """Ground truth: do the clusters recover the planted regions (adjusted Rand index in ``scope``)?

    Parameters
    ----------
    truth : DataFrame
        ``truth.csv`` of a clustering (``scope``, ``n_voxels``, ``n_regions``, ``ari``).
    scope : str
        ``all``, ``category regions`` or ``early areas``.
    claim : str

    Returns
    -------
    dict, a verdict row: reproduced at ARI >= :data:`ARI_GOOD`, not reproduced at ARI <= :data:`ARI_CHANCE`.
    """
    row = truth.set_index("scope").loc[scope]
    ari = float(row["ari"])
    ours = f"ARI {ari:.2f} over {int(row['n_voxels'])} voxels of {int(row['n_regions'])} planted regions ({scope})"
    verdict = threshold_verdict(ari, ARI_GOOD, ARI_CHANCE,
                                reason=f"the clusters only partly follow the planted regions (ARI {ari:.2f})")
    return verdict_row(f"{claim} (ARI >= {ARI_GOOD} reproduced, <= {ARI_CHANCE} not)",
                       "- (not measurable on real data)", ours, verdict)


def _cluster_pair(run_dir, k: int, ctx, relative: bool = False):
    """PPA subdivision (k = 2) and the k-cluster clustering of subjects 1 and 2 of one run."""
    from brainembed.errors import BrainembedError
    from brainembed.pipeline.cluster import cluster_run

    place, place_reason = None, None
    try:
        place = cluster_run(run_dir, list(SUBJECTS), k=2, roi="PPA", seed=ctx.seed, n_top=8, relative=relative,
                            overwrite=True, progress=ctx.progress)
    except BrainembedError as err:
        place_reason = f"the PPA subdivision could not run ({err})"
    clusters = cluster_run(run_dir, list(SUBJECTS), k=k, seed=ctx.seed, relative=relative, overwrite=True,
                           progress=ctx.progress)
    return clusters, place, place_reason


def _verdicts(clusters, place, place_reason, label: str = "") -> list[dict]:
    """The verdict rows of one clustering and its PPA subdivision; ``label`` prefixes every claim."""
    verdicts = [shared_verdict(shared_clusters(clusters["sizes"]))]
    if not clusters["truth_clusters"].empty and "dominated" in clusters["truth_clusters"].columns:
        verdicts.append(category_verdict(clusters["truth_clusters"]))
    if not clusters["overlap"].empty:
        verdicts.append(anatomy_verdict(clusters["overlap"], clusters["truth"]))
    if not clusters["truth"].empty:
        verdicts.append(truth_verdict(clusters["truth"], "category regions",
                                      "Ground truth: the clusters recover the planted category regions"))
    verdicts.append(place_verdict(place["truth_clusters"] if place is not None else None, place_reason))
    if place is not None and not place["truth"].empty:
        verdicts.append(truth_verdict(place["truth"], "all", "Ground truth: the two PPA sub-clusters follow the "
                                                             "planted indoor and outdoor sub-regions"))
    return _labelled(verdicts, label)


def _labelled(verdicts: list[dict], label: str) -> list[dict]:
    """The verdict rows with ``label`` prefixed to every claim (unchanged for an empty label)."""
    return [{**row, "claim": f"{label}: {row['claim']}"} for row in verdicts] if label else verdicts


def run(ctx) -> dict:
    """Cluster subjects 1 and 2 (k = 20) and the PPA (k = 2); rank top images two ways; refit and cluster again."""
    from brainembed.errors import BrainembedError
    from brainembed.pipeline.flatmap import flatmap_run
    from brainembed.pipeline.refit import refit_run
    from brainembed.pipeline.top_images import top_images_run

    k = ctx.pick(K)
    notes, figures, tables = [], {}, {}
    clusters, place, place_reason = _cluster_pair(ctx.base_run, k, ctx)
    if place_reason:
        notes.append(place_reason)
    shared = shared_clusters(clusters["sizes"])
    tables["shared_clusters"] = shared
    tables["truth_ari"] = clusters["truth"]
    tables["clusters_vs_truth"] = clusters["truth_clusters"]
    tables["vertex_overlap"] = clusters["overlap"]
    verdicts = _verdicts(clusters, place, place_reason)
    for name in ("top_images", "sizes", "overlap"):
        figures[f"clusters_{name}"] = clusters["out"] / f"{name}.png"
    if place is not None:
        tables["ppa_clusters_vs_truth"] = place["truth_clusters"]
        tables["ppa_truth_ari"] = place["truth"]
        figures["ppa_top_images"] = place["out"] / "top_images.png"
    for tag, name in ((clusters["tag"], "clusters_flatmap"), (place["tag"] if place else None, "ppa_flatmap")):
        if tag is None:
            continue
        try:
            drawn = flatmap_run(ctx.base_run, value="clusters", subjects=list(SUBJECTS), clusters=tag,
                                out=ctx.folder / f"{name}.png")
            figures[name] = drawn["path"]
        except BrainembedError as err:
            notes.append(f"{name} skipped: {err}")
    truth = clusters["truth"].set_index("scope")["ari"] if not clusters["truth"].empty else pd.Series(dtype=float)
    if len(truth):
        notes.append("Ground truth (adjusted Rand index of clusters vs planted regions): " + ", ".join(
            f"{scope} {value:.2f}" for scope, value in truth.items() if np.isfinite(value)) + ".")
    notes.append(f"k = {k} over the embeddings of subjects {' and '.join(SUBJECTS)} of the first dataset; clustering "
                 f"{clusters['tag']} in {clusters['out']}.")

    # The same clusters with top images ranked relative to the mean of the clustered voxels.
    relative = top_images_run(ctx.base_run, clusters["tag"], relative=True, overwrite=True, progress=ctx.progress)
    tables["relative_clusters_vs_truth"] = relative["clusters"]
    figures["relative_clusters_top_images"] = relative["out"] / "top_images.png"
    relative_rows = []
    if "dominated" in relative["clusters"].columns:
        relative_rows.append(category_verdict(relative["clusters"]))
    if place is not None:
        relative_place = top_images_run(ctx.base_run, place["tag"], n=8, relative=True, overwrite=True,
                                        progress=ctx.progress)
        tables["relative_ppa_clusters_vs_truth"] = relative_place["clusters"]
        relative_rows.append(place_verdict(relative_place["clusters"], None))
    verdicts += _labelled(relative_rows, "Joint embeddings, relative top images")

    # The same after refitting the two subjects' embeddings against the frozen shared weights.
    refit = refit_run(ctx.base_run, ctx.folder / "refit_run", list(SUBJECTS), patience=3, seed=ctx.seed,
                      overwrite=True, progress=ctx.progress)
    tables["refit"] = refit["table"]
    r_clusters, r_place, r_reason = _cluster_pair(refit["out"], k, ctx, relative=True)
    tables["refit_truth_ari"] = r_clusters["truth"]
    tables["refit_clusters_vs_truth"] = r_clusters["truth_clusters"]
    if r_place is not None:
        tables["refit_ppa_clusters_vs_truth"] = r_place["truth_clusters"]
        figures["refit_ppa_top_images"] = r_place["out"] / "top_images.png"
    figures["refit_clusters_top_images"] = r_clusters["out"] / "top_images.png"
    verdicts += _verdicts(r_clusters, r_place, r_reason, "After `brainembed refit`, relative top images")
    notes.append("`brainembed refit` fits the two subjects' embeddings afresh with every shared weight frozen (the "
                 "transfer-learning procedure); its clusters rank top images relative to the mean voxel "
                 f"(`--relative`). Refitted run in {refit['out']}.")
    return {"tables": tables, "figures": figures, "verdicts": verdicts, "notes": notes}
