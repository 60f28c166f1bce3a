"""Readers for real image–fMRI datasets, each tested on files written in the published layout.

=============  ==============================================  =====================================
format         source                                          reader
=============  ==============================================  =====================================
``algonauts``  Algonauts 2023 subject folder(s) (NSD, fsaverage) :func:`~.algonauts.read_algonauts`
``nsd``        NSD native release (betas, design, imgBrick)      :func:`~.nsd.read_nsd`
``god``        Generic Object Decoding BData HDF5 + image folder :func:`~.god.read_god`
``vim1``       vim-1 ``EstimatedResponses.mat`` + ``Stimuli.mat`` :func:`~.vim1.read_vim1`
``digits``     handwritten-digit fMRI ``.mat`` (digit69)         :func:`~.digits.read_digits`
``nod``        Natural Object Dataset CIFTI fsLR-32k run betas   :func:`~.nod.read_nod`
``mosaic``     MOSAIC per-subject HDF5 + train/test split JSON   :func:`~.mosaic.read_mosaic`
=============  ==============================================  =====================================

:func:`read_dataset` loads a dataset into a :class:`~brainembed.data.Crowd`;
:func:`open_dataset` opens it lazily as a :class:`DatasetSource` whose
responses and images are read block by block (what ``brainembed import``
streams into a store). :func:`read_image_folder` reads any folder of images.

Every problem with the input files raises :class:`~brainembed.errors.BrainembedError`
with one sentence naming the file or variable at fault. Nothing heavy is
imported until a reader runs.
"""

from __future__ import annotations

from importlib import import_module

from brainembed.data.readers._base import DatasetSource, ImageSource, SubjectSource
from brainembed.errors import BrainembedError

__all__ = ["FORMATS", "DatasetSource", "ImageSource", "SubjectSource", "open_dataset", "read_dataset",
           "read_image_folder"]

#: format name -> (module, open function)
FORMATS = {
    "algonauts": ("brainembed.data.readers.algonauts", "open_algonauts"),
    "nsd": ("brainembed.data.readers.nsd", "open_nsd"),
    "god": ("brainembed.data.readers.god", "open_god"),
    "vim1": ("brainembed.data.readers.vim1", "open_vim1"),
    "digits": ("brainembed.data.readers.digits", "open_digits"),
    "nod": ("brainembed.data.readers.nod", "open_nod"),
    "mosaic": ("brainembed.data.readers.mosaic", "open_mosaic"),
}


def open_dataset(format: str, src, **kwargs) -> DatasetSource:
    """Open a dataset lazily.

    Parameters
    ----------
    format : {"algonauts", "nsd", "god", "vim1", "digits", "nod", "mosaic"}
    src : path
        Where the dataset lies (see each reader).
    **kwargs
        Options of the format's reader (e.g. ``subjects``, ``images`` for GOD).

    Returns
    -------
    DatasetSource
        Close it (or use ``with``) to release files.
    """
    if format not in FORMATS:
        raise BrainembedError(f"unknown dataset format {format!r}; use one of {', '.join(FORMATS)}.")
    module, name = FORMATS[format]
    opener = getattr(import_module(module), name)
    try:
        return opener(src, **kwargs)
    except TypeError as err:
        if "unexpected keyword argument" in str(err):
            raise BrainembedError(f"format {format!r} does not take that option ({err}).") from None
        raise


def read_dataset(format: str, src, **kwargs):
    """Read a whole dataset into a :class:`~brainembed.data.Crowd` (see :func:`open_dataset`).

    Examples
    --------
    >>> crowd = read_dataset("digits", "digit69_28x28.mat")            # doctest: +SKIP
    >>> crowd.subject("1").responses.shape                              # doctest: +SKIP
    (100, 3092)
    """
    with open_dataset(format, src, **kwargs) as source:
        return source.to_crowd()


def read_image_folder(folder, **kwargs):
    """Read a folder of images into an :class:`~brainembed.data.ImageStore`; see :mod:`.images`."""
    from brainembed.data.readers.images import read_image_folder as read

    return read(folder, **kwargs)
