"""Property-based tests of the dataset readers (skipped where a reader is not there).

- Whatever sizes and values a file in the published layout holds, the reader
  returns them (digits: responses, pixels, labels; GOD: training rows and the
  per-image averages of test repeats).
- A file of random bytes, or a truncated real one, where a reader expects its
  input is refused with :class:`BrainembedError`, never another exception.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from brainembed.errors import BrainembedError

readers = pytest.importorskip("brainembed.data.readers")
formats = pytest.importorskip("tests.data.readers.formats")

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _reader(module: str, name: str):
    module = pytest.importorskip(f"brainembed.data.readers.{module}")
    if not hasattr(module, name):
        pytest.skip(f"brainembed.data.readers has no {name}")
    return getattr(module, name)


@SETTINGS
@given(data=st.data(), n_train=st.integers(1, 6), n_test=st.integers(1, 4), n_voxels=st.integers(1, 7))
def test_digits_reader_returns_what_the_file_holds(data, n_train, n_test, n_voxels):
    read_digits = _reader("digits", "read_digits")
    values = st.floats(-1e6, 1e6, allow_nan=False, width=32)
    planted = {
        "fmriTrn": data.draw(hnp.arrays(np.float64, (n_train, n_voxels), elements=values)),
        "fmriTest": data.draw(hnp.arrays(np.float64, (n_test, n_voxels), elements=values)),
        "stimTrn": data.draw(hnp.arrays(np.uint8, (n_train, 784))),
        "stimTest": data.draw(hnp.arrays(np.uint8, (n_test, 784))),
        "labelTrn": data.draw(hnp.arrays(np.uint8, (n_train, 1), elements=st.sampled_from([1, 2]))),
        "labelTest": data.draw(hnp.arrays(np.uint8, (n_test, 1), elements=st.sampled_from([1, 2]))),
    }
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "digits.mat"
        formats.write_digits(path, n_train=n_train, n_test=n_test, n_voxels=n_voxels, **planted)
        crowd = read_digits(path, zscore=False)
    (subject,) = crowd.subjects
    np.testing.assert_allclose(subject.responses, np.concatenate([planted["fmriTrn"], planted["fmriTest"]]),
                               rtol=1e-6)
    assert list(subject.split) == ["train"] * n_train + ["test"] * n_test
    stimuli = np.concatenate([planted["stimTrn"], planted["stimTest"]])
    pixels = crowd.images.get(subject.image_ids)[..., 0]
    # MATLAB rasters are column-major: pixel (row r, column c) is element c * 28 + r
    np.testing.assert_array_equal(pixels, stimuli.reshape(-1, 28, 28).transpose(0, 2, 1))
    labels = np.concatenate([planted["labelTrn"].ravel(), planted["labelTest"].ravel()])
    np.testing.assert_array_equal(crowd.images.metadata["digit"], np.where(labels == 1, 6, 9))


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n_train=st.integers(2, 6), n_test=st.integers(2, 4), test_reps=st.integers(1, 3),
       n_voxels=st.integers(3, 8), seed=st.integers(0, 2**16))
def test_god_reader_averages_test_repeats(n_train, n_test, test_reps, n_voxels, seed):
    read_god = _reader("god", "read_god")
    with tempfile.TemporaryDirectory() as folder:
        planted = formats.write_god(folder, n_train=n_train, n_test=n_test, test_reps=test_reps, n_voxels=n_voxels,
                                    seed=seed)
        crowd = read_god(folder, images=planted["images"])
    (subject,) = crowd.subjects
    assert subject.responses.shape == (n_train + n_test, n_voxels)
    assert (subject.split == "train").sum() == n_train and (subject.split == "test").sum() == n_test
    assert np.isfinite(subject.responses).all()
    test = subject.split == "test"
    if subject.repeats is None:  # one trial per image: nothing to average
        assert test_reps == 1
    else:
        assert subject.repeats.shape[1] >= test_reps
        np.testing.assert_allclose(np.nanmean(subject.repeats[test], axis=1), subject.responses[test], atol=1e-5)
    assert len(np.unique(subject.image_ids)) == subject.n_images


def _god_images(folder: Path) -> Path:
    (folder / "images" / "training").mkdir(parents=True)
    return folder / "images"


# format -> (reader, the file it reads, how it is called)
GARBAGE = {
    "digits": ("read_digits", "digits.mat", lambda read, folder, path: read(path)),
    "god": ("read_god", "Subject1.h5", lambda read, folder, path: read(folder, images=_god_images(folder))),
    "vim1": ("read_vim1", "EstimatedResponses.mat", lambda read, folder, path: read(folder)),
}


@SETTINGS
@given(fmt=st.sampled_from(sorted(GARBAGE)), garbage=st.binary(max_size=2048),
       header=st.sampled_from([b"", b"\x89HDF\r\n\x1a\n", b"MATLAB 5.0 MAT-file"]))
def test_random_bytes_are_refused_with_one_clear_error(fmt, garbage, header):
    name, filename, call = GARBAGE[fmt]
    read = _reader(fmt, name)
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        path = folder / filename
        path.write_bytes(header + garbage)
        with pytest.raises(BrainembedError):
            call(read, folder, path)


@SETTINGS
@given(cut=st.floats(0.0, 0.95))
def test_truncated_files_are_refused_with_one_clear_error(cut):
    read_digits = _reader("digits", "read_digits")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "digits.mat"
        formats.write_digits(path)
        data = path.read_bytes()
        path.write_bytes(data[: int(cut * len(data))])
        with pytest.raises(BrainembedError):
            read_digits(path)
