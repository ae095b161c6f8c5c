"""The one exception type every rejected input raises, and the checks every op shares."""
import numpy as np

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


def check_random_state(value, name="random_state"):
    """``value`` if it seeds NumPy's generators as the package uses them: None, an integer
    >= 0 or a ``numpy.random.Generator``. ``TypeError`` for another kind of value (a bool, a
    float, a string), :class:`DataError` for a negative integer, each naming ``name``."""
    what = f"{name} must be None, an integer >= 0 or a numpy.random.Generator, got {value!r}"
    if value is None or isinstance(value, np.random.Generator):
        return value
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(what)
    if value < 0:
        raise DataError(what)
    return value


def check_ids(x, name, n=None):
    """``x`` as a 1-d int64 array of ids, each in ``0 .. n-1`` (``n`` None: any id >= 0).

    The one check of every id array the package accepts (node, user, item
    or row ids). Any integer dtype is taken (bool is not); an empty input of
    any dtype (``np.array([])`` is float) gives an empty int64 array. The
    convention: :class:`DataError` for an array of the wrong shape, dtype or
    range, naming ``name`` and the first bad id and its position;
    ``TypeError`` only when ``x`` is not array-like at all (None, a string,
    a dict or a set).
    """
    if x is None or isinstance(x, (str, bytes, dict, set)):
        raise TypeError(f"{name} must be an array of integer ids, got {type(x).__name__}")
    try:
        arr = np.asarray(x)
    except ValueError as err:                          # ragged nested sequences
        raise DataError(f"{name} must be a 1-d array of integer ids: {err}") from None
    if arr.ndim != 1:
        raise DataError(f"{name} must be a 1-d array of integer ids, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise DataError(f"{name} must hold integer ids, got dtype {arr.dtype}")
    arr = arr.astype(np.int64, copy=False)
    if arr.size:
        bad = arr < 0 if n is None else (arr < 0) | (arr >= n)
        if bad.any():
            at = int(np.flatnonzero(bad)[0])
            why = "is negative; ids are >= 0" if n is None else f"is out of range 0..{n - 1}"
            raise DataError(f"{name}[{at}] = {arr[at]} {why}")
    return arr
