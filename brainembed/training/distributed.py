"""Multi-GPU and multi-node training through torchrun and DistributedDataParallel.

Launch with ``torchrun --nproc_per_node N -m brainembed train ...``: torchrun
sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``; :func:`init_distributed`
reads them and joins the process group (NCCL on CUDA, gloo on CPU).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class DistributedContext:
    """Where this process stands in a (possibly single-process) run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    initialised_here: bool = False

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def mean(self, value: float) -> float:
        """Average a Python number over ranks (identity in a single process)."""
        if not self.enabled:
            return float(value)
        tensor = torch.tensor([float(value)], dtype=torch.float64)
        if dist.get_backend() == "nccl":
            tensor = tensor.cuda()
        dist.all_reduce(tensor)
        return float(tensor.item()) / self.world_size

    def close(self) -> None:
        if self.initialised_here and dist.is_initialized():
            dist.destroy_process_group()


def init_distributed(device: str = "auto") -> DistributedContext:
    """Join the process group described by torchrun's environment, if any.

    Parameters
    ----------
    device : str
        The training device setting; ``"cpu"`` forces the gloo backend.

    Returns
    -------
    DistributedContext
        ``world_size == 1`` when not launched by torchrun.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistributedContext()
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    initialised_here = False
    if not dist.is_initialized():
        use_nccl = device != "cpu" and torch.cuda.is_available()
        if use_nccl:
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend="nccl" if use_nccl else "gloo")
        initialised_here = True
    return DistributedContext(rank, world_size, local_rank, initialised_here)


def resolve_device(setting="auto", context: DistributedContext | None = None) -> torch.device:
    """The torch device a run or a command asked for.

    Parameters
    ----------
    setting : str, default="auto"
        ``auto`` (CUDA when visible, else CPU), ``cpu``, ``cuda`` or ``cuda:N``.
    context : DistributedContext, optional
        Under DDP, plain ``cuda`` means this process's GPU.

    Returns
    -------
    torch.device
    """
    from brainembed.errors import BrainembedError

    setting = str(setting or "auto")
    if setting == "auto":
        setting = "cuda" if torch.cuda.is_available() else "cpu"
    if setting.startswith("cuda"):
        if not torch.cuda.is_available():
            raise BrainembedError(f"device {setting!r} was requested but no CUDA GPU is visible; use --device cpu.")
        if setting == "cuda" and context is not None:
            return torch.device("cuda", context.local_rank if context.enabled else torch.cuda.current_device())
    try:
        return torch.device(setting)
    except RuntimeError:
        raise BrainembedError(f"unknown device {setting!r}; use auto, cpu, cuda or cuda:N.") from None
