"""The experiments of the reproduction report, in the order they run and appear.

Each name is a module ``analyses/<name>.py`` (unless :data:`MODULES` maps it
elsewhere) that defines ``NAME`` (the name below), ``TITLE``, ``PAPER`` (the
claim and number quoted from the paper, with section or figure), optionally
``NEEDS_BASE = False`` (it does not use the shared base run), and
``run(ctx) -> dict`` (see :mod:`analyses.runner`). Adding an experiment is
adding its name here and writing its module; a listed name without a module
is reported as an error before anything runs.
"""

#: Experiment names, in order. Appendix E's ablations ("ablations",
#: "training_defaults") go at the end once their modules exist.
EXPERIMENTS = (
    "table2",
    "crowd_of_brains",
    "crowd_of_datasets",
    "transfer",
    "clusters",
    "rsa",
    "digit69",
    "ablations",
    "training_defaults",
)

#: Experiments whose module is not ``analyses.<name>``: ``analyses/digit69.py``
#: is the stand-alone real-fMRI script, wrapped by ``analyses/real_digits.py``.
MODULES = {"digit69": "analyses.real_digits"}
