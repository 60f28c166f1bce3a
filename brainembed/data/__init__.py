"""Data containers, the HDF5 crowd store, readers and preprocessing.

Readers of published formats (NSD, Algonauts, GOD, vim-1, image folders) are in
:mod:`brainembed.data.readers`; noise ceilings and repeat handling in
:mod:`brainembed.data.preprocessing`.
"""

from brainembed.data.containers import Crowd, ImageStore, SubjectData
from brainembed.data.store import CrowdStore, CrowdWriter, check_store_target, load_crowd, save_crowd

__all__ = ["Crowd", "CrowdStore", "CrowdWriter", "ImageStore", "SubjectData", "check_store_target", "load_crowd",
           "save_crowd"]
