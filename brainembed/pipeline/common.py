"""What the exploring commands share: embeddings of a run, image pools, prediction, logging and figures.

The torch-using glue between a run folder (read through
:class:`~brainembed.training.run.RunDirectory`) and :mod:`brainembed.analysis`
used by :mod:`~brainembed.pipeline.cluster`, :mod:`~brainembed.pipeline.top_images`,
:mod:`~brainembed.pipeline.embed_map` and :mod:`~brainembed.pipeline.rsa`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from brainembed.data.subjects import resolve_subjects, subject_key
from brainembed.errors import BrainembedError

POOLS = ("test", "all")


def log(progress: bool, command: str, message: str) -> None:
    """Print ``[command] message`` when ``progress`` is on."""
    if progress:
        print(f"[{command}] {message}", flush=True)


def load_embeddings(run, subjects=None, *, which: str = "best", data=None, store=None):
    """The voxel embeddings of a trained run, with each voxel's descriptors.

    Parameters
    ----------
    run : path or RunDirectory
        Run folder written by ``brainembed train``.
    subjects : sequence of str, optional
        Subject keys, or bare ids unique among the run's subjects
        (:mod:`brainembed.data.subjects`); default all.
    which : {"best", "last"}, default="best"
        Checkpoint read.
    data : path, optional
        Crowd store holding the voxel tables (default: the run's).
    store : CrowdStore, optional
        An open store to read from (then ``data`` is not used).

    Returns
    -------
    VoxelEmbeddings
        Subjects in the order given; voxels in each subject's order.
    """
    from brainembed.analysis import VoxelEmbeddings
    from brainembed.training.run import RunDirectory

    run = RunDirectory.of(run, data)
    keys = run.resolve_subjects(subjects)
    table = run.embedding_table(which)
    sizes, offsets = run.voxel_counts(), run.subject_offsets()
    if store is None:
        with run.open_store() as opened:
            return load_embeddings(run, keys, which=which, store=opened)
    tables = {}
    for key in keys:
        voxels = store.read_voxels(store.resolve(key))
        if len(voxels) != sizes[key]:
            raise BrainembedError(f"subject {key} has {len(voxels)} voxels in {store.path} but the run was "
                                  f"trained with {sizes[key]}; pass the store the run was trained on.")
        tables[key] = voxels
    rows = np.concatenate([np.arange(offsets[k], offsets[k] + sizes[k]) for k in keys])
    return VoxelEmbeddings.from_table(table[rows], tables)


def global_voxel_index(labels: pd.DataFrame, offsets: dict) -> np.ndarray:
    """Rows of the model's embedding table of voxels given by ``dataset``, ``subject``, ``voxel``.

    Returns
    -------
    array of shape (n_voxels,), int64
    """
    keys = subject_key(labels["dataset"], labels["subject"])
    unknown = sorted(set(keys) - set(offsets))
    if unknown:
        raise BrainembedError(f"subject(s) {unknown} are not part of this run.")
    return (keys.map(offsets).to_numpy(dtype=np.int64) + labels["voxel"].to_numpy(dtype=np.int64))


def predict_pool(model, pixels: np.ndarray, voxel_index, *, device="cpu", image_batch: int = 32,
                 voxel_chunk: int | None = None, progress: bool = False) -> np.ndarray:
    """Predicted responses of some voxels to a pool of images.

    Parameters
    ----------
    model : UniversalBrainEncoder
    pixels : array of shape (n_images, height, width, 3), uint8
    voxel_index : array of shape (n_voxels,)
        Rows of the model's embedding table.
    device : torch device
    image_batch : int, default=32
        Images per forward pass.
    voxel_chunk : int, optional
        Voxels per head pass (default: the model's).
    progress : bool

    Returns
    -------
    predictions : array of shape (n_images, n_voxels), float32
    """
    import torch

    from brainembed.training.predict import images_to_tensor

    device = torch.device(device)
    model = model.to(device)
    index = torch.as_tensor(np.asarray(voxel_index, dtype=np.int64), device=device)
    out = np.empty((len(pixels), index.numel()), dtype=np.float32)
    starts = range(0, len(pixels), image_batch)
    every = max(1, len(starts) // 10)
    with torch.no_grad():
        for b, lo in enumerate(starts):
            batch = images_to_tensor(model, pixels[lo:lo + image_batch], device)
            out[lo:lo + len(batch)] = model.predict(batch, index, chunk_size=voxel_chunk).float().cpu().numpy()
            if progress and len(starts) > 1 and ((b + 1) % every == 0 or b + 1 == len(starts)):
                print(f"  predicted {lo + len(batch)}/{len(pixels)} images", flush=True)
    return out


def check_pool(pool) -> str:
    """``pool`` as a string when it is ``test``, ``all`` or an existing folder; otherwise a one-line error."""
    pool = str(pool)
    if pool not in POOLS and not Path(pool).is_dir():
        raise BrainembedError(f"image pool {pool!r} is neither 'test', 'all' nor an existing folder of images.")
    return pool


def pool_name(pool) -> str:
    """Short name of an image pool for file names (``test``, ``all`` or the folder's name)."""
    return pool if pool in POOLS else Path(pool).resolve().name.replace(" ", "_")


def image_pool(store, pool="test", subjects=None):
    """Images to rank clusters by.

    Parameters
    ----------
    store : CrowdStore or path
        Crowd store (an open one is left open).
    pool : {"test", "all"} or path
        ``"test"``: the test images of ``subjects`` (all subjects when None);
        ``"all"``: every stored image; a folder: every image in it and its
        sub-folders, read by :func:`brainembed.data.readers.images.read_image_folder`
        at the store's image size.
    subjects : sequence of str, optional
        Subject keys (for the ``test`` pool).

    Returns
    -------
    pixels : array of shape (n_images, H, W, 3), uint8
    image_ids : array of shape (n_images,)
        Store ids (positions for a folder).
    metadata : DataFrame with n_images rows
        The store's image metadata (the simulation's ``category``), or the
        folder's ``file`` and, where images sit in sub-folders, ``category``
        (the sub-folder's name).
    """
    from brainembed.data import CrowdStore

    pool = check_pool(pool)
    if not isinstance(store, CrowdStore):
        with CrowdStore(store) as opened:
            return image_pool(opened, pool, subjects)
    if pool not in POOLS:
        from brainembed.data.readers.images import read_image_folder

        size = int(store.read_images(store.read_image_ids(store.keys[0])[:1]).shape[1])
        images = read_image_folder(pool, image_size=size, ids="index", recursive=True)
        metadata = images.metadata.reset_index(drop=True)[["file"]]
        parts = [Path(f).parts for f in metadata["file"]]
        if any(len(p) > 1 for p in parts):
            metadata["category"] = [p[0] if len(p) > 1 else "" for p in parts]
        return images.pixels, np.arange(len(images.pixels)), metadata
    ids = None
    if pool == "test":
        keys = resolve_subjects(subjects, store.keys)
        parts = []
        for key in keys:
            subject = store.read_subject(key, repeats=False)
            parts.append(subject.image_ids[subject.split == "test"])
        ids = np.unique(np.concatenate(parts))
        if ids.size == 0:
            raise BrainembedError(f"subjects {', '.join(keys)} have no test images; use --pool all.")
    images = store.read_image_store(ids)
    return images.pixels, images.ids, images.metadata.reset_index(drop=True)


def rank_images(model, labels, offsets, pixels, image_ids, metadata, *, n, device, zscore=True, relative=False,
                 progress=False, command="top-images"):
    """Activation of every cluster over a pool, and its top images.

    Parameters
    ----------
    model : UniversalBrainEncoder
    labels : DataFrame
        A clustering (``dataset``, ``subject``, ``voxel``, ``cluster``).
    offsets : dict
        Subject key -> first row in the model's embedding table.
    pixels, image_ids, metadata
        An image pool, as returned by :func:`image_pool`.
    n : int
        Top images per cluster.

    Returns
    -------
    activation : DataFrame of shape (n_images, n_clusters)
    top : DataFrame
        ``n`` rows per cluster (see :func:`~brainembed.analysis.top_images`).
    """
    from brainembed.analysis import cluster_activation, top_images

    index = global_voxel_index(labels, offsets)
    log(progress, command, f"predicting {index.size} voxels over {len(pixels)} pool images")
    predictions = predict_pool(model, pixels, index, device=device, progress=progress and len(pixels) > 256)
    activation = cluster_activation(predictions, labels["cluster"].to_numpy(), zscore=zscore, relative=relative)
    categories = metadata["category"].astype(str).to_numpy() if "category" in metadata.columns else None
    top = top_images(activation, n, image_ids=image_ids, categories=categories).assign(
        ranking="relative" if relative else "absolute")
    if "file" in metadata.columns and len(top):  # a folder pool: ids are positions, keep the file names
        top = top.assign(file=metadata["file"].astype(str).to_numpy()[top["image_id"].to_numpy(dtype=np.int64)])
    return activation, top


def write_pool(out: Path, pool) -> Path:
    """Record which image pool top images were ranked over (``pool.txt``: test, all or a folder's path)."""
    path = Path(out) / "pool.txt"
    path.write_text((pool if pool in POOLS else str(Path(pool).resolve())) + "\n")
    return path


def save_figure(fig, path: Path) -> Path:
    """Write ``fig`` to ``path`` (PNG, 100 dpi), close it and return ``path``."""
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def use_agg() -> None:
    """Select matplotlib's Agg backend unless one was already chosen (commands write files, never show)."""
    import matplotlib

    matplotlib.use("Agg", force=False)


