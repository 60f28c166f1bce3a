"""The exploring commands under their former home (kept so that ``from brainembed.pipeline.explore import ...`` works).

Each command now lives in a module of its own over shared helpers:

- :mod:`brainembed.pipeline.cluster` — ``brainembed cluster`` (:func:`cluster_run`)
- :mod:`brainembed.pipeline.top_images` — ``brainembed top-images`` (:func:`top_images_run`)
- :mod:`brainembed.pipeline.embed_map` — ``brainembed embed-map`` (:func:`embed_map_run`)
- :mod:`brainembed.pipeline.rsa` — ``brainembed rsa`` (:func:`rsa_run`)
- :mod:`brainembed.pipeline.common` — a run's embeddings, image pools, prediction, logging and figures
"""

from brainembed.pipeline.cluster import cluster_run
from brainembed.pipeline.common import (
    POOLS,
    global_voxel_index,
    image_pool,
    load_embeddings,
    pool_name,
    predict_pool,
    write_pool,
)
from brainembed.pipeline.embed_map import MAP_COLOURS_SPECIAL, embed_map_run
from brainembed.pipeline.rsa import rsa_run
from brainembed.pipeline.top_images import top_images_run

__all__ = ["MAP_COLOURS_SPECIAL", "POOLS", "cluster_run", "embed_map_run", "global_voxel_index", "image_pool",
           "load_embeddings", "pool_name", "predict_pool", "rsa_run", "top_images_run", "write_pool"]
