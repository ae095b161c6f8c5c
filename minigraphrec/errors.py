"""The one exception type every rejected input raises, and the backend check every op shares."""

#: the two implementations every kernel-backed function offers
BACKENDS = ("numpy", "numba")


class DataError(ValueError):
    """Malformed or inconsistent input data.

    The message names what was wrong and where: the file, the 1-based line
    and the problem, e.g. ``"train.txt, line 8: item id 'x' is not a
    non-negative integer"``.
    """


def check_backend(backend):
    """Return ``backend`` if it is one of :data:`BACKENDS`, else raise :class:`DataError`."""
    if backend not in BACKENDS:
        raise DataError(f"backend must be one of {BACKENDS}, got {backend!r}")
    return backend
