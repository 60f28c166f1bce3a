"""Readers for real image–fMRI datasets, each tested on files written in the published layout.

Every format is registered once, with :func:`register_format`, in this module;
the table below, ``brainembed import --format`` (its choices, its help and its
reader flags) and :func:`brainembed.pipeline.ingest.import_dataset` all come
from that registry, :data:`FORMATS` (format name -> :class:`FormatSpec`).

:func:`read_dataset` loads a dataset into a :class:`~brainembed.data.Crowd`;
:func:`open_dataset` opens it lazily as a :class:`DatasetSource` whose
responses and images are read block by block (what ``brainembed import``
streams into a store). :func:`read_image_folder` reads any folder of images.

Every problem with the input files raises :class:`~brainembed.errors.BrainembedError`
with one sentence naming the file or variable at fault. Nothing heavy is
imported until a reader runs.

Registered formats
------------------
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from types import MappingProxyType

from brainembed.data.readers._base import DatasetSource, ImageSource, SubjectSource
from brainembed.errors import BrainembedError

__all__ = ["COMMON_OPTIONS", "FORMATS", "OPTION_KINDS", "SUBJECT_MODES", "DatasetSource", "FormatSpec",
           "ImageSource", "ReaderOption", "SubjectSource", "format_spec", "open_dataset", "read_dataset",
           "read_image_folder", "register_format"]

#: How a reader selects subjects (:attr:`FormatSpec.subjects`):
#: ``"many"``: ``subjects=[...]`` opens several at once (default: all the source holds);
#: ``"one"``: ``subject=`` opens one, so an import opens the source once per subject named;
#: ``"single"``: the source holds one subject, which ``subject=`` names.
SUBJECT_MODES = ("many", "one", "single")

#: How the command line reads a reader option (:attr:`ReaderOption.kind`):
#: ``text``, ``path``, ``positive_int``, ``positive_ints`` (one or more),
#: ``ids_or_path`` (comma-separated integers or a file) and ``switch_off``
#: (a flag ``--no-NAME`` that passes ``NAME=False``).
OPTION_KINDS = ("text", "path", "positive_int", "positive_ints", "ids_or_path", "switch_off")


@dataclass(frozen=True)
class ReaderOption:
    """A keyword of a reader's opener that the command line exposes as a flag.

    Parameters
    ----------
    keyword : str
        The opener's keyword argument, e.g. ``"snr_top_k"``.
    help : str
        What it does for this format (shown after the format's name in ``--help``).
    kind : str
        One of :data:`OPTION_KINDS`.
    """

    keyword: str
    help: str
    kind: str = "text"

    def __post_init__(self):
        if self.kind not in OPTION_KINDS:
            raise ValueError(f"option kind {self.kind!r} is not one of {', '.join(OPTION_KINDS)}")
        if not self.keyword.isidentifier():
            raise ValueError(f"option keyword {self.keyword!r} is not a Python identifier")

    @property
    def flag(self) -> str:
        """The command-line flag: ``--snr-top-k``, or ``--no-zscore`` for a ``switch_off`` option."""
        name = self.keyword.replace("_", "-")
        return f"--no-{name}" if self.kind == "switch_off" else f"--{name}"


#: Options every opener takes (the reader contract), exposed for every format.
COMMON_OPTIONS = (
    ReaderOption("image_size", "store images at this square side (default: native size up to 256 px, else 224)",
                 "positive_int"),
    ReaderOption("dataset", "dataset name in the store (default per format)", "text"),
)


@dataclass(frozen=True)
class FormatSpec:
    """One registered dataset format.

    Parameters
    ----------
    name : str
        ``--format`` value.
    module, opener : str
        ``getattr(import_module(module), opener)(src, **options)`` opens a
        :class:`DatasetSource` (imported only when a dataset is opened).
    description : str
        One line: what the source is (shown in ``--help`` and the table above).
    subjects : str
        How subjects are selected, one of :data:`SUBJECT_MODES`.
    options : tuple of ReaderOption
        Reader keywords the command line exposes, besides :data:`COMMON_OPTIONS`.
    """

    name: str
    module: str
    opener: str
    description: str
    subjects: str = "many"
    options: tuple = ()

    @property
    def cli_options(self) -> tuple:
        """:data:`COMMON_OPTIONS` followed by the format's own options."""
        return COMMON_OPTIONS + tuple(self.options)

    def open_function(self):
        """The opener itself (imports the reader's module)."""
        return getattr(import_module(self.module), self.opener)


_REGISTRY: dict[str, FormatSpec] = {}
#: Registered formats: name -> :class:`FormatSpec`, in registration order (read-only; use :func:`register_format`).
FORMATS = MappingProxyType(_REGISTRY)


def register_format(name: str, module: str, opener: str, description: str, *, subjects: str = "many",
                    options=()) -> FormatSpec:
    """Register a dataset format; the command line and :func:`open_dataset` pick it up from here.

    Parameters
    ----------
    name : str
        ``--format`` value (lower case, no spaces).
    module : str
        Module holding the opener, e.g. ``"brainembed.data.readers.god"``.
    opener : str
        Name of ``open_X(src, *, dataset=..., image_size=..., **options) -> DatasetSource``.
        Openers that also take ``scratch=`` and ``progress=`` get the store's
        folder (for temporary files) and the progress flag from ``brainembed import``.
    description : str
        One line: what the source is.
    subjects : {"many", "one", "single"}, default "many"
        See :data:`SUBJECT_MODES`.
    options : sequence of ReaderOption
        Reader keywords the command line exposes besides :data:`COMMON_OPTIONS`.
        A keyword shared with another format must have the same ``kind`` (one flag serves both).

    Returns
    -------
    FormatSpec

    Examples
    --------
    >>> register_format("myformat", "mypackage.reader", "open_myformat",            # doctest: +SKIP
    ...                 "my lab's .npz files", options=[ReaderOption("roi", "myformat: ROI name")])
    """
    if not name or not name.replace("_", "").replace("-", "").isalnum() or name != name.lower():
        raise ValueError(f"format name {name!r} must be lower-case letters, digits, '-' or '_'")
    if name in _REGISTRY:
        raise ValueError(f"format {name!r} is already registered")
    if subjects not in SUBJECT_MODES:
        raise ValueError(f"subjects must be one of {', '.join(SUBJECT_MODES)}, got {subjects!r}")
    options = tuple(options)
    kinds = {o.keyword: o.kind for spec in _REGISTRY.values() for o in spec.cli_options}
    kinds.update({o.keyword: o.kind for o in COMMON_OPTIONS})
    for option in options:
        if not isinstance(option, ReaderOption):
            raise TypeError(f"options of format {name!r} must be ReaderOption objects, got {option!r}")
        if option.keyword in {o.keyword for o in COMMON_OPTIONS}:
            raise ValueError(f"format {name!r}: {option.keyword!r} is a common option already")
        if kinds.get(option.keyword, option.kind) != option.kind:
            raise ValueError(f"format {name!r}: option {option.keyword!r} is a {kinds[option.keyword]} option "
                             f"for another format; one flag cannot be both")
    spec = FormatSpec(name, module, opener, description, subjects, options)
    _REGISTRY[name] = spec
    return spec


def format_spec(format: str) -> FormatSpec:
    """The :class:`FormatSpec` of a registered format; one sentence naming the choices otherwise."""
    try:
        return _REGISTRY[format]
    except (KeyError, TypeError):
        raise BrainembedError(f"unknown dataset format {format!r}; use one of {', '.join(_REGISTRY)}.") from None


# --------------------------------------------------------------------------- the registered formats
_Z = "keep responses unnormalised"
register_format(
    "algonauts", "brainembed.data.readers.algonauts", "open_algonauts",
    "Algonauts 2023 subject folder(s) (NSD on fsaverage)",
    options=(ReaderOption("test_ids", "nsd_expdesign.mat (shared1000) or comma-separated 0-based NSD ids as the "
                                      "test images", "ids_or_path"),
             ReaderOption("stim_info", "nsd_stim_info_merged.csv: key images by COCO id (default: by NSD id)",
                          "path")))
register_format(
    "nsd", "brainembed.data.readers.nsd", "open_nsd",
    "NSD native release root (betas, nsd_expdesign.mat, imgBrick)", subjects="one",
    options=(ReaderOption("sessions", "sessions to read (default: all found)", "positive_ints"),
             ReaderOption("space", "func1pt8mm (default), func1mm or fsaverage"),
             ReaderOption("roi", "ROI mask (default nsdgeneral)"),
             ReaderOption("stim_info", "nsd_stim_info_merged.csv (default: the release's, if present): key "
                                       "images by COCO id", "path"),
             ReaderOption("zscore", _Z, "switch_off")))
register_format(
    "god", "brainembed.data.readers.god", "open_god",
    "Generic Object Decoding SubjectN.h5 BData file(s) + ImageNet image folder",
    options=(ReaderOption("images", "folder of the ImageNet stimulus images (required)", "path"),
             ReaderOption("roi", "voxel key (default ROI_VC)"),
             ReaderOption("zscore", _Z, "switch_off")))
register_format(
    "vim1", "brainembed.data.readers.vim1", "open_vim1",
    "vim-1 folder with EstimatedResponses.mat + Stimuli.mat",
    options=(ReaderOption("snr_top_k", "keep the K voxels of highest SNR (paper: 7000)", "positive_int"),
             ReaderOption("zscore", _Z, "switch_off")))
register_format(
    "digits", "brainembed.data.readers.digits", "open_digits",
    "handwritten-digit fMRI .mat file (digit69_28x28.mat)", subjects="single",
    options=(ReaderOption("zscore", _Z, "switch_off"),))
register_format(
    "things", "brainembed.data.readers.things", "open_things",
    "THINGS-fMRI single-trial betas_csv tables + THINGS image folder",
    options=(ReaderOption("images", "folder of the THINGS stimulus images (required)", "path"),
             ReaderOption("roi", "ROI column(s), comma-separated, 'visual' (default) or 'all'"),
             ReaderOption("repeats", "do not keep single trials as repeats (no noise ceiling; less disk)",
                          "switch_off"),
             ReaderOption("zscore", _Z, "switch_off")))
register_format(
    "bold5000", "brainembed.data.readers.bold5000", "open_bold5000",
    "BOLD5000 v2.0 GLMsingle betas + CSI<n>_imgnames.txt + presented stimuli folder",
    options=(ReaderOption("images", "folder of the presented stimulus images (required)", "path"),
             ReaderOption("sessions", "sessions to read (default: all found)", "positive_ints"),
             ReaderOption("roi", "mask name(s), comma-separated, 'visual' (default) or 'brain'"),
             ReaderOption("repeats", "do not keep single trials as repeats (no noise ceiling; less disk)",
                          "switch_off"),
             ReaderOption("zscore", _Z, "switch_off")))
register_format(
    "nod", "brainembed.data.readers.nod", "open_nod",
    "Natural Object Dataset (ds004496) ciftify fsLR-32k beta maps + BIDS events + stimulus folder",
    options=(ReaderOption("images", "folder of the stimulus images (searched by file stem)", "path"),
             ReaderOption("test_images", "comma-separated image stems held out as test images (default: the "
                                         "repeated COCO images; needed for subjects 10-30)"),
             ReaderOption("zscore", _Z, "switch_off")))
register_format(
    "mosaic", "brainembed.data.readers.mosaic", "open_mosaic",
    "MOSAIC per-subject HDF5 files (mosaic-dataset) + train/test split files",
    options=(ReaderOption("images", "folder of the stimulus images (searched by file stem)", "path"),
             ReaderOption("splits", "folder of MOSAIC's split files (default: beside the subject files)", "path"),
             ReaderOption("template", "a 91k-grayordinate CIFTI file giving each column's fsLR-32k vertex",
                          "path")))


def _format_table() -> str:
    rows = [(f"``{s.name}``", s.description, s.subjects,
             ", ".join(f"``{o.flag}``" for o in s.options) or "--", f":func:`~{s.module}.{s.opener}`")
            for s in _REGISTRY.values()]
    head = ("format", "source", "subjects", "flags", "opener")
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
    rule = "  ".join("=" * w for w in widths)
    lines = [rule, "  ".join(h.ljust(w) for h, w in zip(head, widths)).rstrip(), rule]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.append(rule)
    return "\n" + "\n".join(lines) + "\n\nEvery format also takes ``--image-size`` and ``--dataset``.\n"


__doc__ = (__doc__ or "") + _format_table()


# --------------------------------------------------------------------------- opening
def open_dataset(format: str, src, **kwargs) -> DatasetSource:
    """Open a dataset lazily.

    Parameters
    ----------
    format : str
        A registered format (a key of :data:`FORMATS`; see the module's table).
    src : path
        Where the dataset lies (see each reader).
    **kwargs
        Options of the format's reader (e.g. ``subjects``, ``images`` for GOD).

    Returns
    -------
    DatasetSource
        Close it (or use ``with``) to release files.
    """
    opener = format_spec(format).open_function()
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
