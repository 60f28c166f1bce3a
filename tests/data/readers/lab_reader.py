"""An example reader for a lab's own layout, the one ``docs/bring_your_own.rst`` shows and the tests register.

Layout of ``src``::

    images.npz      ids (n_images,) int, pixels (n_images, H, W, 3) uint8, coco_ids (n_images,) int
    sub-<name>.npz  responses (n_rows, n_voxels) float, image_ids (n_rows,) int, split (n_rows,) str,
                    hemi (n_voxels,) str, roi (n_voxels,) str
"""

from pathlib import Path

import numpy as np
import pandas as pd

from brainembed.data.readers._base import (
    COCO,
    DatasetSource,
    SubjectSource,
    array_image_source,
    check_finite_columns,
    image_keys,
    require_dir,
    require_file,
)
from brainembed.errors import BrainembedError


def open_lab(src, *, subjects=None, roi=None, dataset="LAB", image_size=None) -> DatasetSource:
    """Open the lab's subjects lazily (all ``sub-*.npz``, or those named in ``subjects``)."""
    root = require_dir(Path(src), "the lab's dataset folder")
    with np.load(require_file(root / "images.npz")) as f:
        ids, pixels, coco = f["ids"], f["pixels"], f["coco_ids"]
    metadata = pd.DataFrame({"dataset": dataset, "image_key": image_keys(COCO, coco)})  # shared COCO identity
    images = array_image_source(ids, pixels, image_size, metadata, where=str(root / "images.npz"))
    files = sorted(root.glob("sub-*.npz")) if subjects is None else \
        [require_file(root / f"sub-{s}.npz") for s in subjects]
    sources = []
    for path in files:
        with np.load(path) as f:
            responses, voxels = f["responses"].astype(np.float32), pd.DataFrame({"hemi": f["hemi"], "roi": f["roi"]})
            image_ids, split = f["image_ids"], f["split"]
        check_finite_columns(responses, str(path))
        if roi is not None:
            keep = (voxels["roi"] == roi).to_numpy()
            if not keep.any():
                raise BrainembedError(f"{path} has no voxel in ROI {roi!r}.")
            responses, voxels = responses[:, keep], voxels[keep]
        sources.append(SubjectSource(dataset, path.stem.removeprefix("sub-"), image_ids, split, voxels,
                                     lambda a, b, r=responses: (r[a:b], None), field_strength=3.0))
    return DatasetSource(sources, images, {"source": "lab", "src": str(root)})


def write_lab(root, coco_ids, subjects, *, pixels=None, n_voxels=6, seed=0) -> dict:
    """Write the layout above (test fixture): ``subjects`` maps a name to (image positions, split)."""
    rng = np.random.default_rng(seed)
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    n = len(coco_ids)
    if pixels is None:
        pixels = rng.integers(0, 255, (n, 10, 10, 3), dtype=np.uint8)
    ids = np.arange(500, 500 + n)
    np.savez(root / "images.npz", ids=ids, pixels=pixels, coco_ids=np.asarray(coco_ids))
    truth = {"ids": ids, "pixels": pixels}
    for name, (positions, split) in subjects.items():
        responses = rng.normal(size=(len(positions), n_voxels))
        np.savez(root / f"sub-{name}.npz", responses=responses, image_ids=ids[positions], split=np.array(split),
                 hemi=np.array(["lh", "rh"] * (n_voxels // 2)), roi=np.array(["V1", "FFA"] * (n_voxels // 2)))
        truth[name] = responses
    return truth
