"""ViT backbone that returns the tokens of chosen blocks.

:class:`ViTBackbone` runs a timm ``VisionTransformer`` block by block
(patch embedding → position embedding → blocks) so that an adapter can act
after *every* block, and collects CLS + patch tokens (registers dropped) after
the requested blocks. :func:`create_vit` builds the timm model and loads
pretrained weights from a local file or from the local timm / Hugging Face
cache — never from the network.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn

from brainembed.errors import BrainembedError
from brainembed.models.adapter import ResidualAdapter, attach_lora_to_attention_proj
from brainembed.models.dinov2_keys import find_hub_checkpoint, resample_dinov2_pos_embed, to_timm_layout

__all__ = ["ViTBackbone", "create_vit", "find_cached_weights", "load_weights_file"]


def load_weights_file(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict from a ``.safetensors``, ``.pth``, ``.pt`` or ``.bin`` file.

    Pickled files are read with ``torch.load(weights_only=True)``: loading
    never executes code. A checkpoint holding its weights under ``"model"``,
    ``"state_dict"`` or ``"teacher"`` is unwrapped, and the original DINOv2
    (torch hub) key names are mapped to timm's (:mod:`.dinov2_keys`).
    """
    path = Path(path)
    if not path.is_file():
        raise BrainembedError(f"Backbone weights file {str(path)!r} does not exist.")
    try:
        if path.suffix == ".safetensors":
            try:
                from safetensors.torch import load_file
            except ImportError as error:
                raise BrainembedError(
                    f"Reading {str(path)!r} needs the safetensors package (pip install safetensors)."
                ) from error
            state = load_file(str(path), device="cpu")
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except BrainembedError:
        raise
    except Exception as error:  # corrupt file, unsafe pickle, wrong format
        raise BrainembedError(f"Backbone weights file {str(path)!r} could not be read ({error}).") from error
    for key in ("model", "state_dict", "teacher"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise BrainembedError(f"Backbone weights file {str(path)!r} does not hold a state dict of tensors.")
    return to_timm_layout(state)  # original DINOv2 (torch hub) names -> timm names


PACKAGED_PREFIX = "brainembed:"


def packaged_weights_file(name: str) -> Path:
    """Where the package keeps the weights ``name`` (``brainembed/weights/<name>.pt``), present or not."""
    from importlib.resources import files

    return Path(str(files("brainembed") / "weights" / f"{name}.pt"))


def packaged_weights_path(name: str) -> Path:
    """Path of weights shipped with the package (``brainembed/weights/<name>.pt``).

    Raises
    ------
    BrainembedError
        If the file is not there, with the command that reproduces it.
    """
    path = packaged_weights_file(name)
    if not path.is_file():
        raise BrainembedError(f"the packaged weights {name!r} are missing ({path}); reproduce them with "
                              f"`brainembed pretrain --out {path}`.")
    return path


def find_cached_weights(name: str) -> Path | None:
    """Locate the timm weights of model ``name`` in the local caches, offline.

    Looks in the Hugging Face hub cache (``HF_HOME`` / ``HF_HUB_CACHE``) for
    the repository timm downloads from, then in torch hub's
    ``checkpoints`` folder for the file of the model's URL.

    Returns
    -------
    path : Path or None
        The cached weights file, or None when there is none.
    """
    import timm

    cfg = timm.models.get_pretrained_cfg(name)
    if cfg is None:
        return None
    if cfg.hf_hub_id:
        from huggingface_hub import try_to_load_from_cache

        filenames = [cfg.hf_hub_filename] if cfg.hf_hub_filename else []
        filenames += ["model.safetensors", "pytorch_model.bin"]
        for filename in filenames:
            found = try_to_load_from_cache(cfg.hf_hub_id, filename)
            if isinstance(found, str):
                return Path(found)
    if cfg.url:
        candidate = Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(cfg.url).path).name
        if candidate.suffix in (".pth", ".pt", ".bin", ".safetensors") and candidate.is_file():
            return candidate
    return find_hub_checkpoint(name)  # the original DINOv2 weights cached by torch.hub.load


def _missing_weights_message(name: str) -> str:
    import timm

    cfg = timm.models.get_pretrained_cfg(name)
    source = f"https://huggingface.co/{cfg.hf_hub_id}" if cfg is not None and cfg.hf_hub_id else "its timm source"
    return (
        f"No pretrained weights for backbone {name!r} in the local timm/Hugging Face cache: on a machine with "
        f"network run `python -c \"import timm; timm.create_model('{name}', pretrained=True)\"` and copy "
        f"~/.cache/huggingface to this machine, or download model.safetensors from {source} and pass "
        f"--backbone-weights PATH (EncoderConfig.pretrained=PATH)."
    )


def create_vit(name: str, img_size: int, pretrained: bool | str = False, **kwargs) -> nn.Module:
    """Build a timm ViT without its classifier head, optionally with weights.

    Parameters
    ----------
    name : str
        timm model name, e.g. ``"vit_large_patch14_reg4_dinov2.lvd142m"``.
    img_size : int
        Input image side in pixels (position embeddings are resampled to it).
    pretrained : bool or str
        ``False``: random weights. ``"cache"`` or ``True``: weights from the
        local cache (see :func:`find_cached_weights`). ``"brainembed:NAME"``:
        weights shipped inside the package (``brainembed/weights/NAME.pt``).
        Otherwise a path to a weights file (see :func:`load_weights_file`).
    **kwargs
        Passed to ``timm.create_model`` (e.g. ``depth``, ``embed_dim``).

    Returns
    -------
    vit : timm.models.VisionTransformer
    """
    import timm

    from brainembed.models.sim_trunk import register_sim_trunk

    own = name == register_sim_trunk()  # brainembed's own architecture: random init, then the file's weights
    if not timm.is_model(name):
        raise BrainembedError(f"Backbone {name!r} is not a timm model name (see timm.list_models()).")
    options = dict(img_size=img_size, num_classes=0, **kwargs)
    if pretrained is False:
        return _checked_vit(name, timm.create_model(name, pretrained=False, **options))
    if pretrained is True or pretrained == "cache":
        path = find_cached_weights(name)
        if path is None:
            raise BrainembedError(_missing_weights_message(name))
    elif isinstance(pretrained, str) and pretrained.startswith(PACKAGED_PREFIX):
        path = packaged_weights_path(pretrained[len(PACKAGED_PREFIX):])
    else:
        path = Path(pretrained)
    state = load_weights_file(path)
    if "dinov2" in name:  # resample as Meta's DINOv2 does at run time, so the tokens equal the reference's
        patch = int(kwargs.get("patch_size", 14))
        state = resample_dinov2_pos_embed(state, int(img_size) // patch)
    try:
        if own:
            vit = timm.create_model(name, pretrained=False, **options)
            vit.load_state_dict(state, strict=True)
        else:
            vit = timm.create_model(name, pretrained=True, pretrained_cfg_overlay=dict(state_dict=state), **options)
    except RuntimeError as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise BrainembedError(
            f"Backbone weights file {str(path)!r} does not fit backbone {name!r} ({first_line})."
        ) from error
    return _checked_vit(name, vit)


def _checked_vit(name: str, vit: nn.Module) -> nn.Module:
    needed = ("patch_embed", "_pos_embed", "blocks", "num_prefix_tokens")
    if not all(hasattr(vit, attr) for attr in needed):
        raise BrainembedError(
            f"Backbone {name!r} is not a plain timm VisionTransformer (needs patch_embed, _pos_embed, blocks)."
        )
    return vit


class ViTBackbone(nn.Module):
    """Tokens after chosen blocks of a ViT, with an optional adapter.

    Parameters
    ----------
    vit : timm.models.VisionTransformer
        The network; blocks after the last requested one, the final norm and
        the head are removed.
    layers : sequence of int
        1-based indices of the blocks whose output tokens are returned, in
        this order.
    keep_cls : bool
        Keep the CLS token (first of the P tokens) when the ViT has one.
    adapter : {"residual", "lora_proj", "none"}
        Where the trainable low-rank adapters go (see :mod:`.adapter`).
    adapter_rank, adapter_alpha : int, float
        Rank and scale of the adapters.
    freeze : bool
        Freeze the ViT's own weights and keep its modules in eval mode; the
        adapters stay trainable.

    Attributes
    ----------
    n_layers : int
        L, the number of returned blocks.
    n_tokens : int
        P, the number of returned tokens per block (CLS + patches).
    embed_dim : int
        D, the token width.
    """

    def __init__(
        self,
        vit: nn.Module,
        layers: Sequence[int],
        keep_cls: bool = True,
        adapter: str = "residual",
        adapter_rank: int = 7,
        adapter_alpha: float = 0.01,
        freeze: bool = True,
    ) -> None:
        super().__init__()
        depth = len(vit.blocks)
        layers = tuple(int(i) for i in layers)
        if not layers or min(layers) < 1 or max(layers) > depth:
            raise BrainembedError(f"Backbone layers {layers} must be 1-based block indices in 1..{depth}.")
        vit.blocks = vit.blocks[: max(layers)]
        for attr in ("norm", "fc_norm", "head", "head_drop"):
            if isinstance(getattr(vit, attr, None), nn.Module):
                setattr(vit, attr, nn.Identity())
        if getattr(vit, "attn_pool", None) is not None:
            vit.attn_pool = None
        self.vit = vit
        self.layers = layers
        self.frozen = freeze
        if freeze:
            vit.requires_grad_(False)
        self.adapters = None
        if adapter == "residual":
            self.adapters = nn.ModuleList(
                ResidualAdapter(vit.embed_dim, adapter_rank, adapter_alpha) for _ in vit.blocks
            )
        elif adapter == "lora_proj":
            attach_lora_to_attention_proj(vit.blocks, adapter_rank, adapter_alpha)
        elif adapter != "none":
            raise BrainembedError(f"Adapter {adapter!r} is unknown; use 'residual', 'lora_proj' or 'none'.")
        self.adapter = adapter
        self.keep_cls = bool(keep_cls and getattr(vit, "cls_token", None) is not None)
        self.n_layers = len(layers)
        self.n_tokens = int(vit.patch_embed.num_patches) + int(self.keep_cls)
        self.embed_dim = int(vit.embed_dim)
        self.img_size = tuple(vit.patch_embed.img_size)
        if freeze:
            self.train(self.training)

    def train(self, mode: bool = True) -> ViTBackbone:
        """Set train/eval mode; a frozen ViT always stays in eval mode."""
        super().train(mode)
        if self.frozen:
            self.vit.eval()
        return self

    def _keep_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        n_prefix = self.vit.num_prefix_tokens
        if self.keep_cls:
            return torch.cat([tokens[:, :1], tokens[:, n_prefix:]], dim=1)
        return tokens[:, n_prefix:]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Tokens after the chosen blocks.

        Parameters
        ----------
        images : tensor of shape (B, 3, H, W)
            Normalised float images at the backbone's image size.

        Returns
        -------
        tokens : tensor of shape (B, L, P, D)
            CLS (if kept) and patch tokens after each chosen block, registers
            dropped, in the order of ``layers``.
        """
        if images.ndim != 4 or images.shape[1] != 3 or tuple(images.shape[2:]) != self.img_size:
            raise BrainembedError(
                f"images must have shape (B, 3, {self.img_size[0]}, {self.img_size[1]}), "
                f"got {tuple(images.shape)}."
            )
        if not images.is_floating_point():
            raise BrainembedError(
                f"images must be normalised float tensors, got dtype {images.dtype} (use preprocess())."
            )
        vit = self.vit
        x = vit.patch_embed(images)
        x = vit._pos_embed(x)
        x = vit.patch_drop(x)
        x = vit.norm_pre(x)
        collected = {}
        wanted = set(self.layers)
        for index, block in enumerate(vit.blocks, start=1):
            x = block(x)
            if self.adapters is not None:
                x = self.adapters[index - 1](x)
            if index in wanted:
                collected[index] = self._keep_tokens(x)
        return torch.stack([collected[i] for i in self.layers], dim=1)
