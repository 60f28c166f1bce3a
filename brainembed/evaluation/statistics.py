"""Statistical tests of Beliy et al., Appendix D, on top of scipy and statsmodels.

- :func:`repeated_measures_anova`: models compared across subjects
  (``statsmodels.stats.anova.AnovaRM``).
- :func:`correlation_pvalues`, :func:`fdr_correction`, :func:`voxel_significance`:
  per-voxel significance of a prediction correlation against independent
  Gaussian vectors of the same length, Benjamini-Hochberg corrected
  (``statsmodels.stats.multitest.multipletests``).
- :func:`paired_ttests`: paired t-tests over repeats between models
  (``scipy.stats.ttest_rel``), FDR-corrected across comparisons.

Tables are long-format pandas DataFrames, one observation per row.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy import stats

from brainembed.errors import BrainembedValueError
from brainembed.validation import as_float_array, check_fraction, check_int, check_method

__all__ = [
    "correlation_pvalues",
    "fdr_correction",
    "paired_ttests",
    "repeated_measures_anova",
    "voxel_significance",
]

ALTERNATIVES = ("greater", "less", "two-sided")


def _check_columns(table, columns):
    if not isinstance(table, pd.DataFrame):
        raise BrainembedValueError(f"table must be a pandas DataFrame, got {type(table).__name__}.")
    missing = [column for column in columns if column not in table.columns]
    if missing:
        raise BrainembedValueError(f"table has no column(s) {missing}; it has {list(table.columns)}.")


def repeated_measures_anova(table, subject="subject", model="model", value="value", aggregate=None):
    """One-way repeated-measures ANOVA of ``value`` across models, within subjects.

    Parameters
    ----------
    table : DataFrame
        Long table with one row per (subject, model) — e.g. each model's median
        voxel correlation on each subject.
    subject, model, value : str
        Column names of the subject (the repeated unit), the model (the
        within-subject factor) and the dependent value.
    aggregate : str or callable, optional
        How to collapse several rows per (subject, model), e.g. ``"mean"``;
        by default each pair must appear exactly once.

    Returns
    -------
    anova : DataFrame
        statsmodels' table: one row (the model factor) with ``F Value``,
        ``Num DF``, ``Den DF`` and ``Pr > F``.
    """
    from statsmodels.stats.anova import AnovaRM

    _check_columns(table, [subject, model, value])
    data = table[[subject, model, value]]
    as_float_array(f"table[{value!r}]", data[value].to_numpy(), ndim=1)
    if data[model].nunique() < 2 or data[subject].nunique() < 2:
        raise BrainembedValueError("repeated_measures_anova needs at least 2 models and 2 subjects.")
    counts = data.groupby([subject, model]).size().unstack(fill_value=0)
    if (counts == 0).to_numpy().any():
        raise BrainembedValueError("table is unbalanced: every subject needs a value for every model.")
    if aggregate is None and (counts > 1).to_numpy().any():
        raise BrainembedValueError(
            "table has several rows per (subject, model); pass aggregate='mean' or reduce them first."
        )
    result = AnovaRM(data, depvar=value, subject=subject, within=[model], aggregate_func=aggregate).fit()
    return result.anova_table


def correlation_pvalues(r, n_images, alternative="greater"):
    """P-values of correlations against independent Gaussian vectors of length ``n_images``.

    Under the null, ``t = r * sqrt((n - 2) / (1 - r**2))`` follows Student's t
    with ``n - 2`` degrees of freedom (the test of :func:`scipy.stats.pearsonr`).
    The default is one-sided for positive correlation, as in Beliy et al.,
    Appendix D: an encoder is only credited for predictions that correlate
    positively with the measurement.

    Parameters
    ----------
    r : array of shape (n_voxels,)
        Per-voxel correlations over ``n_images`` test images.
    n_images : int
        Length of the correlated vectors (number of test images), at least 3.
    alternative : {"greater", "less", "two-sided"}, default="greater"
        Alternative hypothesis.

    Returns
    -------
    pvalues : array of shape (n_voxels,)
    """
    check_method("alternative", alternative, ALTERNATIVES)
    r = as_float_array("r", r, ndim=1)
    if np.abs(r).max(initial=0.0) > 1.0 + 1e-12:
        raise BrainembedValueError("r must contain correlations in [-1, 1].")
    n_images = check_int("n_images", n_images, 3)
    r = np.clip(r, -1.0, 1.0)
    with np.errstate(divide="ignore"):
        t = r * np.sqrt((n_images - 2) / (1.0 - r**2))
    null = stats.t(df=n_images - 2)
    if alternative == "greater":
        return null.sf(t)
    if alternative == "less":
        return null.cdf(t)
    return np.minimum(2.0 * null.sf(np.abs(t)), 1.0)


def fdr_correction(pvalues, alpha=0.05):
    """Benjamini-Hochberg false-discovery-rate correction.

    Parameters
    ----------
    pvalues : array of shape (n_tests,)
    alpha : float, default=0.05
        False discovery rate.

    Returns
    -------
    reject : array of shape (n_tests,), bool
        True where the null is rejected at FDR ``alpha``.
    qvalues : array of shape (n_tests,)
        BH-adjusted p-values.
    """
    from statsmodels.stats.multitest import multipletests

    pvalues = as_float_array("pvalues", pvalues, ndim=1)
    if pvalues.size == 0 or pvalues.min() < 0 or pvalues.max() > 1:
        raise BrainembedValueError("pvalues must be a non-empty array of probabilities in [0, 1].")
    alpha = check_fraction("alpha", alpha)
    reject, qvalues, _, _ = multipletests(pvalues, alpha=alpha, method="fdr_bh")
    return reject, qvalues


def voxel_significance(r, n_images, alpha=0.05, alternative="greater"):
    """Share of voxels predicted significantly above chance, FDR-corrected per subject.

    Each voxel's correlation is tested with :func:`correlation_pvalues`
    (one-sided, positive correlation, by default); p-values are then
    Benjamini-Hochberg corrected within each subject (Beliy et al., Table S3).

    Parameters
    ----------
    r : array of shape (n_voxels,) or mapping
        Per-voxel correlations of one subject, or a mapping subject ->
        array of shape (n_voxels_s,).
    n_images : int or mapping
        Test images each correlation was computed over (one number, or a
        mapping subject -> number).
    alpha : float, default=0.05
        False discovery rate.
    alternative : {"greater", "less", "two-sided"}, default="greater"
        Alternative hypothesis of the per-voxel test.

    Returns
    -------
    table : DataFrame
        One row per subject (``subject`` is 0 for a single array) with
        ``n_voxels``, ``n_significant``, ``fraction_significant`` (in [0, 1]),
        ``n_images`` and ``alpha``.
    """
    groups = dict(r) if isinstance(r, Mapping) else {0: r}
    rows = []
    for subject, values in groups.items():
        if isinstance(n_images, Mapping) and subject not in n_images:
            raise BrainembedValueError(f"n_images has no entry for subject {subject!r}.")
        n = n_images[subject] if isinstance(n_images, Mapping) else n_images
        reject, _ = fdr_correction(correlation_pvalues(values, n, alternative), alpha)
        rows.append({"subject": subject, "n_voxels": reject.size, "n_significant": int(reject.sum()),
                     "fraction_significant": float(reject.mean()), "n_images": int(n), "alpha": alpha})
    return pd.DataFrame(rows)


def paired_ttests(results, model="model", repeat="repeat", value="value", reference=None, by=None,
                  alpha=0.05, alternative="two-sided"):
    """Paired t-tests over repeats between models, FDR-corrected across all comparisons.

    Parameters
    ----------
    results : DataFrame
        Long table, one row per (model, repeat[, by...]): e.g. top-1 retrieval
        accuracy of each model in each distractor draw.
    model, repeat, value : str
        Column names of the model, the pairing unit (repeat, seed) and the value.
    reference : str, optional
        Compare this model against every other one; default: every pair of models.
    by : str or list of str, optional
        Column(s) within which comparisons are made (e.g. ``"subject"``); all
        comparisons of all groups are corrected together.
    alpha : float, default=0.05
        False discovery rate of the Benjamini-Hochberg correction.
    alternative : {"two-sided", "greater", "less"}, default="two-sided"
        Alternative hypothesis on ``mean(model_a - model_b)``.

    Returns
    -------
    table : DataFrame
        One row per comparison: the ``by`` columns, ``model_a``, ``model_b``,
        ``n_repeats``, ``mean_a``, ``mean_b``, ``mean_difference``,
        ``t``, ``p_value``, ``p_fdr`` and ``significant``.
    """
    check_method("alternative", alternative, ALTERNATIVES)
    keys = [] if by is None else ([by] if isinstance(by, str) else list(by))
    _check_columns(results, keys + [model, repeat, value])
    alpha = check_fraction("alpha", alpha)
    as_float_array(f"results[{value!r}]", results[value].to_numpy(), ndim=1)
    models = list(pd.unique(results[model]))
    if reference is not None and reference not in models:
        raise BrainembedValueError(f"reference={reference!r} is not a model in results[{model!r}]: {models}.")
    if len(models) < 2:
        raise BrainembedValueError(f"results[{model!r}] must hold at least 2 models to compare.")
    if reference is None:
        pairs = list(itertools.combinations(models, 2))
    else:
        pairs = [(reference, other) for other in models if other != reference]

    groups = results.groupby(keys, sort=True) if keys else [((), results)]
    rows = []
    for group, part in groups:
        group = group if isinstance(group, tuple) else (group,)
        if part.duplicated([model, repeat]).any():
            raise BrainembedValueError(f"results has several rows for one ({model}, {repeat}) pair within a group.")
        wide = part.pivot(index=repeat, columns=model, values=value)
        for model_a, model_b in pairs:
            if model_a not in wide or model_b not in wide:
                continue
            paired = wide[[model_a, model_b]]
            if paired.isna().any().any():
                raise BrainembedValueError(
                    f"models {model_a!r} and {model_b!r} do not share the same {repeat!r} values; "
                    "paired t-tests need one value per model and repeat."
                )
            if len(paired) < 2:
                raise BrainembedValueError(f"paired t-tests need at least 2 {repeat!r} values per model.")
            a = paired[model_a].to_numpy(dtype=float)
            b = paired[model_b].to_numpy(dtype=float)
            with warnings.catch_warnings():
                # Identical or constant differences (e.g. top-1 accuracy 1.0 for both models on every
                # repeat) make scipy warn about precision loss; t is then NaN or infinite, handled below.
                warnings.simplefilter("ignore", RuntimeWarning)
                test = stats.ttest_rel(a, b, alternative=alternative)
            rows.append({**dict(zip(keys, group)), "model_a": model_a, "model_b": model_b,
                         "n_repeats": len(a), "mean_a": a.mean(), "mean_b": b.mean(),
                         "mean_difference": (a - b).mean(), "t": float(test.statistic),
                         "p_value": float(test.pvalue)})
    table = pd.DataFrame(rows)
    if table.empty:
        raise BrainembedValueError("paired_ttests found no pair of models to compare in results.")
    # A pair with identical values has an undefined t (NaN): report it as not significant.
    pvalues = table["p_value"].to_numpy()
    valid = np.isfinite(pvalues)
    table["p_fdr"] = np.nan
    table["significant"] = False
    if valid.any():
        reject, qvalues = fdr_correction(pvalues[valid], alpha)
        table.loc[valid, "p_fdr"] = qvalues
        table.loc[valid, "significant"] = reject
    return table
