"""Data containers, the HDF5 crowd store, readers and preprocessing.

Readers of published formats are registered in :mod:`brainembed.data.readers`;
noise ceilings and repeat handling are in :mod:`brainembed.data.preprocessing`;
the split rule of a crowd of datasets (no image trained on for one subject and
tested for another) in :mod:`brainembed.data.splits`.
"""

from brainembed.data.containers import Crowd, ImageStore, SubjectData
from brainembed.data.splits import check_no_leakage
from brainembed.data.store import CrowdStore, CrowdWriter, check_store_target, load_crowd, save_crowd

__all__ = ["Crowd", "CrowdStore", "CrowdWriter", "ImageStore", "SubjectData", "check_no_leakage",
           "check_store_target", "load_crowd", "save_crowd"]
