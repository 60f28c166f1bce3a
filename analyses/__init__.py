"""Scripts that reproduce the experiments of the paper, using only brainembed's public API.

``python -m analyses --out DIR [--preset tiny|demo|paper] [--only NAME ...]`` runs
every experiment listed in :mod:`analyses.experiments` and writes
``DIR/report.md`` and ``DIR/report.html`` (:mod:`analyses.runner`).
``analyses/digit69.py`` also runs on its own (the real-fMRI digit69 check).
"""
