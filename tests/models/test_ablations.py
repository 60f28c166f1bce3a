"""Component ablations of the voxel head (paper appendix E): ``attention="mean"`` and ``readout="shared"``."""

import itertools

import pytest
import torch

from brainembed.config import EncoderConfig
from brainembed.errors import BrainembedError
from brainembed.models import MeanAttention, ReferenceVoxelHead, SharedReadout, VoxelHead, create_encoder

FEATURES = torch.randn(4, 3, 7, 8, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
INDEX_PER_IMAGE = torch.randint(0, 30, (4, 11), generator=torch.Generator().manual_seed(3))
INDEX_SHARED = torch.randint(0, 30, (11,), generator=torch.Generator().manual_seed(4))
INDICES = pytest.mark.parametrize("voxel_idx", [INDEX_PER_IMAGE, INDEX_SHARED], ids=["per_image", "shared"])

COMBINATIONS = [
    {"attention": attention, "readout": readout, "voxel_bias": bias}
    for attention, readout, bias in itertools.product(("spatial", "mean"), ("linear", "softmax", "shared"),
                                                      (False, True))
]
OPTIONS = pytest.mark.parametrize(
    "options", COMBINATIONS,
    ids=[f"{o['attention']}-{o['readout']}{'-bias' if o['voxel_bias'] else ''}" for o in COMBINATIONS],
)
# Float64 throughout: the fast and literal heads then agree to rounding.
TOLERANCE = {"rtol": 1e-10, "atol": 1e-12}


def _pair(make_head, **options):
    """A float64 fast head in eval mode and its literal reference (random key biases, which softmax ignores)."""
    head = make_head(**options).double().eval()
    reference = ReferenceVoxelHead.from_head(head)
    if reference.key is not None:
        with torch.no_grad():
            for key in reference.key:
                key.bias.normal_()
    return head, reference


def _assert_same_grad(fast, literal):
    if literal is None:
        assert fast is None or not fast.any()
    else:
        torch.testing.assert_close(fast, literal, **TOLERANCE)


@OPTIONS
@INDICES
def test_fast_head_equals_reference_with_gradients(make_head, options, voxel_idx):
    head, reference = _pair(make_head, **options)
    fast, literal = head(FEATURES, voxel_idx), reference(FEATURES, voxel_idx)
    assert literal.abs().max() > 0.1
    torch.testing.assert_close(fast, literal, **TOLERANCE)
    fast.square().sum().backward()
    literal.square().sum().backward()
    _assert_same_grad(head.embeddings.weight.grad, reference.embeddings.grad)
    readout = reference.functional if reference.shared is None else reference.shared
    _assert_same_grad(head.readout.weight.grad, readout.grad)
    _assert_same_grad(head.mlps[1].fc1.weight.grad, reference.mlp[1][0].weight.grad)
    if options["voxel_bias"]:
        _assert_same_grad(head.embeddings.bias.grad, reference.voxel_bias.grad)
    if options["attention"] == "spatial":
        _assert_same_grad(head.attention.positions.grad, reference.pos.grad)
        _assert_same_grad(head.attention.queries[2].weight.grad, reference.query[2].weight.grad)
        _assert_same_grad(head.attention.keys[0].weight.grad, reference.key[0].weight.grad)


@OPTIONS
@INDICES
def test_fast_head_equals_reference_without_gradients(make_head, options, voxel_idx, monkeypatch):
    head, reference = _pair(make_head, **options)
    for name in ("CPU_TILE", "CPU_TILE_THREADED"):  # several voxel and image tiles, ragged ends
        monkeypatch.setattr(VoxelHead, name, (4, 3))
    with torch.no_grad():
        literal = reference(FEATURES, voxel_idx)
        torch.testing.assert_close(head(FEATURES, voxel_idx), literal, **TOLERANCE)
        torch.testing.assert_close(head.predict(FEATURES, voxel_idx, chunk_size=5), literal, **TOLERANCE)
        embeddings = head.embeddings.weight[voxel_idx]
        bias = None if head.embeddings.bias is None else head.embeddings.bias[voxel_idx]
        torch.testing.assert_close(head.forward_embeddings(FEATURES, embeddings, bias), literal, **TOLERANCE)


@OPTIONS
def test_training_mode_without_dropout_equals_reference(make_head, options):
    head, reference = _pair(make_head, mlp_dropout=0.0, **options)
    head.train()
    reference.train()
    for voxel_idx in (INDEX_SHARED, INDEX_PER_IMAGE):
        torch.testing.assert_close(head(FEATURES, voxel_idx), reference(FEATURES, voxel_idx), **TOLERANCE)


@OPTIONS
@pytest.mark.parametrize("voxel_idx", [None, INDEX_PER_IMAGE, INDEX_SHARED], ids=["all", "per_image", "shared"])
def test_chunked_prediction_equals_unchunked(make_head, options, voxel_idx):
    head = make_head(**options).train()
    features = FEATURES.float()
    whole = head.predict(features, voxel_idx, chunk_size=10_000)
    chunked = head.predict(features, voxel_idx, chunk_size=4)
    assert head.training  # predict restores the mode
    assert whole.shape == (4, 30 if voxel_idx is None else 11)
    torch.testing.assert_close(chunked, whole, rtol=1e-6, atol=1e-6)
    if voxel_idx is not None:
        torch.testing.assert_close(whole, head.eval()(features, voxel_idx), rtol=1e-6, atol=1e-6)


@INDICES
def test_gradients_reach_embeddings_through_readout_without_spatial_attention(make_head, voxel_idx):
    head = make_head(attention="mean").train()  # dropout 0.25 active: one MLP pass per (image, voxel)
    assert isinstance(head.attention, MeanAttention) and not list(head.attention.parameters())
    head(FEATURES.float(), voxel_idx).square().sum().backward()
    grad = head.embeddings.weight.grad
    used = torch.unique(voxel_idx)
    assert (grad[used].abs().sum(-1) > 0).all()
    unused = torch.ones(head.n_voxels, dtype=torch.bool)
    unused[used] = False
    assert not grad[unused].any()
    assert head.readout.weight.grad.abs().sum() > 0


@INDICES
def test_gradients_reach_embeddings_through_attention_with_shared_readout(make_head, voxel_idx):
    head = make_head(readout="shared").train()
    assert isinstance(head.readout, SharedReadout) and head.readout.weight.shape == (3 * 8,)
    head(FEATURES.float(), voxel_idx).square().sum().backward()
    assert (head.embeddings.weight.grad[torch.unique(voxel_idx)].abs().sum(-1) > 0).all()
    assert head.readout.weight.grad.abs().sum() > 0
    assert head.attention.positions.grad.abs().sum() > 0
    assert head.attention.queries[0].weight.grad.abs().sum() > 0


def test_mean_attention_with_shared_readout_predicts_alike_for_every_voxel(make_head):
    head = make_head(attention="mean", readout="shared")
    features = FEATURES.float()
    with torch.no_grad():
        prediction = head.eval()(features, INDEX_SHARED)
        assert torch.equal(prediction, prediction[:, :1].expand_as(prediction))
        assert not torch.equal(prediction[0], prediction[1])
        # Dropout draws its own mask per (image, voxel) pair, as in the literal head.
        noisy = head.train()(features, INDEX_SHARED)
        assert not torch.equal(noisy, noisy[:, :1].expand_as(noisy))


def _count(module):
    return sum(p.numel() for p in module.parameters())


def test_parameter_counts_drop_by_the_removed_weights(make_head):
    L, P, C, E = 3, 7, 8, 12
    default = _count(make_head())
    attention_weights = L * (E * E + E) + L * C * E + P * E  # queries with bias, keys without, positions
    assert default - _count(make_head(attention="mean")) == attention_weights
    assert default - _count(make_head(readout="shared")) == E * L * C - L * C
    assert default - _count(make_head(attention="mean", readout="shared")) == attention_weights + (E - 1) * L * C


def test_encoder_parameter_counts_and_state_dict_keys():
    torch.manual_seed(0)
    default = create_encoder("ube_tiny", n_voxels=40)
    mean = create_encoder("ube_tiny", n_voxels=40, attention="mean")
    shared = create_encoder("ube_tiny", n_voxels=40, readout="shared")
    (L, P, C), E = default.feature_shape, default.config.embed_dim
    assert _count(default) - _count(mean) == L * (E * E + E) + L * C * E + P * E
    assert _count(default) - _count(shared) == (E - 1) * L * C
    keys = set(default.state_dict())
    assert {"head.attention.positions", "head.attention.queries.0.weight", "head.attention.keys.1.weight",
            "head.readout.weight"} <= keys  # existing checkpoints keep their names
    assert set(mean.state_dict()) == {k for k in keys if not k.startswith("head.attention.")}
    assert set(shared.state_dict()) == keys and shared.state_dict()["head.readout.weight"].shape == (L * C,)
    with pytest.raises(RuntimeError):  # a default checkpoint does not fit an ablated model
        mean.load_state_dict(default.state_dict())
    images = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    for encoder in (mean, shared):
        assert encoder(images, torch.tensor([0, 5, 39])).shape == (2, 3)
        assert encoder.predict(images).shape == (2, 40)


@pytest.mark.parametrize("field, value", [("attention", "bogus"), ("readout", "bogus")])
def test_unknown_options_are_rejected(field, value):
    with pytest.raises(BrainembedError, match=f"EncoderConfig.{field} must be one of"):
        EncoderConfig(**{field: value}).validate()
    config = EncoderConfig()
    setattr(config, field, value)  # changed after construction: validate() itself catches it
    with pytest.raises(BrainembedError, match=field):
        config.validate()
    with pytest.raises(BrainembedError, match=field):
        VoxelHead(3, 7, 8, 12, 30, **{field: value})
    with pytest.raises(BrainembedError, match=field):
        ReferenceVoxelHead(3, 7, 8, 12, 30, **{field: value})


def test_config_yaml_round_trip_keeps_the_options(tmp_path):
    config = EncoderConfig(n_voxels=12, attention="mean", readout="shared")
    loaded = EncoderConfig.load_yaml(config.save_yaml(tmp_path / "encoder.yaml"))
    assert loaded == config and (loaded.attention, loaded.readout) == ("mean", "shared")
    old = EncoderConfig(n_voxels=12).to_dict()
    del old["attention"]  # a configuration saved before the option existed
    assert EncoderConfig.from_dict(old).attention == "spatial"
    assert EncoderConfig().attention == "spatial" and EncoderConfig().readout == "linear"
