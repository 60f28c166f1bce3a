"""RSA with p-values: planted RDMs recovered, Spearman equal to scipy's and rsatoolbox's, sound p-values."""

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import pdist, squareform

from brainembed.errors import BrainembedError
from brainembed.evaluation.rsa import (
    embedding_rsa,
    embedding_rsa_by_roi,
    image_rsa_by_roi,
    rdm,
    rdm_permutation_test,
    roi_rsa,
)


def _noisy_copy(matrix, noise, rng):
    vec = squareform(matrix, checks=False)
    return squareform(vec + noise * rng.normal(size=vec.size) * vec.std())


def test_planted_rdm_is_recovered_with_small_p_and_shuffled_gives_large_p():
    rng = np.random.default_rng(0)
    points = rng.normal(size=(30, 5))
    planted = squareform(pdist(points))
    observed = _noisy_copy(planted, 0.5, rng)
    test = rdm_permutation_test(planted, observed, n_permutations=500, random_state=0)
    rho = stats.spearmanr(squareform(planted, checks=False), squareform(observed, checks=False))[0]
    assert test["r"] == pytest.approx(rho, abs=1e-12)  # Spearman equals scipy's
    assert test["r"] > 0.6
    assert test["p_value"] == pytest.approx(1 / 501)
    assert test["null"].shape == (500,) and abs(test["null"].mean()) < 0.05
    # items relabelled at random: no correspondence left
    order = rng.permutation(30)
    shuffled = observed[np.ix_(order, order)]
    null_test = rdm_permutation_test(planted, shuffled, n_permutations=500, random_state=0)
    assert null_test["p_value"] > 0.05
    # Pearson too, and upper triangles are accepted
    pearson = rdm_permutation_test(squareform(planted, checks=False), squareform(observed, checks=False),
                                   method="pearson", n_permutations=50)
    assert pearson["r"] == pytest.approx(stats.pearsonr(squareform(planted, checks=False),
                                                        squareform(observed, checks=False))[0])


def test_embedding_rsa_recovers_planted_voxel_similarity_per_roi():
    rng = np.random.default_rng(1)
    n_images, n_dims = 60, 6
    # ROI "A": responses are a linear read-out of the embedding -> similar embeddings, similar responses.
    emb_a = rng.normal(size=(40, n_dims))
    stimuli = rng.normal(size=(n_images, n_dims))
    resp_a = stimuli @ emb_a.T + 0.3 * rng.normal(size=(n_images, 40))
    # ROI "B": responses unrelated to the embeddings.
    emb_b = rng.normal(size=(30, n_dims))
    resp_b = rng.normal(size=(n_images, 30))
    table = embedding_rsa_by_roi(np.vstack([emb_a, emb_b]), np.hstack([resp_a, resp_b]),
                                 np.array(["A"] * 40 + ["B"] * 30), n_permutations=200, max_voxels=35).set_index("roi")
    assert table.loc["A", "rsa"] > 0.5 and table.loc["A", "p_value"] < 0.01
    assert abs(table.loc["B", "rsa"]) < 0.15 and table.loc["B", "p_value"] > 0.05
    assert table.loc["A", "n_used"] == 35 and table.loc["B", "n_used"] == 30


def test_image_rsa_per_roi_matches_manual_rdms():
    rng = np.random.default_rng(2)
    true = rng.normal(size=(25, 12))
    pred = true + 0.5 * rng.normal(size=true.shape)
    roi = np.array(["X"] * 6 + ["Y"] * 6)
    table = image_rsa_by_roi(pred, true, roi, n_permutations=100).set_index("roi")
    for name in ("X", "Y"):
        mask = roi == name
        expected = stats.spearmanr(squareform(rdm(pred[:, mask]), checks=False),
                                   squareform(rdm(true[:, mask]), checks=False))[0]
        assert table.loc[name, "rsa"] == pytest.approx(expected)
        assert table.loc[name, "p_value"] < 0.05
    with pytest.raises(BrainembedError, match=r"ROI\(s\) \['Z'\] have no voxels"):
        image_rsa_by_roi(pred, true, roi, rois=["Z"])


def test_rsatoolbox_agrees_on_one_rdm_and_one_comparison():
    rsatoolbox = pytest.importorskip("rsatoolbox")
    from rsatoolbox.data import Dataset
    from rsatoolbox.rdm import calc_rdm, compare_spearman

    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(15, 8)), rng.normal(size=(15, 8))
    b[:, :4] += a[:, :4]
    theirs_a = calc_rdm(Dataset(a), method="correlation")
    theirs_b = calc_rdm(Dataset(b), method="correlation")
    assert theirs_a.get_matrices()[0] == pytest.approx(rdm(a), abs=1e-10)
    ours = rdm_permutation_test(rdm(a), rdm(b), n_permutations=10)["r"]
    assert ours == pytest.approx(float(compare_spearman(theirs_a, theirs_b)[0, 0]), abs=1e-10)
    assert rsatoolbox is not None


def test_bad_rdm_inputs():
    with pytest.raises(BrainembedError, match="unknown method='kendall'"):
        rdm_permutation_test(np.zeros((3, 3)), np.zeros((3, 3)), method="kendall")
    with pytest.raises(BrainembedError, match="same items"):
        rdm_permutation_test(np.zeros((4, 4)), np.zeros((3, 3)))
    with pytest.raises(BrainembedError, match="no upper triangle"):
        rdm_permutation_test(np.zeros(4), np.zeros(4))


def test_one_implementation_with_and_without_p_values():
    """analysis re-exports evaluation's functions; the p-value versions compute the same RSA as the plain ones."""
    import brainembed.analysis as analysis
    import brainembed.analysis.rsa as analysis_rsa
    import brainembed.evaluation.rsa as evaluation_rsa

    for name in ("embedding_rsa_by_roi", "image_rsa_by_roi", "rdm_permutation_test"):
        assert getattr(analysis, name) is getattr(evaluation_rsa, name) is getattr(analysis_rsa, name)
    rng = np.random.default_rng(4)
    true = rng.normal(size=(20, 12))
    pred = true + rng.normal(size=true.shape)
    roi = np.array(["X"] * 5 + ["Y"] * 7)
    with_p = image_rsa_by_roi(pred, true, roi, n_permutations=10).set_index("roi")
    plain = roi_rsa(pred, true, roi).set_index("roi")
    np.testing.assert_allclose(with_p.loc[["X", "Y"], "rsa"], plain.loc[["X", "Y"], "rsa"])
    embeddings = rng.normal(size=(12, 4))
    by_roi = embedding_rsa_by_roi(embeddings, true, np.array(["all"] * 12), n_permutations=10, max_voxels=None)
    assert by_roi["rsa"].iloc[0] == pytest.approx(embedding_rsa(embeddings, true, max_voxels=None)["rsa"])
