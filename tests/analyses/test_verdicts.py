"""Verdict logic of the reproduction report on planted numbers."""

import pandas as pd

from analyses import clusters, crowd_of_brains, crowd_of_datasets, table2, transfer
from analyses.verdicts import count_verdict, gain_verdict, name_list, threshold_verdict


def _summary(single, joint):
    rows = []
    for i, (s, j) in enumerate(zip(single, joint), start=1):
        for model, value in (("single", s), ("universal", j)):
            rows.append({"dataset": "7T", "subject": str(i), "model": model, "median_r": value,
                         "p25_r": value - 0.1, "p75_r": value + 0.1})
    return pd.DataFrame(rows)


def test_joint_above_single_is_reproduced():
    table = crowd_of_brains.joint_vs_single(_summary([0.40, 0.50, 0.30], [0.45, 0.55, 0.36]))
    row = crowd_of_brains.joint_verdict(table, "7T")
    assert row["verdict"] == "reproduced"
    assert "3/3" in row["ours"]
    assert crowd_of_brains.weakest_subject_verdict(table, "7T")["verdict"] == "reproduced"  # +20 % vs +10 %


def test_joint_below_single_is_not_reproduced():
    table = crowd_of_brains.joint_vs_single(_summary([0.45, 0.55, 0.36], [0.40, 0.50, 0.30]))
    assert crowd_of_brains.joint_verdict(table, "7T")["verdict"] == "not reproduced"
    assert crowd_of_brains.weakest_subject_verdict(table, "7T")["verdict"] == "not reproduced"


def test_mixed_results_name_the_exceptions():
    table = crowd_of_brains.joint_vs_single(_summary([0.40, 0.50], [0.45, 0.45]))
    verdict = crowd_of_brains.joint_verdict(table, "7T")["verdict"]
    assert verdict.startswith("differs because") and "7T:2" in verdict


def test_weakest_subject_gaining_less_differs():
    table = crowd_of_brains.joint_vs_single(_summary([0.20, 0.50], [0.21, 0.60]))  # +5 % vs +20 %
    assert crowd_of_brains.weakest_subject_verdict(table, "7T")["verdict"].startswith("differs because")


def test_table2_counts_only_the_named_dataset():
    table = pd.DataFrame({"dataset": ["7T", "7T", "3T"], "subject": ["1", "2", "3"],
                          "ridge": [0.3, 0.3, 0.5], "universal": [0.4, 0.5, 0.2]})
    assert table2.beats(table, "universal", "ridge", "7T", "median r", "c", "p")["verdict"] == "reproduced"
    assert table2.beats(table, "universal", "ridge", None, "median r", "c", "p")["verdict"].startswith("differs")
    means = table2.with_means(table)
    assert means["subject"].tolist()[-2:] == ["mean", "mean"]
    assert means.loc[3, "universal"] == 0.45


def test_gain_verdict_needs_significance():
    assert gain_verdict([0.1, 0.2], [0.01, 0.001], ["a", "b"]) == "reproduced"
    assert gain_verdict([0.1, 0.2], [0.01, 0.2], ["a", "b"]).startswith("differs because")
    assert gain_verdict([-0.1, -0.2], [0.01, 0.001], ["a", "b"]) == "not reproduced"
    assert "b" in gain_verdict([0.1, -0.2], [0.01, 0.001], ["a", "b"])


def test_count_and_threshold_verdicts():
    assert count_verdict([], [], "subjects").startswith("differs because there are no")
    assert threshold_verdict(0.98, 0.93, 0.5, reason="x") == "reproduced"
    assert threshold_verdict(0.7, 0.93, 0.5, reason="only 70 %") == "differs because only 70 %"
    assert threshold_verdict(0.2, 0.93, 0.5, reason="x") == "not reproduced"
    assert name_list(list("abcdefg")) == "a, b, c, d and 3 more"


def test_crowd_of_datasets_verdict():
    comparison = pd.DataFrame({"dataset": ["3T", "4T"], "subject": ["9", "12"], "median_r_alone": [0.2, 0.3],
                               "median_r_joint": [0.25, 0.33], "relative_gain": [0.25, 0.1],
                               "wilcoxon_p": [1e-4, 1e-3]})
    assert crowd_of_datasets.added_data_verdict(comparison)["verdict"] == "reproduced"
    worse = comparison.assign(median_r_joint=[0.1, 0.2], relative_gain=[-0.5, -0.33])
    assert crowd_of_datasets.added_data_verdict(worse)["verdict"] == "not reproduced"
    single = pd.DataFrame({"dataset": ["3T", "4T"], "subject": ["9", "12"], "median_r": [0.1, 0.35]})
    assert crowd_of_datasets.same_dataset_verdict(comparison, single)["verdict"].startswith("differs because")


def _curve(transfer_means, scratch_means, seeds=3):
    rows = []
    for n, t, s in zip((10, 100, 400), transfer_means, scratch_means):
        for seed in range(seeds):
            jitter = 0.01 * seed
            rows.append({"n_train": n, "seed": seed, "model": "transfer", "median_r": t + jitter})
            rows.append({"n_train": n, "seed": seed, "model": "scratch", "median_r": s + 2 * jitter})
    return pd.DataFrame(rows)


def test_transfer_verdicts_on_a_planted_curve():
    from brainembed.evaluation import paired_ttests

    curve = _curve((0.40, 0.45, 0.50), (0.10, 0.20, 0.30))
    tests = paired_ttests(curve, model="model", repeat="seed", value="median_r", reference="transfer", by="n_train")
    table = transfer.curve_table(curve, tests)
    assert table["n_train"].tolist() == [10, 100, 400]
    few = transfer.few_shot_verdict(table)
    assert few["verdict"] == "reproduced" and "100 images" in few["ours"]  # 0.46 at N=100 > 0.32 with all
    assert transfer.every_n_verdict(table)["verdict"] == "reproduced"
    assert transfer.gain_size_verdict(table)["verdict"] == "differs because the gain is positive at every N but " \
                                                           "smaller than 77 % somewhere (down to +59 %)"
    flat = transfer.curve_table(_curve((0.1, 0.2, 0.3), (0.2, 0.3, 0.4)), None)
    assert transfer.few_shot_verdict(flat)["verdict"] == "not reproduced"


def test_cluster_verdicts_on_planted_tables():
    sizes = pd.DataFrame({"cluster": [0, 0, 1, 1], "dataset": "7T", "subject": ["1", "2", "1", "2"],
                          "n_voxels": [50, 50, 95, 5], "share_of_cluster": [0.5, 0.5, 0.95, 0.05]})
    shared = clusters.shared_clusters(sizes)
    assert shared["shared"].tolist() == [True, False]
    assert clusters.shared_verdict(shared)["verdict"] == "reproduced"  # 1 of 2 is half: "most" holds at >= half
    place = pd.DataFrame({"cluster": [0, 1], "top_category": ["outdoor", "indoor"], "top_category_share": [0.8, 0.7],
                          "planted_region": ["PPA-outdoor", "PPA-indoor"]})
    assert clusters.place_verdict(place)["verdict"] == "reproduced"
    assert clusters.place_verdict(place.assign(top_category=["outdoor", "food"]))["verdict"].startswith("differs")
    assert clusters.place_verdict(None, "too few voxels")["verdict"] == "not run: too few voxels"
    truth = pd.DataFrame({"cluster": range(5), "dominated": [True] * 4 + [False],
                          "top_category": ["food", "face", "text", "outdoor", "object"],
                          "planted_category": ["food", "face", "text", "outdoor", "none"]})
    assert clusters.category_verdict(truth)["verdict"] == "reproduced"
    assert "text" in clusters.category_verdict(truth.assign(dominated=[True, True, False, True, False]))["verdict"]
    overlap = pd.DataFrame({"cluster": [0, 1], "share_differ": [0.8, 0.6], "matched": [True, True]})
    assert clusters.anatomy_verdict(overlap)["verdict"] == "reproduced"
    assert clusters.anatomy_verdict(overlap.assign(share_differ=[0.3, 0.2]))["verdict"] == "not reproduced"
    truth = pd.DataFrame({"scope": ["all", "category regions"], "n_voxels": [100, 40], "n_regions": [5, 3],
                          "ari": [0.05, 0.6]})
    assert clusters.anatomy_verdict(overlap, truth)["verdict"] == "reproduced"
    noise = clusters.anatomy_verdict(overlap, truth.assign(ari=[0.02, 0.05]))["verdict"]
    assert noise.startswith("differs because the clusters barely follow the planted regions (ARI 0.05)")


def test_cluster_truth_verdict_thresholds():
    truth = pd.DataFrame({"scope": ["all", "category regions"], "n_voxels": [100, 40], "n_regions": [5, 3],
                          "ari": [0.05, 0.8]})
    assert clusters.truth_verdict(truth, "category regions", "c")["verdict"] == "reproduced"
    assert clusters.truth_verdict(truth, "all", "c")["verdict"] == "not reproduced"
    assert clusters.truth_verdict(truth.assign(ari=[0.3, 0.3]), "all", "c")["verdict"].startswith("differs because")


def test_transfer_verdicts_when_scratch_alone_ran_on_the_full_set():
    from brainembed.evaluation import paired_ttests

    curve = _curve((0.40, 0.45, 0.50), (0.10, 0.20, 0.30))
    curve = curve[~((curve["n_train"] == 400) & (curve["model"] == "transfer"))]
    tests = paired_ttests(curve, model="model", repeat="seed", value="median_r", reference="transfer", by="n_train")
    table = transfer.curve_table(curve, tests)
    assert table["n_train"].tolist() == [10, 100, 400] and pd.isna(table["transfer_mean"].iloc[-1])
    assert transfer.few_shot_verdict(table)["verdict"] == "reproduced"  # 0.46 at N=100 > 0.32 with all
    every = transfer.every_n_verdict(table)
    assert every["verdict"] == "reproduced" and "2 sizes" in every["ours"] and "N=400" not in every["ours"]
