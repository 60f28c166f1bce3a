"""Run folders: the one owner of what a training run wrote and of where everything else goes.

Layout::

    RUN/config.yaml                 resolved RunConfig (encoder + training + data)
    RUN/checkpoints/last.pt         resumable state (model, optimiser, scheduler, position)
    RUN/checkpoints/best.pt         best weights on validation
    RUN/metrics.csv                 one row per epoch
    RUN/steps.csv                   one row per optimisation step
    RUN/clusters/LATEST             tag of the last clustering
    RUN/clusters/<tag>/labels.csv   one clustering (``brainembed cluster``)
    RUN/analysis/<kind>/<name>/     outputs of ``top-images``, ``embed-map``, ``rsa``
    RUN/evaluation/, RUN/transfer/<subject>/, RUN/figures/, RUN/explorer/<tag>/

Every command that reads a run goes through :class:`RunDirectory`: it reads
``config.yaml`` once, finds the crowd store, loads a checkpoint once, and
knows the embedding table's subject offsets, the clusterings and the output
folders (one overwrite rule: :func:`fresh_folder`).

Where the store is found (:meth:`RunDirectory.store_path`): ``config.yaml``
records it twice, absolute (``data``) and relative to the run folder
(``data_relative``), so a run resolves from any current folder and still finds
its store when the run and the store move together. The order is: an explicit
``--data``; the run-relative path; the absolute path; for runs written before
``data_relative`` existed (``data`` relative to the folder training started
from), that path against the current folder, then against the run folder and
its parents. Otherwise the command stops with one sentence asking for ``--data``.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from brainembed.config import Config, EncoderConfig
from brainembed.errors import BrainembedError
from brainembed.training.config import TrainConfig


@dataclass
class RunConfig(Config):
    """Everything needed to reproduce a run.

    Parameters
    ----------
    encoder : EncoderConfig
    training : TrainConfig
    data : str
        Absolute path of the crowd store the run trained on (runs written by
        earlier versions: relative to the folder training started from).
    data_relative : str
        The same store relative to the run folder ("" when unknown).
    subjects : tuple of str
        Subject keys in the order of the embedding table.
    voxels_per_subject : tuple of int
        Voxels of each subject (rows of the embedding table, in order).
    """

    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    training: TrainConfig = field(default_factory=TrainConfig)
    data: str = ""
    data_relative: str = ""
    subjects: tuple[str, ...] = ()
    voxels_per_subject: tuple[int, ...] = ()


EMBEDDING_TABLE = "head.embeddings.weight"
CHECKPOINTS = ("best", "last")
LATEST_FILE = "LATEST"


def fresh_folder(folder, overwrite: bool = False, *, what: str = "results", create: bool = True) -> Path:
    """An empty output folder: the one overwrite rule of every command that writes results.

    Parameters
    ----------
    folder : path
    overwrite : bool, default=False
        Replace a folder that already holds files; without it such a folder
        is an error.
    what : str, default="results"
        What the folder holds, for the error message.
    create : bool, default=True
        Empty and create the folder; False only checks (before long work).

    Returns
    -------
    Path
    """
    folder = Path(folder)
    if folder.is_dir() and any(folder.iterdir()):
        if not overwrite:
            raise BrainembedError(f"{folder} already holds {what}; pass --overwrite to replace it.")
        if create:
            shutil.rmtree(folder)
    if create:
        folder.mkdir(parents=True, exist_ok=True)
    return folder


def store_fields(data_path, run_path) -> dict:
    """``data`` (absolute) and ``data_relative`` (to the run folder) of a store path, for a RunConfig."""
    if not str(data_path):
        return {"data": "", "data_relative": ""}
    store = Path(data_path).absolute()
    return {"data": str(store), "data_relative": os.path.relpath(store, Path(run_path).absolute())}


class RunDirectory:
    """A run folder: its configuration, store, checkpoints, embeddings, clusterings and outputs.

    Parameters
    ----------
    path : path
        The run folder.
    data : path, optional
        Crowd store overriding the one the run records (``--data``).

    Notes
    -----
    The configuration and loaded checkpoints are cached on the object, so one
    command that passes one ``RunDirectory`` around reads each file once.
    """

    def __init__(self, path, data=None):
        self.path = Path(path)
        self.data = None if data is None else Path(data)
        self._config = None
        self._states = {}

    @classmethod
    def of(cls, run, data=None) -> RunDirectory:
        """``run`` itself if it is a RunDirectory (and no other store is asked for), else a new one."""
        if isinstance(run, cls) and (data is None or run.data == Path(data)):
            return run
        return cls(run.path if isinstance(run, cls) else run, data)

    def __repr__(self) -> str:
        return f"RunDirectory({str(self.path)!r})"

    # ------------------------------------------------------------------ files
    @property
    def config_file(self) -> Path:
        return self.path / "config.yaml"

    @property
    def last(self) -> Path:
        return self.path / "checkpoints" / "last.pt"

    @property
    def best(self) -> Path:
        return self.path / "checkpoints" / "best.pt"

    @property
    def metrics(self) -> Path:
        return self.path / "metrics.csv"

    @property
    def steps(self) -> Path:
        return self.path / "steps.csv"

    def exists(self) -> bool:
        return self.config_file.is_file()

    # ------------------------------------------------------------------ configuration
    def read_config(self) -> RunConfig:
        """The run's configuration (read from ``config.yaml`` once, then cached)."""
        if self._config is None:
            if not self.config_file.is_file():
                raise BrainembedError(f"{self.path} is not a brainembed run (no config.yaml); train one with "
                                      f"`brainembed train --data DIR --out {self.path}`.")
            self._config = RunConfig.load_yaml(self.config_file)
        return self._config

    @property
    def config(self) -> RunConfig:
        return self.read_config()

    def write_config(self, config: RunConfig, data_path=None) -> RunConfig:
        """Write ``config.yaml``, recording the store both absolute and relative to this folder.

        Parameters
        ----------
        config : RunConfig
        data_path : path, optional
            The store (default: the one ``config`` names, as found from its
            own run folder when it has been resolved already).

        Returns
        -------
        RunConfig
            What was written.
        """
        config = config.replace(**store_fields(config.data if data_path is None else data_path, self.path))
        self.path.mkdir(parents=True, exist_ok=True)
        config.save_yaml(self.config_file)
        self._config = config
        return config

    # ------------------------------------------------------------------ store
    def store_candidates(self) -> list[Path]:
        """Where the store may be, in the order tried (see the module docstring)."""
        if self.data is not None:
            return [self.data]
        config = self.read_config()
        out = []
        if config.data_relative:
            out.append(Path(os.path.normpath(self.path.absolute() / config.data_relative)))
        if config.data:
            recorded = Path(config.data)
            if recorded.is_absolute() or config.data_relative:
                out.append(recorded)
            else:  # a run written before data_relative: relative to where training started
                here = self.path.absolute()
                out += [recorded] + [folder / recorded for folder in (here, *here.parents)]
        return out

    def store_path(self) -> Path:
        """The crowd store file of the run (``--data`` first); one sentence naming ``--data`` when not found."""
        from brainembed.data.store import resolve_store_path

        if self.data is not None:
            return resolve_store_path(self.data)
        for candidate in self.store_candidates():
            if candidate.is_file() or (candidate / "crowd.h5").is_file():
                return resolve_store_path(candidate)
        recorded = self.read_config().data
        where = f"recorded as {recorded}" if recorded else "none is recorded in its config.yaml"
        raise BrainembedError(f"the crowd store of the run {self.path} was not found ({where}); pass it with "
                              f"--data.")

    def open_store(self):
        """The run's :class:`~brainembed.data.CrowdStore` (a context manager)."""
        from brainembed.data import CrowdStore

        return CrowdStore(self.store_path())

    # ------------------------------------------------------------------ subjects
    @property
    def subjects(self) -> list[str]:
        """Subject keys in embedding-table order."""
        return list(self.read_config().subjects)

    def resolve_subjects(self, names=None) -> list[str]:
        """Keys of the run's subjects named by a user (rule of :mod:`brainembed.data.subjects`)."""
        from brainembed.data.subjects import resolve_subjects

        return resolve_subjects(names, self.subjects)

    def voxel_counts(self) -> dict:
        """Voxels of every subject (rows of the embedding table), by key."""
        config = self.read_config()
        if len(config.subjects) != len(config.voxels_per_subject):
            raise BrainembedError(f"{self.config_file} lists {len(config.subjects)} subjects but "
                                  f"{len(config.voxels_per_subject)} voxel counts.")
        return dict(zip(config.subjects, (int(n) for n in config.voxels_per_subject)))

    def subject_offsets(self) -> dict:
        """First row of the embedding table of every subject, by key."""
        counts = self.voxel_counts()
        starts = np.concatenate([[0], np.cumsum(list(counts.values()))[:-1]]).astype(np.int64)
        return dict(zip(counts, starts.tolist()))

    # ------------------------------------------------------------------ checkpoints
    def checkpoint(self, which: str = "best") -> Path:
        """Path of a checkpoint: ``best`` (``last`` while a run has not validated yet) or ``last``."""
        if which not in CHECKPOINTS:
            raise BrainembedError(f"unknown checkpoint {which!r}; use 'best' or 'last'.")
        return self.best if which == "best" and self.best.is_file() else self.last

    def checkpoint_state(self, which: str = "best") -> dict:
        """A checkpoint's contents (loaded once per object, on the CPU)."""
        from brainembed.training.checkpoint import checkpoint_entries, load_checkpoint

        path = self.checkpoint(which)
        if path not in self._states:
            state = load_checkpoint(path)
            checkpoint_entries(state, ["model"], path)
            self._states[path] = state
        return self._states[path]

    def load_encoder(self, which: str = "best", device="cpu"):
        """The trained encoder (eval mode) on ``device``."""
        from brainembed.models import create_encoder
        from brainembed.training.checkpoint import load_weights

        config = self.read_config()
        path = self.checkpoint(which)
        # Every weight, the frozen backbone's included, is in the checkpoint.
        model = create_encoder(config.encoder.replace(pretrained=False))
        load_weights(model, self.checkpoint_state(which)["model"], path)
        return model.to(device).eval()

    def embedding_table(self, which: str = "best") -> np.ndarray:
        """The voxel-embedding table, array of shape (n_voxels_total, n_dims), float32."""
        weights = self.checkpoint_state(which)["model"]
        if EMBEDDING_TABLE not in weights:
            raise BrainembedError(f"the checkpoint of {self.path} holds no voxel-embedding table.")
        table = weights[EMBEDDING_TABLE].detach().float().cpu().numpy()
        n_total = sum(self.voxel_counts().values())
        if len(table) < n_total:
            raise BrainembedError(f"the embedding table of {self.path} has {len(table)} rows but the run's "
                                  f"subjects have {n_total} voxels.")
        return table

    # ------------------------------------------------------------------ clusterings
    @property
    def clusters_dir(self) -> Path:
        return self.path / "clusters"

    def clustering_dir(self, tag: str) -> Path:
        """``RUN/clusters/<tag>``."""
        return self.clusters_dir / str(tag)

    def latest_clustering_tag(self) -> str:
        """Tag of the last clustering written (``RUN/clusters/LATEST``)."""
        latest = self.clusters_dir / LATEST_FILE
        if not latest.is_file():
            raise BrainembedError(f"{self.path} holds no clustering yet; run `brainembed cluster --run {self.path}` "
                                  f"first or name one with --clusters.")
        tag = latest.read_text().strip()
        if not tag:
            raise BrainembedError(f"{latest} is empty; name a clustering with --clusters.")
        return tag

    def clustering_tag(self, tag=None) -> str:
        """A clustering's tag: ``tag`` itself, or the latest for None or ``"latest"``."""
        return self.latest_clustering_tag() if tag is None or tag == "latest" else str(tag)

    def clustering_labels(self, tag=None) -> Path:
        """``RUN/clusters/<tag>/labels.csv`` of an existing clustering (default the latest)."""
        tag = self.clustering_tag(tag)
        path = self.clustering_dir(tag) / "labels.csv"
        if not path.is_file():
            folder = self.clusters_dir
            known = sorted(p.name for p in folder.iterdir() if (p / "labels.csv").is_file()) if folder.is_dir() \
                else []
            hint = f"; clusterings: {', '.join(known)}" if known else ""
            raise BrainembedError(f"no clustering {tag!r} in {folder} ({path} is missing); run `brainembed cluster "
                                  f"--run {self.path}` first or name another with --clusters{hint}.")
        return path

    def mark_latest_clustering(self, tag: str) -> None:
        (self.clusters_dir / LATEST_FILE).write_text(f"{tag}\n")

    # ------------------------------------------------------------------ outputs
    def output_dir(self, *parts) -> Path:
        """A folder under the run, e.g. ``output_dir("analysis", "rsa", name)`` (not created)."""
        return self.path.joinpath(*map(str, parts))


def load_encoder(run_dir, which: str = "best", device="cpu"):
    """Rebuild a trained encoder from its run folder.

    Parameters
    ----------
    run_dir : path or RunDirectory
    which : {"best", "last"}
        Checkpoint to load (``best`` falls back to ``last`` when a run has not
        validated yet).
    device : torch device

    Returns
    -------
    model : UniversalBrainEncoder (eval mode)
    config : RunConfig
    """
    run = RunDirectory.of(run_dir)
    config = run.read_config()
    return run.load_encoder(which, device), config

