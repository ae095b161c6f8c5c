r"""Scores of B (user, item) pairs from their embedding rows, for training.

The article ranks items by the cosine similarity ``sim(u, v) = u·v / (‖u‖ ‖v‖)``
or by Euclidean distance between embeddings; LightGCN and MF use the plain dot
product. Each score here is a forward/backward pair over row-aligned
``U, V`` of shape (B, d) giving ``s`` of shape (B,). (Full-ranking scores of
every item for a user live in :mod:`minigraphrec.rank`.)

Conventions where the formula breaks down, each with an exact backward:

* cosine: each norm is clamped from below, ``max(‖u‖, eps)``, so a zero
  vector scores 0 instead of NaN (the PyTorch ``cosine_similarity`` choice,
  with the same values). Below ``eps`` the gradients part: ours is the exact
  derivative of the clamped function (finite differences agree), while
  PyTorch's autograd differs from it there (by 5-44 % on rows of norm 1e-9 to
  3e-9, float64, torch 2.13);
* euclidean: ``-‖u - v‖`` has no derivative at ``u = v``; we return the zero
  subgradient there.
"""
from __future__ import annotations

import numpy as np

from ..errors import DataError, check_finite_number, check_float_array, check_grad_shape

__all__ = [
    "dot_forward", "dot_backward",
    "normalize_forward", "normalize_backward",
    "cosine_forward", "cosine_backward",
    "euclidean_forward", "euclidean_backward",
]


def _check_2d(X, name):
    """``X`` as a float32/float64 array (:func:`~minigraphrec.errors.check_float_array`) that
    is 2-d, (B, d), or the convention's error naming the axes."""
    X = check_float_array(X, name)
    if X.ndim != 2:
        raise DataError(f"{name} must be 2-d (B, d), got shape {X.shape}")
    return X


def _pair(U, V):
    U, V = _check_2d(U, "U"), _check_2d(V, "V")
    if U.shape != V.shape:
        raise DataError(f"U and V must have the same shape (B, d), got {U.shape} and {V.shape}")
    return U, V


# ------------------------------------------------------------------- dot
def dot_forward(U, V):
    r"""``s_b = u_b · v_b``.   U, V: (B, d) -> s: (B,)."""
    U, V = _pair(U, V)
    return np.einsum("bd,bd->b", U, V), (U, V)


def dot_backward(cache, ds):
    r"""``dU = ds[:, None] · V``, ``dV = ds[:, None] · U``, each (B, d)."""
    U, V = cache
    ds = check_grad_shape(ds, "ds", U.shape[:1], dtype=np.result_type(U, V),
                          op="dot_backward")[:, None]                            # (B, 1)
    return ds * V, ds * U


# ------------------------------------------------------------- normalize
def _row_norms(X):
    r"""``‖x_b‖`` of every row of ``X`` (B, d) -> (B,), exact to rounding at any magnitude.

    The plain ``sqrt(Σ x²)`` where the sum of squares is a normal number (every ordinary
    row: those bits); a row whose squares overflow (entries above about 1.8e19 in float32,
    1.3e154 in float64) or underflow (below about 1.1e-19 and 1.5e-154: ``[1e-23, 0]`` in
    float32 has the sum 0) is divided by its largest entry first, and its norm is that entry
    times the quotient's. A row holding NaN has the norm NaN, one holding ±inf (and no NaN)
    inf, and a finite row whose norm is beyond the dtype's range (float32 ``[3e38, 3e38]``)
    inf.
    """
    with np.errstate(over="ignore", under="ignore"):
        squares = np.einsum("bd,bd->b", X, X)            # (B,) Σ x², may over- or underflow
    norm = np.sqrt(squares)                              # (B,)
    info = np.finfo(X.dtype)
    odd = ~((squares >= info.tiny) & (squares <= info.max))   # (B,) also NaN; 0 for a zero row
    if odd.any():
        rows = np.flatnonzero(odd)
        top = np.abs(X[rows]).max(axis=1, initial=0)     # (n_odd,) the largest entry, or NaN
        norm[rows] = top                                 # zero rows 0, NaN and inf rows kept
        scale = (top > 0) & np.isfinite(top)
        rows, top = rows[scale], top[scale][:, None]
        with np.errstate(over="ignore"):
            norm[rows] = top[:, 0] * np.sqrt(np.einsum("bd,bd->b", X[rows] / top, X[rows] / top))
    return norm


def _normalize(X, eps, name):
    """:func:`normalize_forward` of a checked 2-d ``X``, naming it ``name`` in errors."""
    eps = check_finite_number(eps, "eps")
    eps_x = X.dtype.type(eps)
    if not eps_x > 0:
        raise DataError(f"eps must be positive (in {name}'s dtype {X.dtype}), got {eps}")
    norm = _row_norms(X)                                 # (B,)
    unclamped = ~(norm <= eps)                           # (B,) bool; True for a NaN norm
    denom = np.where(unclamped, norm, eps_x)             # (B,)
    with np.errstate(invalid="ignore"):                  # inf / inf in the wide rows below
        Y = X / denom[:, None]                           # (B, d)
    wide = np.isinf(norm)                                # (B,) rare: an inf entry, or past max
    if wide.any():                                       # x / inf would be 0 (or NaN and 0)
        rows = np.flatnonzero(wide)
        with np.errstate(invalid="ignore"):              # inf / inf: NaN, the row's direction
            S = X[rows] / np.abs(X[rows]).max(axis=1)[:, None]
        Y[rows] = S / np.sqrt(np.einsum("bd,bd->b", S, S))[:, None]
    return Y, (Y, denom, unclamped)


def normalize_forward(X, eps=1e-8):
    r"""Row-wise unit vectors: ``y_b = x_b / max(‖x_b‖, eps)``.   X: (B, d) -> Y: (B, d).

    Rows shorter than ``eps`` are divided by ``eps`` instead (a zero row stays
    zero). The norms are exact to rounding at any magnitude (a row whose squares over- or
    underflow is scaled by its largest entry first; other rows keep the plain sum), and a
    finite row whose norm is beyond the dtype's range is still the unit vector (its
    gradient, below the smallest number, is 0). A row holding NaN or ±inf becomes a row of
    NaN, as NaN goes through the other ops, so that a diverged model is detected where
    its embeddings are checked (a clamped NaN norm would turn ``[nan, 1]`` into
    ``[nan, 1e8]``).
    ``X`` must be float32 or float64 (other dtypes are rejected, as in every op: in an
    integer or float16 dtype ``eps`` would round to 0 and a zero row give NaN);
    ``eps`` must be finite, positive and positive in ``X``'s dtype.
    """
    return _normalize(_check_2d(X, "X"), eps, "X")


def normalize_backward(cache, dY):
    r"""``dx_b = (dy_b - y_b (y_b · dy_b)) / ‖x_b‖`` where ``‖x_b‖ > eps``, else ``dy_b / eps``.

    The first is the derivative of ``x / ‖x‖``, the second of ``x / eps``;
    at ``‖x_b‖ = eps`` exactly (a kink) the second is used.
    """
    Y, denom, unclamped = cache
    dY = check_grad_shape(dY, "dY", Y.shape, dtype=Y.dtype, op="normalize_backward")
    radial = np.einsum("bd,bd->b", Y, dY) * unclamped     # (B,) zero where clamped
    return (dY - Y * radial[:, None]) / denom[:, None]    # (B, d)


# ---------------------------------------------------------------- cosine
def cosine_forward(U, V, eps=1e-8):
    r"""Cosine similarity ``s_b = u_b · v_b / (max(‖u_b‖, eps) · max(‖v_b‖, eps))``.

    U, V: (B, d) -> s: (B,), in [-1, 1] up to round-off. Computed as the dot product of the
    normalised rows (:func:`normalize_forward`), so a pair with a zero vector
    scores exactly 0, and a pair with a row holding NaN or ±inf scores NaN. Departure from the
    article's ``u·v / (‖u‖ ‖v‖)``: the clamp, which only matters for norms below ``eps``.

    Not the cosine of :func:`minigraphrec.rank.score_matrix` (``kind="cosine"``) for
    rows shorter than ``eps``: this op is differentiated in training, and the clamp keeps
    its value and gradient finite next to the zero vector, so a short row is divided by
    ``eps``, not by its norm, and scores less than its true cosine; ranking
    differentiates nothing and cosine is scale-free, so ``score_matrix`` gives every
    nonzero row its true cosine, however short. For ``u = 1e-9·[1, 0]`` and
    ``v = [1, 0]`` this op gives 0.1, ``score_matrix`` 1.0. With both norms at least
    ``eps`` the two agree to rounding.
    """
    U, V = _pair(U, V)
    U_hat, cache_u = _normalize(U, eps, "U")             # (B, d)
    V_hat, cache_v = _normalize(V, eps, "V")             # (B, d)
    s, cache_dot = dot_forward(U_hat, V_hat)             # (B,)
    return s, (cache_u, cache_v, cache_dot)


def cosine_backward(cache, ds):
    r"""Exact gradient of the clamped cosine, through ``normalize`` and ``dot``.

    For unclamped rows ``du = ds · (v̂ - s û) / ‖u‖`` and symmetrically for
    ``v``; for a clamped row ``du = ds · v̂ / eps`` (large: the clamped
    function has slope ``1/eps`` near zero).
    """
    cache_u, cache_v, cache_dot = cache
    U_hat, V_hat = cache_dot
    ds = check_grad_shape(ds, "ds", U_hat.shape[:1], dtype=np.result_type(U_hat, V_hat),
                          op="cosine_backward")
    dU_hat, dV_hat = dot_backward(cache_dot, ds)         # (B, d) each
    return normalize_backward(cache_u, dU_hat), normalize_backward(cache_v, dV_hat)


# ------------------------------------------------------------- euclidean
def euclidean_forward(U, V):
    r"""Negative Euclidean distance ``s_b = -‖u_b - v_b‖``, so higher is closer.

    U, V: (B, d) -> s: (B,), ``s ≤ 0``. The distance is taken as :func:`normalize_forward`
    takes its norms, exact to rounding at any magnitude: a plain sum of squares gave
    ``-inf`` (and a zero gradient) for a float32 difference ``[1e20, 0]``, and 0 (and a
    gradient ``1e-23`` times too small) for ``[1e-23, 0]``. NaN and ±inf go through as in
    the other ops (NaN in a row: NaN; ±inf: ``-inf``), and so does a distance beyond the
    dtype's range (``-inf``).
    """
    U, V = _pair(U, V)
    diff = U - V                                         # (B, d)
    dist = _row_norms(diff)                              # (B,)
    return -dist, (diff, dist)


def euclidean_backward(cache, ds):
    r"""``du_b = -ds_b (u_b - v_b) / ‖u_b - v_b‖``, ``dv_b = -du_b``.

    At ``u_b = v_b`` the distance has a cone point and no gradient; we return
    zero there (0 lies in the subdifferential of ``‖·‖`` at 0, and it keeps
    identical embeddings identical). Where ``1 / ‖u_b - v_b‖`` would overflow (a distance
    below ``1 / max``, about 2.9e-39 in float32) the unit vector is formed first.
    """
    diff, dist = cache
    ds = check_grad_shape(ds, "ds", dist.shape, dtype=dist.dtype, op="euclidean_backward")
    safe = np.where(dist > 0, dist, 1)                   # (B,) avoid 0/0; diff is 0 there
    with np.errstate(over="ignore", invalid="ignore"):   # the short rows, replaced below
        dU = (-ds / safe)[:, None] * diff                # (B, d)
    short = (dist > 0) & (dist < 1 / np.finfo(dist.dtype).max)   # (B,) 1 / dist overflows
    if short.any():
        dU[short] = -ds[short, None] * (diff[short] / dist[short, None])
    return dU, -dU
