"""Training configuration (defaults follow the authors' released code, SPEC §2)."""

from __future__ import annotations

from dataclasses import dataclass

from brainembed.config import Config
from brainembed.errors import BrainembedError
from brainembed.validation import check_positive

DEVICES = ("auto", "cpu", "cuda")
SAMPLING = ("images", "subjects")
READOUT_INITS = ("auto", "random", "ridge")
#: ``readout_init="auto"`` starts from ridge below this many distinct training images.
AUTO_RIDGE_MAX_IMAGES = 1000


@dataclass
class TrainConfig(Config):
    """How an encoder is trained.

    Parameters
    ----------
    epochs : int
        Passes over the union of all subjects' training images.
    batch_size : int
        Images per step over all DDP ranks together (32 in the released code).
    voxels_per_image : int
        Voxels sampled with replacement for each image (5000 in the released
        code); used by ``sampling="images"`` only.
    sampling : {"images", "subjects"}
        How a batch is made (:mod:`brainembed.training.sampler`). ``"images"``,
        the released code: images of all subjects mixed, ``voxels_per_image``
        random voxels for each. ``"subjects"``: up to ``batch_size`` images of
        one subject with all of its voxels, so every (image, voxel) pair is
        trained on once per epoch. On the demo crowd (3 epochs, against 4
        with 500 voxels per image) ``"subjects"`` costs 2.6 times as much per
        epoch, reaches validation p75 r 0.468 instead of 0.462, and k-means
        (k = 20) of subjects 1 and 2's embeddings recovers the planted
        category regions far better (ARI 0.26 instead of 0.12): with 500
        random voxels per image each voxel meets too few images to tell its
        category apart.
    lr : float
        Adam learning rate of every trainable weight but the voxel embeddings.
    embedding_lr_mult : float
        The voxel embeddings learn ``lr * embedding_lr_mult``. Default 1, as in
        the released code. A prototype that trained its whole ViT from scratch
        needed 10 (median r 0.30 -> 0.40, SPEC §7). On the demo crowd with
        the shipped pretrained trunk (6 epochs), 1 beats 10: validation p75 r
        0.464 vs 0.460, and k-means (k = 20) of subjects 1 and 2's embeddings
        recovers the planted category regions better (ARI 0.195 vs 0.155).
        The larger rate mostly adds a random walk to embeddings that see a
        voxel only a few hundred times (``analyses/training_defaults.py``
        sweeps 1, 10 and 30).
    weight_decay : float
    amsgrad : bool
    cosine_weight : float
        Weight of the cosine term in the loss (0.1).
    max_shift : int
        Random integer shift augmentation, pixels (3).
    val_fraction : float
        Share of each subject's training images held out for validation (the
        plateau scheduler and the best checkpoint watch it; test images are
        never touched during training).
    plateau_patience, plateau_factor : int, float
        ReduceLROnPlateau on the validation 75th-percentile voxel correlation.
    seed : int
        Everything random (init, batches, voxel draws, shifts, dropout) derives from it.
    device : {"auto", "cpu", "cuda"}
    bf16 : bool
        bfloat16 autocast on CUDA (ignored on CPU).
    compile : bool
        ``torch.compile`` the model (CUDA users; slow to start on CPU).
    checkpoint_every : int
        Also write the ``last`` checkpoint every this many steps (0: only at
        the end of each epoch).
    feature_cache : bool
        Cache the frozen trunk's features (needs a frozen backbone and no adapter).
    predict_chunk : int
        Voxels per chunk when predicting all voxels (validation, evaluation).
    tensorboard : bool
        Also log to TensorBoard (needs the ``tensorboard`` package).
    readout_init : {"auto", "random", "ridge"}
        How the voxel embeddings and the functional readout start. ``"random"``
        (the released code): near zero. ``"ridge"``: the rank-E factorisation
        of per-voxel ridge solutions on the model's own features under
        uniform attention (:mod:`brainembed.training.warm_start`), so training
        starts where a linear model ends; the warm start is validated before
        the first step and is the best checkpoint (epoch 0) unless training
        improves on it. ``"auto"``: ``"ridge"`` when the subjects together
        have fewer than :data:`AUTO_RIDGE_MAX_IMAGES` distinct training images
        and the readout is the linear functional one, else ``"random"``.
        Default ``"random"``, because neither start wins everywhere. The
        near-zero start needs a few hundred steps before the product of
        embeddings and F carries voxel-specific weights: on digit69 (81
        training images, 6 steps an epoch) the training loss stayed at 1.0 for
        10-15 epochs and the encoder's test median r was 0.06 (seed 0),
        against 0.18-0.21 from the warm start. But the warm start gives up the
        spatial attention the random start learns: on the demo crowd (4,660
        images) it validates worse (p75 r 0.416 vs 0.433 after one epoch),
        and single-subject encoders of its simulated subjects (about 350
        training images) lose 0.01-0.04 median r (7T:1 0.482 vs 0.517, 4T:12
        0.342 vs 0.374, seed 1), the 100-image model of 7T:8 0.065.
    """

    epochs: int = 10
    batch_size: int = 32
    voxels_per_image: int = 5000
    sampling: str = "images"
    lr: float = 1e-3
    embedding_lr_mult: float = 1.0
    weight_decay: float = 0.0
    amsgrad: bool = True
    cosine_weight: float = 0.1
    max_shift: int = 3
    val_fraction: float = 0.1
    plateau_patience: int = 4
    plateau_factor: float = 0.1
    seed: int = 0
    device: str = "auto"
    bf16: bool = True
    compile: bool = False
    checkpoint_every: int = 0
    feature_cache: bool = False
    predict_chunk: int = 4096
    tensorboard: bool = False
    readout_init: str = "random"

    def validate(self) -> None:
        for name in ("epochs", "batch_size", "voxels_per_image", "predict_chunk"):
            if int(getattr(self, name)) < 1:
                raise BrainembedError(f"training.{name} must be at least 1, got {getattr(self, name)}.")
        for name in ("lr", "embedding_lr_mult"):
            check_positive(f"training.{name}", getattr(self, name))
        if self.sampling not in SAMPLING:
            raise BrainembedError(f"training.sampling must be one of {', '.join(SAMPLING)}, got {self.sampling!r}.")
        if self.device not in DEVICES and not str(self.device).startswith("cuda:"):
            raise BrainembedError(f"training.device must be one of {', '.join(DEVICES)}, got {self.device!r}.")
        if self.readout_init not in READOUT_INITS:
            raise BrainembedError(f"training.readout_init must be one of {', '.join(READOUT_INITS)}, "
                                  f"got {self.readout_init!r}.")
        if not 0 <= self.val_fraction < 1:
            raise BrainembedError(f"training.val_fraction must be in [0, 1), got {self.val_fraction}.")
        if self.max_shift < 0 or self.checkpoint_every < 0:
            raise BrainembedError("training.max_shift and training.checkpoint_every cannot be negative.")
