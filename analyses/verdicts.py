"""Verdicts computed from the numbers: ``reproduced``, ``not reproduced`` or ``differs because ...``.

Every experiment turns its measured numbers into rows of the report's
verdict table with the helpers below; no verdict is written by hand.
"""

from __future__ import annotations

import math

REPRODUCED = "reproduced"
NOT_REPRODUCED = "not reproduced"


def differs(reason: str) -> str:
    """The verdict for a partly matching result: ``"differs because <reason>"``."""
    return f"differs because {reason}"


def not_run(reason: str) -> str:
    """The verdict of a check that could not be made: ``"not run: <reason>"``."""
    return f"not run: {reason}"


def verdict_row(claim: str, paper: str, ours: str, verdict: str) -> dict:
    """One row of a verdict table.

    Parameters
    ----------
    claim : str
        The paper's claim, in words.
    paper : str
        The paper's number (or ``"-"`` where it gives none).
    ours : str
        Our number(s).
    verdict : str
        ``reproduced``, ``not reproduced`` or ``differs because ...``.

    Returns
    -------
    dict with keys ``claim``, ``paper``, ``ours``, ``verdict``.
    """
    return {"claim": claim, "paper": paper, "ours": ours, "verdict": verdict}


def fmt(value, digits: int = 3) -> str:
    """A number for a table cell (``"nan"`` for missing values)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "nan"
    return f"{value:.{digits}f}"


def pct(value, digits: int = 0, sign: bool = True) -> str:
    """A fraction as a percentage, e.g. ``0.153 -> "+15 %"``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "nan"
    return f"{value * 100:{'+' if sign else ''}.{digits}f} %"


def name_list(labels, limit: int = 4) -> str:
    """Names joined by commas, the list cut after ``limit`` names (``"a, b, c, d and 5 more"``)."""
    labels = [str(label) for label in labels]
    if len(labels) <= limit:
        return ", ".join(labels)
    return f"{', '.join(labels[:limit])} and {len(labels) - limit} more"


def count_verdict(wins, labels, what: str = "comparisons") -> str:
    """Reproduced when every comparison goes the paper's way, not reproduced when none does.

    Parameters
    ----------
    wins : sequence of bool
        One entry per comparison (e.g. per subject): does our number go the
        paper's way?
    labels : sequence of str
        Names of the comparisons, used in the ``differs because`` reason.
    what : str
        What the comparisons are, for the reason (e.g. ``"7T subjects"``).

    Returns
    -------
    str
    """
    wins = [bool(w) for w in wins]
    labels = [str(label) for label in labels]
    if not wins:
        return differs(f"there are no {what} to compare")
    if all(wins):
        return REPRODUCED
    if not any(wins):
        return NOT_REPRODUCED
    losers = [label for label, w in zip(labels, wins) if not w]
    return differs(f"it holds for {sum(wins)} of {len(wins)} {what}, not for {name_list(losers)}")


def gain_verdict(gains, pvalues, labels, *, alpha: float = 0.05, what: str = "subjects") -> str:
    """Verdict on "X significantly improves Y" from per-unit gains and p-values.

    Parameters
    ----------
    gains : sequence of float
        Improvement per unit (positive = the paper's direction).
    pvalues : sequence of float
        p-value of each improvement (NaN where no test could be made).
    labels : sequence of str
        Unit names (subjects, training-set sizes).
    alpha : float
        Significance level.
    what : str
        What the units are, for the reason.

    Returns
    -------
    str
        ``reproduced`` when every gain is positive and significant, ``not
        reproduced`` when no gain is positive, otherwise ``differs because``
        naming the units that do not improve or not significantly.
    """
    gains = [float(g) for g in gains]
    pvalues = [float(p) for p in pvalues]
    labels = [str(label) for label in labels]
    if not gains:
        return differs(f"there are no {what} to compare")
    positive = [g > 0 for g in gains]
    if not any(positive):
        return NOT_REPRODUCED
    if not all(positive):
        losers = [label for label, ok in zip(labels, positive) if not ok]
        return differs(f"the gain is positive for {sum(positive)} of {len(gains)} {what}, not for "
                       f"{name_list(losers)}")
    weak = [f"{label} (p = {p:.2g})" for label, p in zip(labels, pvalues) if not p < alpha]
    if weak:
        return differs(f"the gain is positive for every one of the {len(gains)} {what} but not significant "
                       f"(alpha {alpha}) for {name_list(weak)}")
    return REPRODUCED


def threshold_verdict(value: float, reproduced_at: float, holds_at: float, *, reason: str) -> str:
    """Reproduced at or above ``reproduced_at``; ``differs`` between ``holds_at`` and it; not reproduced below.

    Parameters
    ----------
    value : float
        Our number, oriented so that larger is the paper's direction.
    reproduced_at : float
        Level of the paper's number.
    holds_at : float
        Level at which the paper's qualitative claim still holds.
    reason : str
        The ``differs because`` reason used between the two levels.

    Returns
    -------
    str
    """
    if not value == value:  # NaN
        return differs("the number could not be computed")
    if value >= reproduced_at:
        return REPRODUCED
    if value > holds_at:
        return differs(reason)
    return NOT_REPRODUCED
