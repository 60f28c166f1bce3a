"""The package's input checks (brainembed.validation): accepted values come back typed, others raise one sentence."""

import numpy as np
import pytest

from brainembed.errors import BrainembedError
from brainembed.validation import (
    as_float_array,
    check_count,
    check_fraction,
    check_int,
    check_method,
    check_positive,
    is_integer,
    same_shape,
)


@pytest.mark.parametrize("value, expected", [(3, True), (np.int64(3), True), (np.uint8(0), True), (True, False),
                                             (np.bool_(True), False), (3.0, False), ("3", False), (None, False)])
def test_is_integer_excludes_booleans_and_floats(value, expected):
    assert is_integer(value) is expected


def test_check_int_returns_a_python_int_in_range():
    assert check_int("k", np.int32(4), 1) == 4 and type(check_int("k", np.int32(4), 1)) is int
    assert check_int("k", 5, 1, 5) == 5
    with pytest.raises(BrainembedError, match=r"^k must be an integer, got True\.$"):
        check_int("k", True, 1)
    with pytest.raises(BrainembedError, match=r"^k must be at least 2, got 1\.$"):
        check_int("k", 1, 2)
    with pytest.raises(BrainembedError, match=r"^k must be between 2 and 4, got 5\.$"):
        check_int("k", 5, 2, 4)


@pytest.mark.parametrize("minimum, bad, message", [
    (1, 0, "n must be a positive integer, got 0."),
    (0, -1, "n must be a non-negative integer, got -1."),
    (3, 2.5, "n must be an integer >= 3, got 2.5."),
    (1, False, "n must be a positive integer, got False."),
])
def test_check_count_messages(minimum, bad, message):
    assert check_count("n", minimum + 1, minimum) == minimum + 1
    with pytest.raises(BrainembedError) as info:
        check_count("n", bad, minimum)
    assert str(info.value) == message


def test_real_number_checks():
    assert check_positive("lr", 1e-3) == 1e-3 and check_fraction("alpha", 0.05) == 0.05
    for bad in (0, -1.0, float("nan"), True, "0.1"):
        with pytest.raises(BrainembedError, match="lr must be positive"):
            check_positive("lr", bad)
    for bad in (0.0, 1.0, "x"):
        with pytest.raises(BrainembedError, match="strictly between 0 and 1"):
            check_fraction("alpha", bad)
    assert check_method("method", "a", ("a", "b")) == "a"
    with pytest.raises(BrainembedError, match=r"Unknown method='c'; choose one of 'a', 'b'\."):
        check_method("method", "c", ("a", "b"))


def test_as_float_array_and_same_shape():
    array = as_float_array("x", [[1, 2], [3, 4]], ndim=2, min_rows=2)
    assert array.dtype == np.float64 and array.shape == (2, 2)
    with pytest.raises(BrainembedError, match="must have 1 dimension"):
        as_float_array("x", array, ndim=1)
    with pytest.raises(BrainembedError, match="needs at least 3 rows"):
        as_float_array("x", array, min_rows=3)
    with pytest.raises(BrainembedError, match="1 NaN or infinite values"):
        as_float_array("x", [1.0, np.nan])
    assert np.isnan(as_float_array("x", [1.0, np.nan], allow_nan=True)[1])
    with pytest.raises(BrainembedError, match="infinite values; mark missing entries with NaN"):
        as_float_array("x", [1.0, np.inf], allow_nan=True)
    with pytest.raises(BrainembedError, match="numeric array"):
        as_float_array("x", ["a"])
    same_shape("a", array, "b", array)
    with pytest.raises(BrainembedError, match="a has shape"):
        same_shape("a", array, "b", array[:1])
