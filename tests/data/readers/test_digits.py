from pathlib import Path

import numpy as np
import pytest

from brainembed.data.readers import read_dataset
from brainembed.data.readers.digits import read_digits
from brainembed.errors import BrainembedError
from tests.data.readers.formats import write_digits

REAL = Path("/work/shared/data/digit69_28x28.mat")


def test_fixture_layout_is_read_exactly(tmp_path):
    planted = write_digits(tmp_path / "d.mat")
    crowd = read_digits(tmp_path / "d.mat", zscore=False)
    s = crowd.subject("1")
    assert s.key == "digit69:1" and s.responses.dtype == np.float32
    np.testing.assert_allclose(s.responses, np.concatenate([planted["fmriTrn"], planted["fmriTest"]]), rtol=1e-6)
    assert list(s.split) == ["train"] * 6 + ["test"] * 2
    assert crowd.images.pixels.shape == (8, 28, 28, 3)
    # MATLAB rasters are column-major: pixel (row r, column c) is element c * 28 + r
    np.testing.assert_array_equal(crowd.images.pixels[0, 3, 5], [planted["stimTrn"][0, 5 * 28 + 3]] * 3)
    labels = np.concatenate([planted["labelTrn"].ravel(), planted["labelTest"].ravel()])
    np.testing.assert_array_equal(crowd.images.metadata["digit"], np.where(labels == 1, 6, 9))
    assert set(s.voxels["hemi"]) == {"none"} and (s.voxels["vertex"] == -1).all()


def test_responses_are_zscored_with_training_statistics(tmp_path):
    from scipy import stats

    planted = write_digits(tmp_path / "d.mat")
    s = read_digits(tmp_path / "d.mat").subject("1")
    train, test = planted["fmriTrn"], planted["fmriTest"]
    np.testing.assert_allclose(s.responses[:6], stats.zscore(train, axis=0), rtol=1e-4, atol=1e-5)
    # the test rows get the training images' transform: no statistic of the test set leaks in
    expected = (test - train.mean(0)) / train.std(0)
    np.testing.assert_allclose(s.responses[6:], expected, rtol=1e-4, atol=1e-5)
    assert "z-scored" in s.attrs["preprocessing"]


@pytest.mark.skipif(not REAL.exists(), reason="digit69_28x28.mat not available")
def test_real_digit69_file():
    crowd = read_dataset("digits", REAL)
    s = crowd.subject("1")
    assert s.responses.shape == (100, 3092) and (s.split == "test").sum() == 10
    assert crowd.images.pixels.shape == (100, 28, 28, 3)
    # a "6" has its loop at the bottom: more ink in the lower half than a "9"
    ink = crowd.images.pixels[..., 0].astype(float)
    lower = ink[:, 14:].sum((1, 2)) / ink.sum((1, 2))
    digit = crowd.images.metadata["digit"].to_numpy()
    assert lower[digit == 6].mean() > lower[digit == 9].mean() + 0.1


@pytest.mark.parametrize("change, message", [
    ({"fmriTest": None}, "fmriTest"),                                       # wrong / missing key
    ({"labelTrn": np.ones((5, 1), np.uint8)}, "labelTrn has 5 entries"),    # wrong shape
    ({"fmriTest": np.full((2, 4), 0.5)}, "fmriTrn has 5 voxels but fmriTest has 4"),  # mismatched counts
    ({"stimTrn": np.zeros((6, 780), np.uint8)}, "not a square image"),       # wrong shape
    ({"labelTest": np.array([[1], [3]], np.uint8)}, r"value\(s\) \[3\]; expected 1 \(six\)"),
])
def test_malformed_files_give_one_clear_error(tmp_path, change, message):
    write_digits(tmp_path / "d.mat", **change)
    with pytest.raises(BrainembedError, match=message):
        read_digits(tmp_path / "d.mat")


def test_nan_column_and_missing_file(tmp_path):
    fmri = np.random.default_rng(0).normal(size=(6, 5))
    fmri[:, 3] = np.nan
    write_digits(tmp_path / "d.mat", fmriTrn=fmri)
    with pytest.raises(BrainembedError, match=r"fmriTrn has NaN .* column 3"):
        read_digits(tmp_path / "d.mat")
    with pytest.raises(BrainembedError, match="missing file"):
        read_digits(tmp_path / "absent.mat")
