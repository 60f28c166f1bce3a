"""Top images and ground truth: a cluster whose voxels respond to one category is dominated by it."""

import numpy as np
import pandas as pd
import pytest

from brainembed.analysis import (
    cluster_activation,
    cluster_truth,
    compare_to_truth,
    recovered_categories,
    top_image_categories,
    top_images,
)
from brainembed.errors import BrainembedError


def _planted_pool(seed=0):
    """30 images of 3 categories; cluster 0's voxels prefer faces, cluster 1's food, cluster 2's indoor scenes."""
    rng = np.random.default_rng(seed)
    categories = np.repeat(["face", "food", "indoor"], 10)
    rng.shuffle(categories)
    labels = np.repeat([0, 1, 2], [12, 8, 5])
    preferred = np.array(["face", "food", "indoor"])[labels]
    gain = rng.uniform(0.5, 20.0, size=labels.size)  # voxels respond on very different scales
    predictions = (categories[:, None] == preferred[None, :]) * gain + 0.3 * gain * rng.normal(size=(30, labels.size))
    return predictions, labels, categories, preferred


def test_planted_category_dominates_each_cluster():
    predictions, labels, categories, _ = _planted_pool()
    activation = cluster_activation(predictions, labels)
    assert activation.shape == (30, 3) and list(activation.columns) == [0, 1, 2]
    top = top_images(activation, 8, image_ids=np.arange(100, 130), categories=categories)
    assert len(top) == 3 * 8 and top["rank"].max() == 7
    assert set(top["image_id"]) <= set(range(100, 130))
    dominant = top_image_categories(top).set_index("cluster")
    assert dominant["top_category"].tolist() == ["face", "food", "indoor"]
    assert dominant["top_category_share"].tolist() == [1.0, 1.0, 1.0]
    # activation is the mean of voxel-wise z-scores
    z = (predictions - predictions.mean(0)) / predictions.std(0)
    assert activation[1].to_numpy() == pytest.approx(z[:, labels == 1].mean(1))
    raw = cluster_activation(predictions, labels, zscore=False)
    assert raw[0].to_numpy() == pytest.approx(predictions[:, labels == 0].mean(1))


def test_truth_tables_on_planted_labels():
    predictions, labels, categories, preferred = _planted_pool()
    region = np.array(["FFA", "food-medial", "PPA-indoor"])[labels]
    frame = pd.DataFrame({"cluster": labels, "region": region, "preferred_category": preferred})
    early = pd.DataFrame({"cluster": [3, 3, 4, 4], "region": ["V1", "V1", "V2", "V2"],
                          "preferred_category": "none"})
    frame = pd.concat([frame, early], ignore_index=True)
    truth = compare_to_truth(frame).set_index("scope")
    assert truth.loc["all", "ari"] == pytest.approx(1.0)
    assert truth.loc["category regions", "n_voxels"] == 25 and truth.loc["early areas", "n_voxels"] == 4
    assert truth.loc["early areas", "ari"] == pytest.approx(1.0)
    top = top_images(cluster_activation(predictions, labels), 6, categories=categories)
    table = cluster_truth(frame, top).set_index("cluster")
    assert table.loc[0, "planted_region"] == "FFA" and table.loc[0, "planted_category"] == "face"
    assert table.loc[:2, "planted_category_top_share"].tolist() == [1.0, 1.0, 1.0]
    assert table.loc[:2, "dominated"].all()
    assert np.isnan(table.loc[3, "planted_category_top_share"])  # early areas have no category (and no top images)
    assert recovered_categories(table.reset_index()) == ["face", "indoor", "food"]
    assert recovered_categories(table.reset_index(), ("food", "body")) == ["food"]
    # a cluster with too few voxels of the food regions does not count for food
    diluted = table.reset_index().assign(planted_category_voxel_share=[1.0, 0.4, 1.0, 1.0, 1.0])
    assert recovered_categories(diluted) == ["face", "indoor"]
    with pytest.raises(BrainembedError, match="cluster_truth"):
        recovered_categories(cluster_truth(frame))


def test_bad_inputs():
    with pytest.raises(BrainembedError, match="3 cluster labels for 2 predicted voxels"):
        cluster_activation(np.zeros((4, 2)), [0, 1, 1])
    with pytest.raises(BrainembedError, match="positive integer"):
        top_images(pd.DataFrame({0: [1.0, 2.0]}), 0)
    with pytest.raises(BrainembedError, match="no 'region' column"):
        compare_to_truth(pd.DataFrame({"cluster": [0, 1]}))


def test_relative_ranking_removes_a_component_shared_by_every_voxel():
    """Each cluster's own category is on top only once the drive common to every voxel is subtracted."""
    rng = np.random.default_rng(3)
    categories = np.repeat(["face", "food", "indoor", "text"], 10)
    labels = np.repeat([0, 1, 2], [12, 8, 5])
    preferred = np.array(["face", "food", "indoor"])[labels]
    salient = (categories == "text").astype(float)  # text images drive every voxel strongly
    own = (categories[:, None] == preferred[None, :]).astype(float)
    predictions = 3.0 * salient[:, None] + own + 0.05 * rng.normal(size=(40, labels.size))
    absolute = top_image_categories(top_images(cluster_activation(predictions, labels), 8, categories=categories))
    assert absolute["top_category"].tolist() == ["text", "text", "text"]
    relative = cluster_activation(predictions, labels, relative=True)
    ranked = top_image_categories(top_images(relative, 8, categories=categories))
    assert ranked["top_category"].tolist() == ["face", "food", "indoor"]
    assert ranked["top_category_share"].tolist() == [1.0, 1.0, 1.0]
    # by definition: z-scored cluster means minus the mean over every clustered voxel
    z = (predictions - predictions.mean(0)) / predictions.std(0)
    assert relative[2].to_numpy() == pytest.approx(z[:, labels == 2].mean(1) - z.mean(1))
