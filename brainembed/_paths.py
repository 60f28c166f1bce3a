"""Where brainembed keeps what it builds for itself, and what happens when that place cannot be written.

brainembed's own data folder is ``$BRAINEMBED_DATA``, else
``$XDG_CACHE_HOME/brainembed``, else ``~/.cache/brainembed``. A folder that
is missing is created; one that cannot be written (read-only, a file in the
way, a path under a file) is replaced, for the running process only, by a
temporary folder that is removed when the process ends, and a
:class:`~brainembed.errors.BrainembedWarning` names the folder and the
variable to set.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import warnings
from pathlib import Path

from brainembed.errors import BrainembedError, BrainembedWarning

DATA_ENV = "BRAINEMBED_DATA"
_SESSION_FOLDERS: dict[str, Path] = {}
_WARNED: set[Path] = set()


def data_home() -> Path:
    """brainembed's data folder (not created).

    Returns
    -------
    Path
        ``$BRAINEMBED_DATA``, else ``$XDG_CACHE_HOME/brainembed``, else
        ``~/.cache/brainembed``.
    """
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache).expanduser() / "brainembed"


def why_not_writable(folder) -> str | None:
    """Create ``folder`` (parents too) and write a file in it; why that failed, or None when it worked.

    Parameters
    ----------
    folder : path

    Returns
    -------
    str or None
        The operating system's reason (e.g. ``"Read-only file system"``).
    """
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        return err.strerror or type(err).__name__
    return None


def session_folder(name: str) -> Path:
    """A temporary folder for this process (the same one for every call with ``name``), removed at exit.

    Parameters
    ----------
    name : str
        What the folder holds, e.g. ``"pycortex"``.

    Returns
    -------
    Path
    """
    if name not in _SESSION_FOLDERS:
        folder = Path(tempfile.mkdtemp(prefix=f"brainembed-{name}-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        _SESSION_FOLDERS[name] = folder
    return _SESSION_FOLDERS[name]


def writable_data_folder(name: str, what: str) -> Path:
    """``data_home() / name``, created; a session folder when that cannot be written.

    Parameters
    ----------
    name : str
        Subfolder of :func:`data_home`, e.g. ``"pycortex"``.
    what : str
        What it holds, for the warning (e.g. ``"its pycortex subject"``).

    Returns
    -------
    Path

    Raises
    ------
    BrainembedError
        When neither that folder nor a temporary one can be written.

    Warns
    -----
    BrainembedWarning
        When the session folder is used instead (once per process and
        folder); it names ``BRAINEMBED_DATA``.
    """
    preferred = data_home() / name
    reason = why_not_writable(preferred)
    if reason is None:
        return preferred
    try:
        fallback = session_folder(name)
    except OSError as err:
        raise BrainembedError(f"cannot write {preferred} ({reason}) nor a temporary folder ({err.strerror}); set "
                              f"{DATA_ENV} to a writable folder.") from None
    if preferred not in _WARNED:  # once per process: callers may reset the warnings registry
        _WARNED.add(preferred)
        warnings.warn(f"cannot write {preferred} ({reason}); brainembed keeps {what} in {fallback} until this "
                      f"process ends. Set {DATA_ENV} to a writable folder to keep it between runs.", BrainembedWarning,
                      stacklevel=3)
    return fallback
