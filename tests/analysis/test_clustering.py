"""Clustering across subjects: planted Gaussian clusters are recovered with the right per-subject shares."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from brainembed.analysis import (
    EmbeddingKMeans,
    VoxelEmbeddings,
    cluster_sizes,
    cluster_voxels,
    clustering_tag,
    load_clustering,
    save_clustering,
)
from brainembed.errors import BrainembedError
from tests.analysis.conftest import planted_embeddings


def test_kmeans_recovers_planted_clusters_and_subject_shares(planted):
    embeddings, truth = planted
    labels = cluster_voxels(embeddings, 3, random_state=0)
    assert list(labels.columns) == ["dataset", "subject", "voxel", "hemi", "vertex", "roi", "cluster"]
    assert adjusted_rand_score(truth, labels["cluster"]) == pytest.approx(1.0)
    # clusters are numbered by size: planted sizes are 40, 35, 35 (ties by k-means label)
    assert np.bincount(labels["cluster"]).tolist()[0] == 40
    sizes = cluster_sizes(labels)
    assert len(sizes) == 3 * 2
    planted_counts = pd.crosstab(truth, labels["subject"].to_numpy())
    for cluster in range(3):
        source = np.bincount(truth[labels["cluster"].to_numpy() == cluster]).argmax()
        for subject in ("1", "2"):
            row = sizes[(sizes["cluster"] == cluster) & (sizes["subject"] == subject)].iloc[0]
            assert row["n_voxels"] == planted_counts.loc[source, subject]
            assert row["share_of_cluster"] == pytest.approx(row["n_voxels"] / planted_counts.loc[source].sum())
            assert row["share_of_subject"] == pytest.approx(row["n_voxels"] / planted_counts[subject].sum())
    assert sizes.groupby("cluster")["share_of_cluster"].sum().to_numpy() == pytest.approx(1.0)
    assert sizes.groupby("subject")["share_of_subject"].sum().to_numpy() == pytest.approx(1.0)


def test_subject_selection_and_seeded_reproducibility(planted):
    embeddings, truth = planted
    one = cluster_voxels(embeddings, 3, subjects=["2"])
    assert set(one["subject"]) == {"2"} and len(one) == 50
    again = cluster_voxels(embeddings, 3, subjects=["2"])
    assert one["cluster"].tolist() == again["cluster"].tolist()


def test_l2_normalisation_clusters_by_direction():
    rng = np.random.default_rng(1)
    directions = np.eye(4)[:2] * [[1], [1]]
    planted = np.repeat([0, 1], 40)
    scale = rng.uniform(0.2, 5.0, size=(80, 1))  # norms vary a lot within each direction
    X = directions[planted] * scale + 0.02 * rng.normal(size=(80, 4))
    normalised = EmbeddingKMeans(2, normalize=True).fit(X)
    assert adjusted_rand_score(planted, normalised.labels_) == pytest.approx(1.0)
    assert normalised.predict(X).tolist() == normalised.labels_.tolist()
    assert np.allclose(np.linalg.norm(normalised.cluster_centers_, axis=1), 1.0, atol=0.05)


def test_roi_subdivision_recovers_two_planted_subclusters():
    rng = np.random.default_rng(2)
    n_ppa, n_other = 60, 80
    sub = np.repeat([0, 1], n_ppa // 2)
    ppa = np.array([[2.0, 0, 0, 0], [-2.0, 0, 0, 0]])[sub] + 0.3 * rng.normal(size=(n_ppa, 4))
    # Other voxels spread widely: clustering everything together would not split PPA in two.
    other = rng.normal(size=(n_other, 4)) * 6
    voxels = pd.DataFrame({"dataset": "7T", "subject": np.repeat(["1", "2"], (n_ppa + n_other) // 2),
                           "voxel": np.arange(n_ppa + n_other), "hemi": "rh",
                           "roi": ["PPA"] * n_ppa + ["V1"] * n_other})
    embeddings = VoxelEmbeddings(np.vstack([ppa, other]), voxels)
    labels = cluster_voxels(embeddings, 2, roi="PPA")
    assert len(labels) == n_ppa and set(labels["roi"]) == {"PPA"}
    assert adjusted_rand_score(sub, labels["cluster"]) == pytest.approx(1.0)


def test_bad_inputs_raise_one_clear_sentence(planted):
    embeddings, _ = planted
    with pytest.raises(BrainembedError, match="k=500 clusters exceed the 110 voxels"):
        cluster_voxels(embeddings, 500)
    with pytest.raises(BrainembedError, match="ROI 'PPA' has no voxels.*FFA, V1"):
        cluster_voxels(embeddings, 2, roi="PPA")
    with pytest.raises(BrainembedError, match="unknown subject"):
        cluster_voxels(embeddings, 2, subjects=["3"])
    with pytest.raises(BrainembedError, match="positive integer"):
        EmbeddingKMeans(0).fit(embeddings.embeddings)
    with pytest.raises(BrainembedError, match="NaN"):
        VoxelEmbeddings(np.full((2, 2), np.nan), embeddings.voxels.iloc[:2])


def test_saved_clustering_round_trips_with_string_subjects(tmp_path):
    embeddings, _ = planted_embeddings(counts=((5, 5), (6, 4)))
    labels = cluster_voxels(embeddings, 2)
    tag = clustering_tag(2, embeddings.keys)
    assert tag == "k2_7T_1-7T_2"
    assert clustering_tag(2, ["7T:1", "3T:1"], roi="PPA", normalize=True, random_state=3) == \
        "k2_7T_1-3T_1_roi-PPA_l2_seed3"
    save_clustering(labels, tmp_path, tag)
    assert (tmp_path / "clusters" / "LATEST").read_text().strip() == tag
    back = load_clustering(tmp_path)
    assert back["subject"].tolist() == labels["subject"].tolist()
    assert isinstance(back["subject"].iloc[0], str)
    assert back["cluster"].tolist() == labels["cluster"].tolist()
    assert load_clustering(tmp_path, tag).equals(back)
    with pytest.raises(BrainembedError, match="no clustering 'k9'.*k2_7T_1-7T_2"):
        load_clustering(tmp_path, "k9")
    with pytest.raises(BrainembedError, match="holds no clustering yet"):
        load_clustering(tmp_path / "elsewhere")
