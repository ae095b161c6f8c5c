"""The one exception type every rejected input raises, and the checks every op shares."""
from numbers import Real

import numpy as np
import scipy.sparse as sp

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
    """``x`` as a 1-d int64 array of ids, each in ``range(n)`` (``n`` None: any id >= 0).

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
    if arr.size and arr.dtype.kind == "u" and arr.dtype.itemsize == 8:
        big = arr > np.iinfo(np.int64).max                # would wrap to a negative int64
        if big.any():
            at = int(np.flatnonzero(big)[0])
            bound = ("beyond int64; ids are >= 0 and below 2**63" if n is None
                     else f"out of range 0..{n - 1}")
            raise DataError(f"{name}[{at}] = {arr[at]} is {bound}")
    arr = arr.astype(np.int64, copy=False)
    if arr.size:
        bad = arr < 0 if n is None else (arr < 0) | (arr >= n)
        if bad.any():
            at = int(np.flatnonzero(bad)[0])
            why = "is negative; ids are >= 0" if n is None else f"is out of range 0..{n - 1}"
            raise DataError(f"{name}[{at}] = {arr[at]} {why}")
    return arr


def int64_ids(arr, name, what="ids"):
    """The integer array ``arr`` (any shape; already checked for it) as int64, not copied
    when it is int64. Any integer dtype is taken (bool is not): DataError naming ``name``
    for another dtype, and naming the first entry beyond int64 (a uint64 above 2**63 - 1,
    which would wrap to a negative id) by its index. ``what``: what the ids are, for the
    messages ("item ids")."""
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise DataError(f"{name} must hold integer {what}, got dtype {arr.dtype}")
    # int(): NumPy 1.24 compares a uint64 scalar with a Python int through float64
    if arr.size and arr.dtype.kind == "u" and int(arr.max()) > np.iinfo(np.int64).max:
        at = tuple(int(i) for i in np.argwhere(arr > np.iinfo(np.int64).max)[0])
        raise DataError(f"{name}[{', '.join(map(str, at))}] = {arr[at]} is beyond the int64 "
                        f"{what}")
    return arr.astype(np.int64, copy=False)


#: the dtypes every differentiable op (``mgr.ops``) computes in: float32 in training,
#: float64 in gradient checks
FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _not_array_like(x):
    """True for the values that are no array at all (the convention's TypeError)."""
    return x is None or isinstance(x, (str, bytes, dict, set))


def float_dtype(value, name="dtype"):
    """``value`` as the NumPy dtype float32 or float64; DataError naming ``name``
    otherwise (a ValueError)."""
    try:
        dt = np.dtype(value)
    except TypeError:                                        # e.g. "banana": not a dtype at all
        dt = None
    if dt is None or dt not in FLOAT_DTYPES:
        raise DataError(f"{name} must be 'float32' or 'float64', got {value!r}")
    return dt


def check_float_array(x, name, ndim=None):
    """``x`` as an ndarray of dtype float32 or float64 (no copy), else the convention's error.

    ``TypeError`` when ``x`` is no dense array at all (None, a string, a dict or a set, a
    scipy sparse matrix); :class:`DataError` for an array of another dtype (integer, bool,
    float16, longdouble, complex: whose imaginary part would be lost) or, with ``ndim``,
    of another number of axes. Each message names ``name``.
    """
    if _not_array_like(x):
        raise TypeError(f"{name} must be a float32 or float64 array, got {type(x).__name__}")
    if sp.issparse(x):
        raise TypeError(f"{name} must be a dense ndarray, got a scipy sparse {type(x).__name__}")
    try:
        x = np.asarray(x)
    except ValueError as err:                          # ragged nested sequences
        raise DataError(f"{name} must be a float32 or float64 array: {err}") from None
    if x.dtype not in FLOAT_DTYPES:
        hint = (" (complex values are not taken: the imaginary part would be lost)"
                if x.dtype.kind == "c" else f"; cast it with {name}.astype(np.float64)"
                if x.dtype.kind in "biuf" else "")
        raise DataError(f"{name} must be float32 or float64, got {x.dtype}{hint}")
    if ndim is not None and x.ndim != ndim:
        raise DataError(f"{name} must be {ndim}-d, got shape {x.shape}")
    return x


def check_grad_shape(g, name, shape, of="the forward's output has", dtype=None, op=None):
    """The incoming gradient ``g`` of a backward pass, a float32/float64 array of exactly
    ``shape`` (nothing broadcast), else :class:`DataError`, e.g. ``"dY has shape (3, 2),
    the forward's output has (2,)"``; the kind and dtype as :func:`check_float_array`.
    Given ``dtype``, the forward pass's output dtype, ``g`` must have it too
    (:func:`check_grad_dtype`; ``op`` names the backward pass in that message)."""
    g = check_float_array(g, name)
    shape = tuple(int(s) for s in shape)
    if g.shape != shape:
        raise DataError(f"{name} has shape {g.shape}, {of} {shape}")
    return g if dtype is None else check_grad_dtype(g, name, dtype, op)


def check_grad_dtype(g, name, dtype, op):
    r"""``g`` (a float array) if its dtype is ``dtype``, the dtype of the forward pass's
    output, else :class:`DataError` naming the backward pass ``op``, ``name`` and both
    dtypes.

    The rule of every backward pass in ``mgr.ops`` whose gradients combine ``g`` with
    arrays the forward pass kept: a float64 ``g`` after a float32 forward pass would give
    some gradients in float64 and others (those of the kept arrays, or the numba kernels'
    outputs) in float32, or be cast down silently; the models and the gradient checks
    pass each op the dtype it returned, so a mismatch is a caller's mistake. Backward
    passes that check the shape themselves (a per-edge gradient may be ``(nnz,)`` or
    ``(nnz, n_heads)``) call this directly.
    """
    if g.dtype != dtype:
        raise DataError(f"{op}: {name} has dtype {g.dtype}, the forward's output has "
                        f"{np.dtype(dtype)}; pass the gradient in the output's dtype")
    return g


def check_real_sparse(A, name):
    """``A`` (a scipy sparse matrix or an ndarray) unchanged if its values are real (bool,
    integer or float), else
    :class:`DataError` naming ``name`` and the dtype (complex would lose its imaginary part
    in the cast to the op's float dtype)."""
    if A.dtype.kind not in "biuf":
        raise DataError(f"{name} must have a real (bool, integer or float) dtype, got "
                        f"{A.dtype}" + (": the imaginary part would be lost"
                                        if A.dtype.kind == "c" else ""))
    return A


def check_out(out, name, shape, dtype):
    """An ``out=`` argument: an ndarray of ``shape`` and ``dtype``, C-contiguous and
    writeable. ``TypeError`` if it is no ndarray (a list), :class:`DataError` otherwise."""
    shape, dtype = tuple(int(s) for s in shape), np.dtype(dtype)
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name} must be an ndarray, got {type(out).__name__}")
    if out.shape != shape or out.dtype != dtype:
        raise DataError(f"{name} has shape {out.shape} and dtype {out.dtype}, expected "
                        f"{shape} and {dtype}")
    if not (out.flags.c_contiguous and out.flags.writeable):
        raise DataError(f"{name} must be C-contiguous and writeable")
    return out


def check_int(value, name, at_least=1, or_none=False):
    """``value`` as an int ``>= at_least`` (or None when ``or_none``), else :class:`DataError`
    (a ``ValueError``) naming ``name``: a bool, a float or a string is refused, never rounded
    or parsed. The check of the counts, sizes and thresholds models and functions take."""
    if or_none and value is None:
        return None
    if (isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer))
            or value < at_least):
        raise DataError(f"{name} must be an integer >= {at_least}{' or None' if or_none else ''}, "
                        f"got {value!r}")
    return int(value)


def check_bool(value, name):
    """``value`` if it is True or False (NumPy's too, as a Python bool), else
    :class:`DataError` (a ValueError): a string such as ``"no"`` is truthy, and would
    silently mean True."""
    if value is True or value is False or isinstance(value, np.bool_):
        return bool(value)
    raise DataError(f"{name} must be True or False, got {value!r}")


def check_finite_number(value, name, at_least=None, above=None):
    """``value`` as a finite float: ``TypeError`` if it is no real number (a string, None,
    a bool, a complex), :class:`DataError` if it is NaN or infinite, or below a bound
    (``>= at_least``, ``> above``); each naming ``name`` and the bound."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    bound = _bound_text(at_least, above)
    if (not np.isfinite(value) or (at_least is not None and value < at_least)
            or (above is not None and value <= above)):
        raise DataError(f"{name} must be a finite number{bound}, got {value}")
    return value


def check_param_number(value, name, at_least=None, above=None):
    """A model's float hyperparameter: :func:`check_finite_number` with the models' rule that
    every bad value is a :class:`DataError`, as :func:`check_int` gives for the counts. A
    value of the wrong kind (a string, even ``"1e-3"``, never parsed; a bool; None) is one
    too, in place of the TypeError, and its message says the bound as for a number out of
    range."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Real):
        raise DataError(f"{name} must be a finite number{_bound_text(at_least, above)}, "
                        f"got {value!r}")
    return check_finite_number(value, name, at_least=at_least, above=above)


def _bound_text(at_least, above):
    """The bound of :func:`check_finite_number`'s messages: ``" >= 0"``, ``" > 0"`` or ``""``."""
    return (f" >= {at_least:g}" if at_least is not None else
            f" > {above:g}" if above is not None else "")


def check_compressed(indptr, indices, data, shape, fmt, name):
    r"""DataError naming ``name`` unless ``(data, indices, indptr)`` describe a ``fmt``
    ("csr" or "csc") matrix of ``shape``: integer 1-d index arrays, ``indptr`` of length
    ``n_major + 1`` rising from 0 to at most ``len(indices) == len(data)``, and every
    stored index in ``range(n_minor)``; the first bad row (CSC: column) is named.

    SciPy's constructor checks the lengths but not the order of ``indptr`` nor the range
    of the indices, and its C++ routines (``tocsc``, ``sum_duplicates``, a product) then
    read and write out of bounds: a crash of the process, not an error. O(n_major + nnz):
    one difference of ``indptr``, a min and a max of the indices; located only when bad.
    """
    major, minor = ("row", "column") if fmt == "csr" else ("column", "row")
    n_major, n_minor = shape if fmt == "csr" else shape[::-1]
    bad = f"{name} is not a valid {fmt.upper()} matrix of shape {tuple(shape)}"
    for what, arr in (("indptr", indptr), ("indices", indices)):
        if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"):
            raise DataError(f"{bad}: its {what} must be a 1-d integer array, got "
                            f"{arr.dtype} of shape {arr.shape}")
    if data.ndim != 1 or data.shape[0] != indices.shape[0]:
        raise DataError(f"{bad}: its data (shape {data.shape}) and indices (shape "
                        f"{indices.shape}) must be 1-d of one length")
    if indptr.shape[0] != n_major + 1:
        raise DataError(f"{bad}: its indptr has {indptr.shape[0]} entries, "
                        f"{n_major + 1} expected (one per {major}, plus one)")
    if indptr[0] != 0 or indptr[-1] > indices.shape[0]:
        raise DataError(f"{bad}: its indptr runs from {indptr[0]} to {indptr[-1]}, not from "
                        f"0 to at most the {indices.shape[0]} stored entries")
    # neighbours compared, not subtracted: unsigned differences wrap (1 - 2 is 2^64 - 1)
    falls = indptr[1:] < indptr[:-1]                          # (n_major,)
    if falls.any():
        r = int(np.flatnonzero(falls)[0])
        raise DataError(f"{bad}: its indptr decreases at {major} {r} ({indptr[r]} then "
                        f"{indptr[r + 1]})")
    used = indices[:indptr[-1]]                               # (nnz,) a view
    if used.size and (used.min() < 0 or used.max() >= n_minor):
        p = int(np.flatnonzero((used < 0) | (used >= n_minor))[0])
        r = int(np.searchsorted(indptr, p, side="right")) - 1   # the major of entry p
        raise DataError(f"{bad}: {major} {r} holds {minor} index {used[p]}, outside "
                        f"0..{n_minor - 1}")


def check_sparse_arrays(M, name):
    r"""DataError naming ``name`` unless the scipy sparse ``M`` is 2-d and its index arrays
    fit its shape; ``M`` itself otherwise.

    SciPy checks them when a matrix is built, not after its arrays were edited in place,
    and its C++ conversions (``tocsr``, ``sum_duplicates``, a product) then read and write
    out of bounds: a crash of the process, or an entry silently lost. CSR and CSC go
    through :func:`check_compressed` (BSR too, on its grid of blocks);
    a COO matrix's row and column indices must lie within the shape. Other formats (DOK,
    LIL, DIA) are converted by SciPy's Python and NumPy code, which checks. O(nnz).
    """
    if M.ndim != 2:
        raise DataError(f"{name} must be a 2-d matrix, got a sparse array of shape {M.shape}")
    if M.format in ("csr", "csc"):
        check_compressed(M.indptr, M.indices, M.data, M.shape, M.format, name)
    elif M.format == "bsr":
        R, C = M.blocksize
        if M.data.ndim != 3 or M.data.shape[0] != M.indices.shape[0]:
            raise DataError(f"{name} is not a valid BSR matrix: its data has shape "
                            f"{M.data.shape} for {M.indices.shape[0]} blocks of {R}x{C}")
        check_compressed(M.indptr, M.indices, M.indices, (M.shape[0] // R, M.shape[1] // C),
                         "csr", f"{name}'s grid of {R}x{C} blocks")
    elif M.format == "coo":
        for axis, (what, idx) in enumerate((("row", M.row), ("column", M.col))):
            if idx.size and (idx.dtype.kind not in "iu" or idx.min() < 0
                             or idx.max() >= M.shape[axis]):
                if idx.dtype.kind not in "iu":
                    raise DataError(f"{name} is not a valid COO matrix: its {what} indices "
                                    f"have dtype {idx.dtype}, not an integer one")
                k = int(np.flatnonzero((idx < 0) | (idx >= M.shape[axis]))[0])
                raise DataError(f"{name} is not a valid COO matrix of shape {M.shape}: entry "
                                f"{k} has {what} index {idx[k]}, outside "
                                f"0..{M.shape[axis] - 1}")
    return M


def check_finite_sparse(A, name, dtype=None, nonnegative=False, why_nonnegative=""):
    """``A`` (scipy sparse, or a dense 2-d ndarray) unchanged if every stored value is
    finite (in ``dtype`` when given: the dtype a product casts the values to, where a
    float64 1e300 is inf in float32) and, with ``nonnegative``, >= 0; else
    :class:`DataError` naming the first bad entry in row order as
    ``name[row, col] = value`` (a negative one followed by ``why_nonnegative``).

    One NaN or inf in a matrix spreads to every result that reads its column: a
    product's rows, a similarity, a loss and every gradient. The check is O(nnz) and
    cheap next to any product: a sum (and a minimum, for ``nonnegative``) first, and a
    scan for the bad entry only when that fails. Integer and bool values are finite as
    stored; a compressed matrix's values past ``indptr[-1]`` are not stored values.
    """
    if not sp.issparse(A):
        data = A.reshape(-1)                                  # (n_rows n_cols,)
    elif A.format in ("csr", "csc"):
        data = A.data[:A.indptr[-1]]                          # (nnz,) a view
    else:
        A_coo = A if A.format == "coo" else A.tocoo()
        data = A_coo.data
    floats = data.dtype.kind in "fc"
    with np.errstate(over="ignore", invalid="ignore"):
        values = data.astype(dtype, copy=False) if floats and dtype is not None else data
        if values.size == 0 or ((not floats or np.isfinite(values.sum()))
                                and not (nonnegative and values.min() < 0)):
            return A                                          # a NaN or inf makes the sum one
    bad = ~np.isfinite(values) if floats else np.zeros(values.shape, bool)
    if nonnegative:
        bad |= values < 0
    if not bad.any():                                         # the sum itself overflowed
        return A
    at = np.flatnonzero(bad)                                  # positions in data
    if not sp.issparse(A):
        rows, cols = np.divmod(at, A.shape[1])
    elif A.format in ("csr", "csc"):
        major = np.searchsorted(A.indptr, at, side="right") - 1
        rows, cols = (major, A.indices[at]) if A.format == "csr" else (A.indices[at], major)
    else:
        rows, cols = A_coo.row[at], A_coo.col[at]
    first = np.lexsort((cols, rows))[0]                       # row order, then column
    p, row, col = at[first], int(rows[first]), int(cols[first])
    if not np.isfinite(values[p]):
        cast = f", {values[p]} in {np.dtype(dtype)}" if np.isfinite(data[p]) else ""
        why = (f"{cast} is not finite; one NaN or inf spreads to every result that "
               "reads it")
    else:
        why = f" is negative{why_nonnegative}"
    raise DataError(f"{name}[{row}, {col}] = {data[p]}{why}")
