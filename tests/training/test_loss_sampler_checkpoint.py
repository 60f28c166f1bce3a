import numpy as np
import pytest
import torch
from scipy.spatial.distance import cosine as scipy_cosine_distance

from brainembed.errors import BrainembedError
from brainembed.training.augment import shift_images
from brainembed.training.checkpoint import load_checkpoint, save_checkpoint
from brainembed.training.config import TrainConfig
from brainembed.training.loss import encoder_loss
from brainembed.training.sampler import CrowdBatchSampler, SubjectBlockSampler, make_sampler, split_validation
from tests.conftest import make_small_crowd


def test_loss_matches_scipy():
    rng = np.random.default_rng(0)
    pred, target = rng.normal(size=(2, 4, 50))
    expected = np.mean((pred - target) ** 2) - 0.1 * np.mean(
        [1 - scipy_cosine_distance(p, t) for p, t in zip(pred, target)])
    got = encoder_loss(torch.tensor(pred), torch.tensor(target), 0.1).item()
    assert got == pytest.approx(expected, rel=1e-5)
    assert encoder_loss(torch.tensor(pred), torch.tensor(target), 0.0).item() == pytest.approx(
        np.mean((pred - target) ** 2), rel=1e-6)


def test_sampler_draws_from_the_subject_that_saw_the_image():
    crowd = make_small_crowd()
    splits = split_validation(crowd, 0.25, seed=0)
    for key, (train, val) in splits.items():
        assert set(train).isdisjoint(val) and set(train) | set(val) == set(crowd.subject(key).rows("train"))
    sampler = CrowdBatchSampler(crowd, {k: v[0] for k, v in splits.items()}, batch_size=3, voxels_per_image=50,
                                seed=1, max_shift=3)
    seen = []
    for step in range(len(sampler)):
        batch = sampler.batch(0, step)
        for ids, vox, tgt in zip(batch.image_ids, batch.voxel_index, batch.targets):
            k = int(np.searchsorted(crowd.offsets, vox[0], side="right") - 1)
            sl = crowd.voxel_slice(crowd.keys[k])
            assert vox.min() >= sl.start and vox.max() < sl.stop
            subject = crowd.subjects[k]
            assert ids in subject.image_ids[splits[subject.key][0]]
            row = int(np.flatnonzero(subject.image_ids == ids)[0])
            np.testing.assert_array_equal(tgt, subject.responses[row, vox - sl.start])
            seen.append(ids)
        assert np.abs(batch.shifts).max() <= 3
    assert len(seen) == sampler.n_items  # one epoch visits every training image once
    # Deterministic, and DDP shares partition the full batch.
    a, b = sampler.batch(0, 1), sampler.batch(0, 1)
    np.testing.assert_array_equal(a.voxel_index, b.voxel_index)
    r0, r1 = sampler.batch(0, 1, rank=0, world_size=2), sampler.batch(0, 1, rank=1, world_size=2)
    np.testing.assert_array_equal(np.sort(np.concatenate([r0.image_ids, r1.image_ids])), np.sort(a.image_ids))
    assert not np.array_equal(sampler.batch(1, 0).image_ids, sampler.batch(0, 0).image_ids) or len(sampler) == 1


def test_subject_blocks_train_every_image_voxel_pair_once_per_epoch():
    crowd = make_small_crowd(n_images=40, n_train=22, n_voxels=(30, 20))
    rows = {k: v[0] for k, v in split_validation(crowd, 0.25, seed=0).items()}
    sampler = SubjectBlockSampler(crowd, rows, batch_size=4, seed=3, max_shift=2)
    assert len(sampler) == sum(-(-r.size // 4) for r in rows.values())
    seen = {key: [] for key in crowd.keys}
    for step in range(len(sampler)):
        batch = sampler.batch(1, step)
        k = int(np.searchsorted(crowd.offsets, batch.voxel_index[0], side="right") - 1)
        subject = crowd.subjects[k]
        sl = crowd.voxel_slice(subject.key)
        np.testing.assert_array_equal(batch.voxel_index, np.arange(sl.start, sl.stop))  # all voxels, shared
        assert 1 <= batch.image_ids.size <= 4 and batch.targets.shape == (batch.image_ids.size, subject.n_voxels)
        row_of = {int(i): r for r, i in enumerate(subject.image_ids)}
        batch_rows = [row_of[int(i)] for i in batch.image_ids]
        np.testing.assert_array_equal(batch.targets, subject.responses[batch_rows])
        assert np.abs(batch.shifts).max() <= 2
        seen[subject.key] += batch_rows
    for key, r in rows.items():  # every training row of every subject exactly once, nothing else
        np.testing.assert_array_equal(np.sort(seen[key]), np.sort(r))
    # A pure function of (seed, epoch, step); DDP ranks share the voxels and split the images.
    again = SubjectBlockSampler(crowd, rows, batch_size=4, seed=3, max_shift=2)
    full = again.batch(1, 2)
    np.testing.assert_array_equal(full.image_ids, sampler.batch(1, 2).image_ids)
    shares = [again.batch(1, 2, rank=r, world_size=2) for r in range(2)]
    np.testing.assert_array_equal(np.sort(np.concatenate([b.image_ids for b in shares])), np.sort(full.image_ids))
    for share in shares:
        np.testing.assert_array_equal(share.voxel_index, full.voxel_index)
    orders = [[tuple(again.batch(e, s).image_ids) for s in range(len(again))] for e in (0, 1)]
    assert orders[0] != orders[1]


def test_make_sampler_follows_the_config_and_refuses_too_many_processes():
    crowd = make_small_crowd(n_images=40, n_train=22, n_voxels=(30, 20))
    rows = {k: v[0] for k, v in split_validation(crowd, 0.25, seed=0).items()}
    assert isinstance(make_sampler(crowd, rows, TrainConfig(batch_size=4)), CrowdBatchSampler)
    blocks = make_sampler(crowd, rows, TrainConfig(batch_size=4, sampling="subjects"), world_size=2)
    assert isinstance(blocks, SubjectBlockSampler) and blocks.smallest_block >= 2
    with pytest.raises(BrainembedError, match="fewer than the 64 processes"):
        make_sampler(crowd, rows, TrainConfig(batch_size=64, sampling="subjects"), world_size=64)
    with pytest.raises(BrainembedError, match="training.sampling must be one of images, subjects"):
        TrainConfig(sampling="voxels").validate()


def test_shift_images_moves_content():
    img = torch.zeros(2, 1, 9, 9)
    img[:, :, 4, 4] = 1
    out = shift_images(img, np.array([[2, -1], [0, 0]]))
    assert out[0, 0, 6, 3] == 1 and out[1, 0, 4, 4] == 1


def test_checkpoint_is_atomic_and_safe(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    save_checkpoint({"w": torch.ones(3), "epoch": 1}, path)

    def broken_save(obj, handle):
        handle.write(b"half a checkpoint")
        raise KeyboardInterrupt  # killed half-way through the write

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint({"w": torch.zeros(3), "epoch": 2}, path)
    monkeypatch.undo()
    state = load_checkpoint(path)
    assert state["epoch"] == 1 and torch.equal(state["w"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temporary file left behind


class _Payload:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_checkpoint_refuses_code(tmp_path):
    evil = tmp_path / "evil.pt"
    torch.save({"x": _Payload()}, evil)
    with pytest.raises(BrainembedError, match="could not be loaded safely"):
        load_checkpoint(evil)
    (tmp_path / "junk.pt").write_bytes(b"\x00" * 10)
    with pytest.raises(BrainembedError, match="could not be loaded safely"):
        load_checkpoint(tmp_path / "junk.pt")
    with pytest.raises(BrainembedError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")
