"""The project's exception type for bad input.

Every problem a user can cause (wrong shapes, NaN/Inf, missing files, unknown
subjects, corrupt stores) is raised as :class:`BrainembedError` with one clear
sentence naming the input at fault. The command line prints that sentence and
exits with status 2, never a traceback.

A bad parameter or input value (a negative count, an unknown method, an array
of the wrong shape or with NaN) is a :class:`BrainembedValueError`: a
:class:`BrainembedError` that is also a :class:`ValueError`, as callers of
numpy and scikit-learn (and scikit-learn's estimator checks) expect.
"""


class BrainembedError(Exception):
    """Bad input: one clear sentence naming the input at fault."""


class BrainembedValueError(BrainembedError, ValueError):
    """A bad parameter or input value; both a :class:`BrainembedError` and a :class:`ValueError`."""


class BrainembedWarning(UserWarning):
    """A problem the toolkit worked around (e.g. dropped NaN voxels)."""
