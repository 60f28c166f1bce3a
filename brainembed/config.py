"""Dataclass configurations with YAML in/out.

Every configuration is a plain dataclass deriving from :class:`Config`, which
gives it ``to_dict``/``from_dict`` (unknown keys are rejected) and
``save_yaml``/``load_yaml``. Nothing here holds global state: a run saves its
resolved configuration next to its outputs and rebuilds everything from it.

Layout of this module:

1. the generic mechanism (:class:`Config`);
2. model configuration (:class:`EncoderConfig`);
3. training configurations (added below the model section).
"""

from __future__ import annotations

import dataclasses
import numbers
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from brainembed.errors import BrainembedError
from brainembed.validation import check_count, is_integer

__all__ = ["Config", "EncoderConfig", "IMAGENET_MEAN", "IMAGENET_STD"]


# ---------------------------------------------------------------------------
# 1. Generic mechanism
# ---------------------------------------------------------------------------


def _tuple_hint(hint: Any) -> bool:
    """Whether a resolved type hint is (or may be) a tuple."""
    if typing.get_origin(hint) is tuple or hint is tuple:
        return True
    if typing.get_origin(hint) in (Union, types.UnionType):
        return any(_tuple_hint(arg) for arg in typing.get_args(hint))
    return False


def _config_hint(hint: Any) -> type | None:
    """The :class:`Config` subclass a resolved type hint names, if any."""
    if isinstance(hint, type) and issubclass(hint, Config):
        return hint
    if typing.get_origin(hint) in (Union, types.UnionType):
        for arg in typing.get_args(hint):
            if isinstance(arg, type) and issubclass(arg, Config):
                return arg
    return None


def _plain(value: Any) -> Any:
    """Convert a value to YAML-safe builtins (tuples become lists)."""
    if isinstance(value, Config):
        return value.to_dict()
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, Path):
        return str(value)
    return value


_NO_MATCH = object()


def _as_type(hint: Any, value: Any) -> Any:
    """``value`` as the simple type ``hint`` (bool, int, float, str), or ``_NO_MATCH``.

    Numbers written as strings (YAML 1.1 reads ``1e-3`` as a string) and
    integral floats for integer fields are accepted; booleans are never numbers.
    """
    if hint is bool:
        return value if isinstance(value, bool) else _NO_MATCH
    if hint is str:
        return value if isinstance(value, str) else _NO_MATCH
    if hint not in (int, float) or isinstance(value, bool):
        return _NO_MATCH
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return _NO_MATCH
    if hint is int:
        if isinstance(value, numbers.Integral):
            return int(value)
        if isinstance(value, numbers.Real) and float(value).is_integer():
            return int(value)
        return _NO_MATCH
    return float(value) if isinstance(value, numbers.Real) else _NO_MATCH


def _checked(owner: str, name: str, hint: Any, value: Any) -> Any:
    """Check (and coerce) one field value against its type hint; raise a clear error if it does not fit."""
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    if hint in names:
        result = _as_type(hint, value)
        if result is _NO_MATCH:
            raise BrainembedError(f"{owner}.{name} must be {names[hint]}, got {value!r}.")
        return result
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType) and all(arg in names for arg in args):
        for arg in args:
            result = _as_type(arg, value)
            if result is not _NO_MATCH:
                return result
        raise BrainembedError(f"{owner}.{name} must be {' or '.join(names[a] for a in args)}, got {value!r}.")
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis and args[0] in names:
        if not isinstance(value, tuple):
            raise BrainembedError(f"{owner}.{name} must be a list of {names[args[0]].split(' ', 1)[-1]}s, "
                                  f"got {value!r}.")
        return tuple(_checked(owner, f"{name}[{i}]", args[0], item) for i, item in enumerate(value))
    if hint is dict and not isinstance(value, dict):
        raise BrainembedError(f"{owner}.{name} must be a mapping, got {value!r}.")
    return value


@dataclass
class Config:
    """Base class of every configuration: dict and YAML round trips.

    Subclasses are dataclasses whose fields hold builtins (numbers, strings,
    booleans, ``None``, tuples, dicts) or other :class:`Config` instances.
    Values are checked against the fields' type hints when an instance is
    created (lists given for tuple fields become tuples, numbers given as
    strings become numbers; a value of the wrong type is a
    :class:`BrainembedError` naming the field), then :meth:`validate`, which
    subclasses may override to check values, runs.
    """

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        owner = type(self).__name__
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if _tuple_hint(hints[f.name]) and isinstance(value, list):
                value = tuple(value)
            setattr(self, f.name, _checked(owner, f.name, hints[f.name], value))
        self.validate()

    def to_dict(self) -> dict[str, Any]:
        """Return the configuration as a dict of YAML-safe builtins."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Config:
        """Build a configuration from a dict, rejecting unknown keys.

        Parameters
        ----------
        data : dict
            Field values; missing fields keep their defaults. Lists are turned
            back into tuples for tuple fields and nested dicts into nested
            configurations.

        Returns
        -------
        config : Config
            An instance of ``cls``, validated.
        """
        if not isinstance(data, dict):
            raise BrainembedError(
                f"{cls.__name__} expects a mapping of field names to values, got {type(data).__name__}."
            )
        hints = typing.get_type_hints(cls)
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise BrainembedError(
                f"{cls.__name__} has no field(s) {', '.join(map(repr, unknown))}; "
                f"known fields are {', '.join(sorted(names))}."
            )
        values = {}
        for name, value in data.items():
            hint = hints[name]
            nested = _config_hint(hint)
            if nested is not None and isinstance(value, dict):
                value = nested.from_dict(value)
            elif _tuple_hint(hint) and isinstance(value, list):
                value = tuple(value)
            values[name] = value
        return cls(**values)

    def validate(self) -> None:
        """Check field values; raise :class:`BrainembedError` on a bad one."""

    def replace(self, **changes: Any) -> Config:
        """Return a validated copy with some fields changed (unknown names rejected)."""
        data = self.to_dict()
        data.update({key: _plain(value) for key, value in changes.items()})
        return type(self).from_dict(data)

    def save_yaml(self, path: str | Path) -> Path:
        """Write the configuration to a YAML file and return its path."""
        import yaml

        path = Path(path)
        path.write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))
        return path

    @classmethod
    def load_yaml(cls, path: str | Path) -> Config:
        """Read a configuration written by :meth:`save_yaml`."""
        import yaml

        path = Path(path)
        if not path.is_file():
            raise BrainembedError(f"Config file {str(path)!r} does not exist.")
        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError as error:
            raise BrainembedError(f"Config file {str(path)!r} is not valid YAML ({error}).") from error
        return cls.from_dict({} if data is None else data)


# ---------------------------------------------------------------------------
# 2. Model
# ---------------------------------------------------------------------------

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

ADAPTERS = ("residual", "lora_proj", "none")
ATTENTIONS = ("spatial", "mean")
ATTENTION_SCALES = ("none", "sqrt")
READOUTS = ("linear", "softmax", "shared")


@dataclass
class EncoderConfig(Config):
    """Every hyper-parameter of :class:`~brainembed.models.UniversalBrainEncoder`.

    Defaults follow the authors' released code (SPEC §1): DINOv2 ViT-L/14 with
    registers at 224 px, features after blocks 1, 6, 12, 18, 24, frozen, a
    residual low-rank adapter after every block, C = 128, E = 256.

    Parameters
    ----------
    backbone : str
        timm model name of the ViT backbone.
    pretrained : bool or str
        ``False``: random initialisation. ``"cache"`` (or ``True``): the timm
        weights from the local Hugging Face / torch hub cache, never the
        network. Any other string: a local ``.pth``/``.pt``/``.safetensors``
        file with the backbone's state dict.
    img_size : int
        Side of the square input image in pixels.
    backbone_kwargs : dict
        Extra keyword arguments for ``timm.create_model`` (e.g. ``depth``,
        ``embed_dim``, ``num_heads``, ``patch_size`` for small models).
    layers : tuple of int
        1-based indices of the backbone blocks whose outputs are used (L of them).
    freeze_backbone : bool
        Keep the backbone's own weights fixed and in eval mode.
    keep_cls : bool
        Keep the CLS token beside the patch tokens (P = 1 + patches).
    adapter : {"residual", "lora_proj", "none"}
        ``"residual"``: ``x + A(B(x)) * alpha / r`` after every block (released
        code); ``"lora_proj"``: LoRA on each block's attention output
        projection (paper text); ``"none"``.
    adapter_rank, adapter_alpha : int, float
        Rank r and scale alpha of the adapter.
    proj_dim : int
        C, the width of the projected per-layer features.
    embed_dim : int
        E, the width of a voxel embedding.
    n_voxels : int
        Total number of voxels of all subjects (rows of the embedding table).
    embedding_init_std : float
        Standard deviation of the normal initialisation of voxel embeddings.
    attention : {"spatial", "mean"}
        ``"spatial"``: each voxel attends over the P tokens of every layer
        with its own query (SPEC §1.4, released code). ``"mean"``: the
        ablation without spatial attention (paper appendix E): every voxel
        gets the uniform average of a layer's P tokens, ``mean_P x_l``, the
        same for all voxels; the query and key weights and the positional
        embedding are not created, and voxels differ only through the
        readout.
    attention_scale : {"none", "sqrt"}
        Spatial-attention logits unscaled (released code) or divided by sqrt(E).
        Ignored with ``attention="mean"``.
    readout : {"linear", "softmax", "shared"}
        ``"linear"``: functional readout weights ``w = e·F`` used as they are
        (released code); ``"softmax"``: passed through a softmax over the
        L·C features (paper text). ``"shared"``: the ablation without the
        functional readout (paper appendix E; the paper does not detail it,
        this is our definition): one learned weight vector of length L·C, the
        same for every voxel, replaces ``e·F`` (no F, no softmax, nothing
        else); voxels then differ only through the spatial attention (and
        the optional per-voxel bias).
    readout_init_std : float
        Standard deviation of the functional-readout matrix F (or of the
        shared readout vector) at initialisation; near zero so that the first
        predictions are near zero and the first loss is near the variance of
        z-scored targets.
    voxel_bias : bool
        Learn one additive bias per voxel. Off by default: SPEC §1 keeps
        everything per-voxel in the embedding, and responses are z-scored per
        voxel so a bias has little to learn.
    mlp_dropout : float
        Dropout after the per-layer LayerNorm of the voxel head.
    mlp_ratio : int
        Hidden width of the per-layer MLP as a multiple of C.
    image_mean, image_std : tuple of float
        Per-channel normalisation of input images in [0, 1].
    chunk_size : int
        Number of voxels per chunk at inference (bounds peak memory).
    """

    backbone: str = "vit_large_patch14_reg4_dinov2.lvd142m"
    pretrained: bool | str = False
    img_size: int = 224
    backbone_kwargs: dict = field(default_factory=dict)
    layers: tuple[int, ...] = (1, 6, 12, 18, 24)
    freeze_backbone: bool = True
    keep_cls: bool = True
    adapter: str = "residual"
    adapter_rank: int = 7
    adapter_alpha: float = 0.01
    proj_dim: int = 128
    embed_dim: int = 256
    n_voxels: int = 0
    embedding_init_std: float = 0.1 / (2 * 16)
    attention: str = "spatial"
    attention_scale: str = "none"
    readout: str = "linear"
    readout_init_std: float = 1e-3
    voxel_bias: bool = False
    mlp_dropout: float = 0.25
    mlp_ratio: int = 4
    image_mean: tuple[float, ...] = IMAGENET_MEAN
    image_std: tuple[float, ...] = IMAGENET_STD
    chunk_size: int = 4096

    def validate(self) -> None:
        """Check every field; raise :class:`BrainembedError` naming the bad one."""
        choices = {"adapter": ADAPTERS, "attention": ATTENTIONS, "attention_scale": ATTENTION_SCALES,
                   "readout": READOUTS}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise BrainembedError(
                    f"EncoderConfig.{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}."
                )
        if not isinstance(self.pretrained, (bool, str)) or self.pretrained == "":
            raise BrainembedError(
                f"EncoderConfig.pretrained must be False, 'cache' or a weights file path, got {self.pretrained!r}."
            )
        for name in ("img_size", "adapter_rank", "proj_dim", "embed_dim", "mlp_ratio", "chunk_size"):
            value = getattr(self, name)
            check_count(f"EncoderConfig.{name}", value)
        check_count("EncoderConfig.n_voxels", self.n_voxels, 0)
        layers = tuple(self.layers)
        if (not layers or any(not is_integer(i) or i < 1 for i in layers)
                or len(set(layers)) != len(layers)):
            raise BrainembedError(
                f"EncoderConfig.layers must be distinct 1-based block indices, got {self.layers!r}."
            )
        if not 0.0 <= float(self.mlp_dropout) < 1.0:
            raise BrainembedError(f"EncoderConfig.mlp_dropout must be in [0, 1), got {self.mlp_dropout!r}.")
        for name in ("embedding_init_std", "readout_init_std"):
            if float(getattr(self, name)) < 0:
                raise BrainembedError(f"EncoderConfig.{name} must be non-negative, got {getattr(self, name)!r}.")
        for name in ("image_mean", "image_std"):
            if len(getattr(self, name)) != 3:
                raise BrainembedError(f"EncoderConfig.{name} must hold 3 values (RGB), got {getattr(self, name)!r}.")
        if any(float(s) <= 0 for s in self.image_std):
            raise BrainembedError(f"EncoderConfig.image_std must be positive, got {self.image_std!r}.")
        if not isinstance(self.backbone_kwargs, dict):
            raise BrainembedError(
                f"EncoderConfig.backbone_kwargs must be a mapping, got {type(self.backbone_kwargs).__name__}."
            )


# ---------------------------------------------------------------------------
# 3. Training (below)
# ---------------------------------------------------------------------------
