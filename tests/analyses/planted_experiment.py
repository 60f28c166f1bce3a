"""A stand-in experiment for the runner tests: planted numbers, no base run, counts its calls."""

import pandas as pd

from analyses.verdicts import count_verdict, verdict_row

NAME = "planted"
TITLE = "Planted experiment"
PAPER = "A planted claim: joint beats single on every subject (+15 %)."
NEEDS_BASE = False
CALLS = []


def run(ctx):
    CALLS.append(ctx.folder)
    table = pd.DataFrame({"subject": ["1", "2"], "single": [0.4, 0.5], "joint": [0.5, 0.6]})
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2, 2))
    ax.bar(table["subject"], table["joint"])
    path = ctx.folder / "bars.png"
    fig.savefig(path, dpi=50)
    plt.close(fig)
    wins = (table["joint"] > table["single"]).tolist()
    return {"tables": {"scores": table}, "figures": {"bars": path},
            "verdicts": [verdict_row("joint beats single", "+15 %", "+20 %", count_verdict(wins, table["subject"]))],
            "notes": ["planted <numbers> & co"]}
