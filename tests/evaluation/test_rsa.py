"""RSA against scipy: RDMs, their comparison, per-ROI RSA and embedding RSA."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial.distance import pdist, squareform

from brainembed.errors import BrainembedError
from brainembed.evaluation.rsa import (
    compare_rdms,
    embedding_rsa,
    rdm,
    region_response_correlations,
    roi_rsa,
    upper_triangle,
)


@pytest.mark.parametrize("method", ["correlation", "euclidean"])
def test_rdm_matches_scipy_pdist(rng, method):
    responses = rng.normal(size=(12, 30))
    matrix = rdm(responses, method=method)
    np.testing.assert_allclose(matrix, squareform(pdist(responses, metric=method)), atol=1e-12)
    np.testing.assert_allclose(upper_triangle(matrix), pdist(responses, metric=method), atol=1e-12)


def test_rdm_constant_pattern_is_uncorrelated(rng):
    responses = rng.normal(size=(4, 6))
    responses[0] = 2.0
    matrix = rdm(responses)
    np.testing.assert_allclose(matrix[0, 1:], 1.0)
    assert np.all(np.isfinite(matrix))


@pytest.mark.parametrize(
    "method, reference",
    [("spearman", stats.spearmanr), ("pearson", stats.pearsonr), ("kendall", stats.kendalltau)],
)
def test_compare_rdms_matches_scipy(rng, method, reference):
    a, b = rdm(rng.normal(size=(10, 20))), rdm(rng.normal(size=(10, 20)))
    expected = reference(upper_triangle(a), upper_triangle(b))[0]
    assert compare_rdms(a, b, method=method) == pytest.approx(expected)
    assert compare_rdms(upper_triangle(a), upper_triangle(b), method=method) == pytest.approx(expected)


def test_roi_rsa_matches_manual_spearman(pred_true):
    pred, true = pred_true
    labels = np.array(["V1"] * 10 + ["FFA"] * 14 + ["tiny"])
    table = roi_rsa(pred, true, labels, min_voxels=2)
    assert isinstance(table, pd.DataFrame) and list(table.columns) == ["roi", "n_voxels", "rsa"]
    row = table.set_index("roi")
    mask = labels == "FFA"
    expected = stats.spearmanr(pdist(pred[:, mask], "correlation"), pdist(true[:, mask], "correlation"))[0]
    assert row.loc["FFA", "rsa"] == pytest.approx(expected)
    assert row.loc["FFA", "n_voxels"] == 14 and np.isnan(row.loc["tiny", "rsa"])


def test_roi_rsa_accepts_overlapping_mapping(pred_true, rng):
    pred, true = pred_true
    rois = {"early": np.arange(10), "all": np.ones(25, dtype=bool)}
    table = roi_rsa(pred, true, rois).set_index("roi")
    assert table.loc["all", "rsa"] == pytest.approx(compare_rdms(rdm(pred), rdm(true)))
    close = roi_rsa(true + 0.3 * rng.normal(size=true.shape), true, rois).set_index("roi")
    assert close.loc["all", "rsa"] > 0.8  # predictions that share the measured structure
    with pytest.raises(BrainembedError, match="early"):
        roi_rsa(pred, true, {"early": np.arange(30)})


def test_embedding_rsa_matches_manual_and_recovers_planted_structure(rng):
    profiles = rng.normal(size=(60, 5))  # images x latent functions
    loadings = rng.normal(size=(5, 40))  # voxel loading on each function
    responses = profiles @ loadings + 0.3 * rng.normal(size=(60, 40))
    embeddings = loadings.T + 0.1 * rng.normal(size=(40, 5))  # embeddings that know each voxel's function
    result = embedding_rsa(embeddings, responses)
    expected = stats.spearmanr(pdist(embeddings, "correlation"), pdist(responses.T, "correlation"))[0]
    assert result["rsa"] == pytest.approx(expected) and result["n_voxels"] == 40
    assert result["rsa"] > 0.7
    unrelated = embedding_rsa(rng.normal(size=(40, 5)), responses)["rsa"]
    assert abs(unrelated) < 0.2


def test_embedding_rsa_subsamples_reproducibly(rng):
    embeddings, responses = rng.normal(size=(50, 4)), rng.normal(size=(8, 50))
    a = embedding_rsa(embeddings, responses, max_voxels=20, random_state=3)
    b = embedding_rsa(embeddings, responses, max_voxels=20, random_state=3)
    assert a["n_voxels"] == 20 and a["rsa"] == b["rsa"]
    np.testing.assert_array_equal(a["voxels"], b["voxels"])


def test_bad_inputs_raise(pred_true, rng):
    pred, true = pred_true
    with pytest.raises(BrainembedError, match="method"):
        rdm(true, method="cosine")
    with pytest.raises(BrainembedError, match="method"):
        compare_rdms(rdm(true), rdm(pred), method="cka")
    with pytest.raises(BrainembedError, match="compare"):
        roi_rsa(pred, true, np.zeros(25), compare="cka")
    with pytest.raises(BrainembedError, match="shape"):
        compare_rdms(rdm(true), rdm(true[:5]))
    with pytest.raises(BrainembedError, match="roi_labels"):
        roi_rsa(pred, true, np.zeros(3))
    with pytest.raises(BrainembedError, match="same voxels"):
        embedding_rsa(rng.normal(size=(10, 4)), true)
    with pytest.raises(BrainembedError, match="square"):
        upper_triangle(np.zeros((3, 4)))


def test_region_response_correlations_match_scipy_and_recover_a_shared_drive(rng):
    # regions A and B share one drive, C has its own; the "prediction" carries only the shared part of every voxel
    n_images, n = 60, 10
    shared, own = rng.standard_normal(n_images), rng.standard_normal(n_images)
    common = rng.standard_normal(n_images)
    true = np.concatenate([shared[:, None] + 0.3 * rng.standard_normal((n_images, n)),
                           shared[:, None] + 0.3 * rng.standard_normal((n_images, n)),
                           own[:, None] + 0.3 * rng.standard_normal((n_images, n))], 1)
    pred = common[:, None] + 0.1 * true
    labels = np.repeat(["A", "B", "C"], n)
    table = region_response_correlations(pred, true, labels, rois=["C", "A", "B"])
    assert list(zip(table["roi_a"], table["roi_b"])) == [("C", "A"), ("C", "B"), ("A", "B")]
    for row in table.itertuples():
        a, b = labels == row.roi_a, labels == row.roi_b
        assert row.measured_r == pytest.approx(stats.pearsonr(true[:, a].mean(1), true[:, b].mean(1))[0])
        assert row.predicted_r == pytest.approx(stats.pearsonr(pred[:, a].mean(1), pred[:, b].mean(1))[0])
        assert row.difference == pytest.approx(row.predicted_r - row.measured_r)
    measured = table.set_index(["roi_a", "roi_b"])["measured_r"]
    assert measured["A", "B"] > 0.9 and abs(measured["C", "A"]) < 0.5
    # a prediction dominated by a component common to all voxels makes every pair of regions alike
    assert (table["predicted_r"] > 0.9).all()
    assert table["difference"].abs().max() > 0.4
    with pytest.raises(BrainembedError, match="no voxels"):
        region_response_correlations(pred, true, labels, rois=["A", "D"])
