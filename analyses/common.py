"""Small helpers shared by the experiments: reading the base evaluation's tables, saving figures."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from brainembed.data.subjects import subject_key


def read_csv(path) -> pd.DataFrame:
    """A CSV table with ``dataset`` and ``subject`` read as strings."""
    return pd.read_csv(path, dtype={"dataset": str, "subject": str})


def evaluation_table(run, name: str) -> pd.DataFrame:
    """``RUN/evaluation/<name>.csv`` of a run evaluated by :func:`brainembed.pipeline.evaluate.evaluate_run`."""
    path = Path(run) / "evaluation" / f"{name}.csv"
    if not path.is_file():
        from brainembed.errors import BrainembedError

        raise BrainembedError(f"{path} is missing; evaluate the run first (brainembed evaluate --run {run}).")
    return read_csv(path)


def subject_keys(table: pd.DataFrame) -> pd.Series:
    """``dataset:subject`` of every row."""
    return subject_key(table["dataset"], table["subject"])


def first_dataset(table: pd.DataFrame) -> str:
    """The crowd's first dataset (``7T`` on the simulated crowd), the paper's NSD analogue."""
    return str(table["dataset"].iloc[0])


def model_pivot(summary: pd.DataFrame, value: str, models=None) -> pd.DataFrame:
    """One row per subject (``dataset``, ``subject``), one column per model, of a summary column.

    Parameters
    ----------
    summary : DataFrame
        ``RUN/evaluation/summary.csv``.
    value : str
        Column to spread (e.g. ``median_r``).
    models : sequence of str, optional
        Models kept, in this order (default: all, in order of appearance).

    Returns
    -------
    DataFrame, subjects in order of appearance.
    """
    models = list(dict.fromkeys(summary["model"])) if models is None else [m for m in models
                                                                            if m in set(summary["model"])]
    table = summary.pivot_table(index=["dataset", "subject"], columns="model", values=value, sort=False)
    table = table[models].reset_index()
    table.columns.name = None
    return table


def save_figure(fig, out, dpi: int = 110) -> Path:
    """Lay out ``fig``, write it to ``out`` (folders created) and close it; returns the path."""
    import matplotlib.pyplot as plt

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out, dpi=dpi)
    plt.close(fig)
    return out
