import numpy as np
import pandas as pd
import pytest
import torch

from brainembed.errors import BrainembedError
from brainembed.models import create_encoder
from brainembed.training.config import TrainConfig
from brainembed.training.feature_cache import build_feature_cache, cache_level, compute_features
from brainembed.training.loop import train_encoder
from brainembed.training.predict import predict_subject
from tests.conftest import make_small_crowd


@pytest.fixture(scope="module")
def crowd():
    return make_small_crowd(n_images=30, n_voxels=(25, 15), n_train=16, n_test=6)


def _model(n_voxels, **kw):
    torch.manual_seed(0)
    return create_encoder("ube_tiny", n_voxels=n_voxels, adapter="none", mlp_dropout=0.0, **kw)


def test_cache_matches_direct_features_and_is_keyed_by_weights(crowd, tmp_path):
    model = _model(crowd.n_voxels)
    assert cache_level(model) == "backbone"
    ids = crowd.images.ids[:7]
    cache = build_feature_cache(model, crowd.images, ids, tmp_path)
    direct = model.forward_backbone(model.preprocess(crowd.images.get(ids[[3, 1]]))).detach()
    # float16 storage: relative error below 1e-3 of the feature scale
    assert torch.allclose(cache.get(ids[[3, 1]]), direct, atol=1e-3 * direct.abs().max().item())
    again = build_feature_cache(model, crowd.images, ids[:3], tmp_path)
    assert again.path == cache.path  # reused
    with torch.no_grad():
        model.backbone.vit.blocks[0].mlp.fc1.weight.add_(0.1)
    changed = build_feature_cache(model, crowd.images, ids, tmp_path)
    assert changed.path != cache.path  # different weights -> different file, the stale one is never read
    with pytest.raises(BrainembedError, match="not in the feature cache"):
        cache.get([999999])
    trainable = create_encoder("ube_tiny", n_voxels=5, freeze_backbone=False)
    with pytest.raises(BrainembedError, match="frozen backbone"):
        cache_level(trainable)


def test_predictions_with_and_without_cache_agree(crowd, tmp_path):
    model = _model(crowd.n_voxels)
    key = crowd.keys[0]
    cache = build_feature_cache(model, crowd.images, crowd.images.ids, tmp_path)
    plain = predict_subject(model, crowd, key)
    cached = predict_subject(model, crowd, key, cache=cache)
    # Stated tolerance: float16 features change predictions by < 1 % of their spread.
    assert np.abs(plain - cached).max() < 0.01 * plain.std()
    assert np.allclose(compute_features(model, crowd.images.get(crowd.images.ids[:2]), "trunk").shape[1:],
                       model.feature_shape)


def test_training_with_cache_follows_training_without(crowd, tmp_path):
    enc = _model(crowd.n_voxels).config
    cfg = TrainConfig(epochs=2, batch_size=4, voxels_per_image=20, device="cpu", max_shift=0, val_fraction=0.2)
    train_encoder(crowd, tmp_path / "plain", encoder=enc, training=cfg, progress=False)
    train_encoder(crowd, tmp_path / "cached", encoder=enc, training=cfg.replace(feature_cache=True), progress=False)
    plain = pd.read_csv(tmp_path / "plain" / "steps.csv")["loss"].to_numpy()
    cached = pd.read_csv(tmp_path / "cached" / "steps.csv")["loss"].to_numpy()
    np.testing.assert_allclose(cached, plain, rtol=2e-3)
    assert list((tmp_path / "cached" / "feature_cache").glob("backbone-*.h5"))


def test_predict_subject_refuses_a_crowd_other_than_the_models(crowd):
    from brainembed.errors import BrainembedError

    model = _model(crowd.n_voxels)
    key = crowd.keys[1]
    alone = crowd.select([key])
    with pytest.raises(BrainembedError, match="embedding table"):
        predict_subject(model, alone, key)
    with pytest.raises(BrainembedError, match="outside"):
        predict_subject(model, alone, key, voxel_offset=crowd.n_voxels - 1)
    offset = crowd.voxel_slice(key).start
    assert np.array_equal(predict_subject(model, alone, key, voxel_offset=offset), predict_subject(model, crowd, key))
