"""Subject identity: the one rule by which every command, the store, runs and analyses name subjects.

A subject is one person in one dataset. Its *key* is ``"dataset:subject"``
(``"7T:1"``, ``"3T:1"``), built by :func:`subject_key` and nowhere else.
Wherever a user names subjects (``--subjects``, ``--exclude``, ``--subject``,
the ``subjects=`` argument of a library call), the same rule applies, checked
against the subjects on offer there (a store's, a run's or a clustering's):

- a full key ``"dataset:subject"`` always works;
- a bare id (``"1"``) works only when exactly one dataset on offer has that
  subject; when several do, it is refused with one sentence listing the
  candidates (write ``7T:1`` or ``3T:1``);
- naming no subjects means all of them, in their order;
- naming a subject twice (``1 7T:1``) is refused.

Errors are :class:`~brainembed.errors.BrainembedError`: the command line
prints the sentence and exits with status 2.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from brainembed.errors import BrainembedError

__all__ = ["SEPARATOR", "resolve_subject", "resolve_subjects", "split_key", "subject_key"]

SEPARATOR = ":"


def subject_key(dataset, subject):
    """The key ``"dataset:subject"`` of a subject, or of every row of a table.

    Parameters
    ----------
    dataset, subject : str, or Series / array of shape (n_rows,)
        One subject, or one per row (e.g. a per-voxel table's ``dataset`` and
        ``subject`` columns; both of the same length). A Series keeps the
        index of ``dataset``.

    Returns
    -------
    str, or Series of str of shape (n_rows,)
    """
    if np.ndim(dataset) == 0 and np.ndim(subject) == 0:
        return f"{dataset}{SEPARATOR}{subject}"
    return pd.Series(dataset).astype(str) + SEPARATOR + pd.Series(subject).astype(str).to_numpy()


def split_key(key: str) -> tuple[str, str]:
    """``(dataset, subject)`` of a key ``"dataset:subject"``."""
    dataset, sep, subject = str(key).partition(SEPARATOR)
    if not sep:
        raise BrainembedError(f"{key!r} is not a subject key; write dataset{SEPARATOR}subject, e.g. 7T{SEPARATOR}1.")
    return dataset, subject


def resolve_subject(name, keys) -> str:
    """The key of one subject named by a user (module rule).

    Parameters
    ----------
    name : str or int
        A key (``"3T:1"``) or a bare id (``"1"``).
    keys : sequence of str
        The keys on offer.

    Returns
    -------
    str
    """
    keys = [str(k) for k in keys]
    name = str(name)
    if name not in keys:
        name = name.strip()
    if name in keys:
        return name
    matches = [] if SEPARATOR in name else [k for k in keys if k.partition(SEPARATOR)[2] == name]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise BrainembedError(f"subject {name!r} is ambiguous; use one of {', '.join(matches)}.")
    raise BrainembedError(f"unknown subject {name!r}; choose from {', '.join(keys) or 'no subjects'}.")


def resolve_subjects(names, keys) -> list[str]:
    """The keys of the subjects named by a user, in the order named (module rule).

    Parameters
    ----------
    names : sequence of str, str or None
        Keys or bare ids; None or empty means every key.
    keys : sequence of str
        The keys on offer, in order.

    Returns
    -------
    list of str
    """
    keys = [str(k) for k in keys]
    if names is None or (not isinstance(names, str) and len(names) == 0):
        return keys
    if isinstance(names, (str, int)):
        names = [names]
    out = []
    for name in names:
        key = resolve_subject(name, keys)
        if key in out:
            raise BrainembedError(f"subject {str(name).strip()!r} is listed twice (as {key}).")
        out.append(key)
    return out
