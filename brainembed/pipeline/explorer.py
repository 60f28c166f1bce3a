"""``brainembed explore``: write the interactive brain explorer of a run's clustering.

The page (:mod:`brainembed.explorer`) is built from the tables of one
clustering in ``RUN/clusters/<tag>/``. When the clustering asked for does not
exist yet it is made first with :func:`brainembed.pipeline.explore.cluster_run`
-- the function behind ``brainembed cluster`` -- so the explorer always shows
the same tables the command line writes.

Output::

    OUT/index.html      one self-contained page (default OUT: RUN/explorer/<tag>)
"""

from __future__ import annotations

from pathlib import Path

from brainembed.data.subjects import subject_key
from brainembed.errors import BrainembedError
from brainembed.validation import check_count

DEFAULT_SUBJECTS = ("1", "2")


def _log(progress: bool, message: str) -> None:
    if progress:
        print(f"[explore] {message}", flush=True)


def _default_subjects(keys: list[str]) -> list[str]:
    """Subjects 1 and 2 of the run's first dataset having both, else the run's first two subjects."""
    from brainembed.data.subjects import split_key, subject_key

    for dataset in dict.fromkeys(split_key(k)[0] for k in keys):
        wanted = [subject_key(dataset, s) for s in DEFAULT_SUBJECTS]
        if set(wanted) <= set(keys):
            return wanted
    return list(keys[:2])


def _size_text(n_bytes: int) -> str:
    return f"{n_bytes / 1e6:.1f} MB" if n_bytes >= 1e6 else f"{n_bytes / 1e3:.0f} kB"


def write_explorer(run, subjects=None, k: int = 20, out=None, clusters=None, *, seed: int = 0, data=None,
                   overwrite: bool = False, device: str = "auto", map_width: int = 1800, thumbnail_size: int = 96,
                   thumbnail_format: str = "png", progress: bool = True) -> dict:
    """Write the interactive explorer of one clustering of a run as a static web page.

    Parameters
    ----------
    run : path
        Run folder written by ``brainembed train``.
    subjects : sequence of str, optional
        Subjects shown (keys such as ``"3T:1"`` or bare ids such as ``"1"``).
        Without ``clusters``: the subjects clustered together (default ``1``
        and ``2``, or the run's first two subjects when it has no such ids).
        With ``clusters``: a subset of that clustering's subjects (default all).
    k : int, default=20
        Number of clusters (without ``clusters``).
    out : path, optional
        Folder of the site (default ``RUN/explorer/<tag>``).
    clusters : str, optional
        An existing clustering: a tag of ``RUN/clusters`` or ``"latest"``.
        Without it, the k-means clustering of ``subjects`` with ``k`` and
        ``seed`` is used, and made with ``cluster_run`` if the run lacks it.
    seed : int, default=0
        k-means seed (without ``clusters``).
    data : path, optional
        Crowd store with the top images (default: the run's).
    overwrite : bool, default=False
        Replace an existing ``OUT/index.html``.
    device : str, default="auto"
        Device for predicting top images when a clustering has to be made.
    map_width : int, default=1800
        Width in pixels of each flatmap picture.
    thumbnail_size : int, default=96
        Largest side of the embedded top-image thumbnails.
    thumbnail_format : {"png", "jpeg", "webp"}, default="png"
        Lossless PNG, or JPEG/WebP thumbnails for a page several times smaller.
    progress : bool, default=True

    Returns
    -------
    dict
        ``path`` (the ``index.html``), ``tag``, ``subjects`` (keys shown),
        ``size_bytes`` (of the page) and ``data`` (what the page embeds).
    """
    from brainembed.analysis import clustering_tag, load_clustering
    from brainembed.data.subjects import resolve_subjects
    from brainembed.explorer import explorer_data, write_site
    from brainembed.training.run import RunDirectory

    check_count("the number of clusters", k)
    run_dir = RunDirectory.of(run, data)
    if clusters is not None:
        tag = run_dir.clustering_tag(clusters)
        labels = load_clustering(run_dir, tag)
        clustered = list(dict.fromkeys(subject_key(labels["dataset"], labels["subject"])))
        keys = resolve_subjects(subjects, clustered)
    else:
        keys = run_dir.resolve_subjects(subjects) if subjects else _default_subjects(run_dir.subjects)
        tag = clustering_tag(k, keys, random_state=seed)
    out = Path(out) if out is not None else run_dir.output_dir("explorer", tag)
    if (out / "index.html").exists() and not overwrite:
        raise BrainembedError(f"{out / 'index.html'} already exists; pass --overwrite to replace it.")
    if clusters is None:
        if (run_dir.clustering_dir(tag) / "labels.csv").is_file():
            _log(progress, f"using the clustering {tag} in {run_dir.clusters_dir}")
        else:
            from brainembed.pipeline.cluster import cluster_run

            _log(progress, f"the run has no clustering {tag} yet: clustering {', '.join(keys)} with k={k}")
            cluster_run(run_dir, keys, k, seed=seed, device=device, progress=progress)
    try:
        store = run_dir.store_path()
    except BrainembedError as err:
        _log(progress, f"{err} Without it the page shows image ids without thumbnails.")
        store = None
    _log(progress, f"building the explorer of {tag} for {', '.join(keys)}")
    site = explorer_data(run_dir, tag, store_path=store, subjects=keys, map_width=map_width,
                         thumbnail_size=thumbnail_size, thumbnail_format=thumbnail_format)
    page = write_site(site, out, overwrite=overwrite)
    size = page.stat().st_size
    _log(progress, f"explorer written to {page} ({_size_text(size)})")
    return {"path": page, "tag": tag, "subjects": keys, "size_bytes": size, "data": site}
