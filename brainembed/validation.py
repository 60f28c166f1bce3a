"""Checks of user input shared by the whole package, in the manner of :mod:`sklearn.utils.validation`.

Each helper returns the value in its checked form (a Python ``int``, a
float64 array, ...) or raises :class:`~brainembed.errors.BrainembedValueError`
(a :class:`~brainembed.errors.BrainembedError` that is also a ``ValueError``)
with one sentence naming the input at fault. It imports only numpy at import
time, so every layer may use it; the two estimator helpers import scikit-learn
when called.
"""

from __future__ import annotations

import functools
import numbers

import numpy as np

from brainembed.errors import BrainembedError, BrainembedValueError

__all__ = ["as_float_array", "check_count", "check_fraction", "check_int", "check_is_fitted", "check_method",
           "check_positive", "is_integer", "same_shape", "validate_estimator_data"]


def is_integer(value) -> bool:
    """Whether ``value`` is an integer (Python or numpy), booleans excluded."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def check_int(name: str, value, low: int, high: int | None = None) -> int:
    """``value`` as an ``int`` in ``[low, high]``.

    Parameters
    ----------
    name : str
        Name of the input, used in the message.
    value : object
    low : int
        Smallest allowed value.
    high : int, optional
        Largest allowed value (no upper bound by default).

    Returns
    -------
    int

    Raises
    ------
    BrainembedValueError
        ``"{name} must be an integer, got ..."`` or ``"{name} must be at least
        {low}, got ..."`` (``between {low} and {high}`` with an upper bound).
    """
    if not is_integer(value):
        raise BrainembedValueError(f"{name} must be an integer, got {value!r}.")
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise BrainembedValueError(f"{name} must be {bound}, got {value}.")
    return int(value)


def check_count(name: str, value, minimum: int = 1) -> int:
    """``value`` as an ``int`` of at least ``minimum`` (default 1): a count of clusters, images, permutations.

    ``name`` is what is counted, as the message says it (``"n_permutations"``,
    ``"the number of clusters"``). Where :func:`check_int` says "must be an
    integer" or "must be at least", the :class:`BrainembedValueError` here
    reads ``"{name} must be a positive integer, got ..."`` (``a non-negative
    integer`` for ``minimum=0``, ``an integer >= {minimum}`` otherwise).
    """
    if not is_integer(value) or value < minimum:
        kind = {0: "a non-negative integer", 1: "a positive integer"}.get(minimum, f"an integer >= {minimum}")
        raise BrainembedValueError(f"{name} must be {kind}, got {value!r}.")
    return int(value)


def check_positive(name: str, value) -> float:
    """``value`` as a ``float`` greater than 0 (NaN is refused).

    Raises
    ------
    BrainembedValueError
        ``"{name} must be positive, got ..."``.
    """
    if not isinstance(value, numbers.Real) or isinstance(value, (bool, np.bool_)) or not value > 0:
        raise BrainembedValueError(f"{name} must be positive, got {value!r}.")
    return float(value)


def check_fraction(name: str, value) -> float:
    """``value`` as a ``float`` strictly between 0 and 1 (a significance level, a share)."""
    if not isinstance(value, numbers.Real) or not 0.0 < float(value) < 1.0:
        raise BrainembedValueError(f"{name} must be a number strictly between 0 and 1, got {value!r}.")
    return float(value)


def check_method(name: str, value, allowed):
    """``value`` when it is one of ``allowed`` (a method chosen by string); otherwise the choices are listed."""
    if value not in allowed:
        raise BrainembedValueError(f"Unknown {name}={value!r}; choose one of {', '.join(map(repr, allowed))}.")
    return value


def as_float_array(name: str, array, ndim: int | None = None, min_rows: int = 1, *,
                   allow_nan: bool = False) -> np.ndarray:
    """``array`` as finite float64 with ``ndim`` dimensions and at least ``min_rows`` rows.

    Parameters
    ----------
    name : str
    array : array-like
    ndim : int, optional
        Required number of dimensions (any by default).
    min_rows : int, default=1
        Smallest allowed length of the first axis.
    allow_nan : bool, default=False
        Accept NaN (missing entries); infinite values are refused either way.

    Returns
    -------
    array of float64
        With no NaN (unless allowed) or infinite values.
    """
    try:
        array = np.asarray(array, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise BrainembedValueError(f"{name} must be a numeric array ({exc}).") from None
    if ndim is not None and array.ndim != ndim:
        raise BrainembedValueError(f"{name} must have {ndim} dimension(s), got shape {array.shape}.")
    if array.ndim and array.shape[0] < min_rows:
        raise BrainembedValueError(f"{name} needs at least {min_rows} rows, got shape {array.shape}.")
    if allow_nan:
        if np.isinf(array).any():
            raise BrainembedValueError(f"{name} contains infinite values; mark missing entries with NaN.")
    elif not np.all(np.isfinite(array)):
        n_bad = int(array.size - np.count_nonzero(np.isfinite(array)))
        raise BrainembedValueError(f"{name} contains {n_bad} NaN or infinite values; clean or drop them first.")
    return array


def same_shape(name_a: str, a, name_b: str, b) -> None:
    """Raise unless arrays ``a`` and ``b`` have the same shape."""
    if a.shape != b.shape:
        raise BrainembedValueError(f"{name_a} has shape {a.shape} but {name_b} has shape {b.shape}; they must match.")


@functools.cache
def _not_fitted_error() -> type:
    from sklearn.exceptions import NotFittedError

    return type("NotFittedError", (BrainembedError, NotFittedError),
                {"__module__": __name__, "__doc__": "An estimator used before fit: a BrainembedError and "
                                                    "scikit-learn's NotFittedError."})


def check_is_fitted(estimator, attribute: str) -> None:
    """Raise unless ``estimator.fit`` has set ``attribute``.

    The error is both a :class:`~brainembed.errors.BrainembedError` and
    :class:`sklearn.exceptions.NotFittedError` (so also a ``ValueError``).
    """
    if not hasattr(estimator, attribute):
        name = type(estimator).__name__
        raise _not_fitted_error()(f"This {name} is not fitted yet; call fit first.")


def validate_estimator_data(estimator, X, y="no_validation", *, reset: bool, **kwargs):
    """:func:`sklearn.utils.validation.validate_data`, its ``ValueError`` raised as :class:`BrainembedValueError`.

    Checks ``X`` (and ``y``), and records (``reset=True``, in ``fit``) or
    compares (``reset=False``) the number of features ``n_features_in_``.

    Parameters
    ----------
    estimator : scikit-learn estimator
    X : array-like of shape (n_samples, n_features)
    y : array-like, optional
    reset : bool
    **kwargs
        Passed on (``dtype``, ``ensure_min_samples``, ``multi_output``, ...).

    Returns
    -------
    X, or (X, y) when ``y`` is given
    """
    from sklearn.utils.validation import validate_data

    try:
        return validate_data(estimator, X, y, reset=reset, **kwargs)
    except BrainembedError:
        raise
    except ValueError as err:  # NaN or infinite values, too few samples, a changed number of features
        raise BrainembedValueError(str(err)) from None
