r"""Training losses as forward/backward pairs: BCE with logits, BPR, L2.

The definitions every model trains with, for a batch of B examples:

* BPR (the LightGCN code's): ``L = mean_b softplus(s_neg,b - s_pos,b)``
* BCE: ``L = mean_b [softplus(x_b) - y_b x_b]``, ``x`` the logits
* L2: ``L = reg · ½ Σ_t ‖rows_t‖² / B`` over the layer-0 rows of the batch
* softmax cross-entropy over the catalogue (next-item prediction, SR-GNN):
  ``L = mean_b [logsumexp(z_b) - z_b,t_b]``, ``z`` (B, n_items) the logits, ``t`` the targets

A model's loss is the sum of one of the first two and the third. Each
``*_forward`` returns ``(loss, cache)`` with ``loss`` a Python float; each
``*_backward(cache, dloss=1.0)`` returns the gradients scaled by ``dloss``,
in the dtype of the inputs: the scores' (BPR: their common dtype,
``np.result_type(s_pos, s_neg)``, in which the forward computes
``s_neg - s_pos``, for both gradients; float32 with float64 gives float64),
the logits' (BCE: labels are cast to it), each rows array's (L2).

Stability: ``softplus(z) = log(1 + e^z)`` is evaluated as
``max(z, 0) + log1p(exp(-|z|))``, which never overflows and keeps full
relative precision when the loss is tiny (``x = 40, y = 1`` gives
``4.25e-18``, not 0); the sigmoid in the gradients is the overflow-free
:func:`minigraphrec.ops.sigmoid_forward`. Logits of ±1000 give exact,
finite values and gradients.
"""
from __future__ import annotations

import numpy as np

from .errors import DataError, check_finite_number, check_int
from .ops.dense import sigmoid_forward

__all__ = ["bce_with_logits_forward", "bce_with_logits_backward",
           "bpr_forward", "bpr_backward",
           "l2_forward", "l2_backward",
           "softmax_cross_entropy_forward", "softmax_cross_entropy_backward",
           "softplus"]


def softplus(z):
    r"""``log(1 + exp(z)) = max(z, 0) + log1p(exp(-|z|))``, elementwise, stable at any z."""
    z = np.asarray(z)
    return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))


def _scores(name, x):
    x = np.asarray(x)
    if x.ndim != 1:
        raise DataError(f"{name} must be 1-d (B,), got shape {x.shape}")
    if x.shape[0] == 0:
        raise DataError(f"{name} is empty; a loss needs at least one example")
    if not np.issubdtype(x.dtype, np.floating):
        raise DataError(f"{name} must have a floating dtype, got {x.dtype}")
    return x


# ------------------------------------------------------------------ BCE
def bce_with_logits_forward(logits, labels):
    r"""Mean binary cross-entropy of sigmoid(logits) against labels.

    ``L = (1/B) Σ_b [max(x_b, 0) - y_b x_b + log1p(exp(-|x_b|))]``, which
    equals ``-(1/B) Σ_b [y_b log σ(x_b) + (1 - y_b) log(1 - σ(x_b))]``
    (PyTorch's ``BCEWithLogitsLoss``, mean reduction).

    Parameters
    ----------
    logits : ndarray (B,), floating
    labels : array (B,), values in [0, 1] (implicit feedback gives {0, 1}; soft
        labels in between are allowed and mean what they mean in PyTorch)

    Returns
    -------
    loss : float
    cache : for :func:`bce_with_logits_backward`.
    """
    x = _scores("logits", logits)
    y = np.asarray(labels)
    if y.shape != x.shape:
        raise DataError(f"labels must have the shape of logits {x.shape}, got {y.shape}")
    y = y.astype(x.dtype, copy=False)
    if not np.all((y >= 0) & (y <= 1)):
        raise DataError("labels must lie in [0, 1]")
    per_example = np.maximum(x, 0) - y * x + np.log1p(np.exp(-np.abs(x)))   # (B,)
    return float(per_example.mean()), (x, y)


def bce_with_logits_backward(cache, dloss=1.0):
    r"""``dx_b = dloss · (σ(x_b) - y_b) / B``.   -> dlogits (B,).

    ``σ(x) - y`` is evaluated as ``(1 - y) σ(x) - y σ(-x)`` (the same
    number), which keeps full relative precision for a tiny gradient: at
    ``x = 40, y = 1`` it gives ``-4.25e-18`` where ``σ(x) - 1`` gives 0.
    """
    x, y = cache
    sig_pos, _ = sigmoid_forward(x)                              # (B,) σ(x)
    sig_neg, _ = sigmoid_forward(-x)                             # (B,) σ(-x) = 1 - σ(x)
    return ((1 - y) * sig_pos - y * sig_neg) * x.dtype.type(dloss / x.shape[0])


# ------------------------------------------------------------------ BPR
def bpr_forward(s_pos, s_neg):
    r"""Bayesian personalised ranking loss ``L = (1/B) Σ_b softplus(s_neg,b - s_pos,b)``.

    Equal to ``-(1/B) Σ_b log σ(s_pos,b - s_neg,b)``, written as in the
    LightGCN code (``mean(softplus(neg_scores - pos_scores))``).

    Parameters
    ----------
    s_pos, s_neg : ndarray (B,), scores of the positive and the negative item

    Returns
    -------
    loss : float
    cache : for :func:`bpr_backward`.
    """
    s_pos, s_neg = _scores("s_pos", s_pos), _scores("s_neg", s_neg)
    if s_pos.shape != s_neg.shape:
        raise DataError(f"s_pos and s_neg must have the same shape, "
                        f"got {s_pos.shape} and {s_neg.shape}")
    z = s_neg - s_pos                                            # (B,)
    return float(softplus(z).mean()), z


def bpr_backward(cache, dloss=1.0):
    r"""``ds_neg,b = dloss · σ(s_neg,b - s_pos,b) / B``, ``ds_pos = -ds_neg``.

    Returns ``(ds_pos, ds_neg)``, each (B,), both in the dtype the forward computed
    ``s_neg - s_pos`` in: the scores' common dtype (float64 if one of them is).
    """
    z = cache
    sig, _ = sigmoid_forward(z)                                  # (B,)
    ds_neg = sig * z.dtype.type(dloss / z.shape[0])
    return -ds_neg, ds_neg


# ------------------------------------------------------------------- L2
def l2_forward(rows_list, reg, batch_size):
    r"""The batch regulariser ``L = reg · ½ Σ_t ‖rows_t‖²_F / B``.

    As in the LightGCN code: the squared Frobenius norms of the layer-0
    embedding rows the batch touched (``E0[users]``, ``E0[pos]``,
    ``E0[neg]``; a row drawn twice counts twice), halved, divided by the
    batch size ``B`` and multiplied by ``reg``.

    Parameters
    ----------
    rows_list : list or tuple of ndarrays, any shapes
    reg : float >= 0, finite (else :class:`~minigraphrec.DataError`: negative, NaN,
        infinite or no real number at all: a string, even ``"1e-4"``, or a bool, as the
        models refuse it)
    batch_size : int >= 1, the ``B`` of the formula (not inferred from the
        rows, which may come in any number)

    Returns
    -------
    loss : float
    cache : for :func:`l2_backward`.
    """
    if not isinstance(rows_list, (list, tuple)):
        raise TypeError("rows_list must be a list or tuple of arrays, "
                        f"got {type(rows_list).__name__}")
    rows_list = [np.asarray(r) for r in rows_list]
    for t, rows in enumerate(rows_list):
        if not np.issubdtype(rows.dtype, np.floating):
            raise DataError(f"rows_list[{t}] must have a floating dtype, got {rows.dtype}")
    # refused: NaN and inf (an infinite weight, an inf loss), a negative, and what is no real
    # number (a string, never parsed, even "1e-4"; a bool; None): one DataError, as the models'
    try:
        reg = check_finite_number(reg, "reg", at_least=0)
    except (TypeError, DataError):
        raise DataError(f"reg must be >= 0 and finite, got {reg!r}") from None
    check_int(batch_size, "batch_size")
    # Σ_t ‖rows_t‖², squared and summed in float64 by NumPy, whose summation order is fixed:
    # BLAS's float32 dot (np.vdot) adds in an order that depends on the CPU's kernel (SkylakeX
    # and Haswell differ by ~3e-6 relative at 3·8192 x 64), so the loss would depend on the machine
    total = sum(float(np.square(rows, dtype=np.float64).sum()) for rows in rows_list)
    return reg * 0.5 * total / batch_size, (rows_list, reg, int(batch_size))


def l2_backward(cache, dloss=1.0):
    r"""``d rows_t = dloss · reg · rows_t / B`` for each t; a list in ``rows_list``'s order."""
    rows_list, reg, batch_size = cache
    return [rows * rows.dtype.type(dloss * reg / batch_size) for rows in rows_list]


# ------------------------------------------------- softmax cross-entropy
def softmax_cross_entropy_forward(logits, targets, *, overwrite=False):
    r"""Mean cross-entropy of ``softmax(logits)`` against one target class per row.

    ``L = (1/B) Σ_b [log Σ_i exp(z_bi) - z_b,t_b]``, the log-sum-exp taken after subtracting
    each row's maximum, so any finite logits (±1000 included) give a finite loss. PyTorch's
    ``CrossEntropyLoss`` with mean reduction.

    Parameters
    ----------
    logits : ndarray (B, n_classes), floating
    targets : int array (B,), each in ``0..n_classes-1``
    overwrite : bool, default False
        Write the shifted logits and then their exponentials over ``logits`` (a writable
        array) instead of two new ``(B, n_classes)`` arrays: for a training step whose
        logits are scratch. The same bits.

    Returns
    -------
    loss : float
    cache : for :func:`softmax_cross_entropy_backward`.
    """
    z = np.asarray(logits)
    if z.ndim != 2 or z.shape[0] == 0 or z.shape[1] == 0:
        raise DataError(f"logits must be 2-d (B, n_classes) and non-empty, got shape {z.shape}")
    if not np.issubdtype(z.dtype, np.floating):
        raise DataError(f"logits must have a floating dtype, got {z.dtype}")
    t = np.asarray(targets)
    if t.shape != (z.shape[0],) or (t.size and not np.issubdtype(t.dtype, np.integer)):
        raise DataError(f"targets must be {z.shape[0]} integer class ids, got shape {t.shape}, "
                        f"dtype {t.dtype}")
    bad = (t < 0) | (t >= z.shape[1])
    if bad.any():
        b = int(np.flatnonzero(bad)[0])
        raise DataError(f"targets[{b}] = {int(t[b])} is out of range 0..{z.shape[1] - 1}")
    rows = np.arange(z.shape[0])
    if overwrite and not (isinstance(logits, np.ndarray) and logits.flags.writeable):
        raise DataError("overwrite=True needs logits as a writable ndarray")
    out = z if overwrite else None
    shifted = np.subtract(z, z.max(axis=1, keepdims=True), out=out)   # (B, n), max 0 per row
    picked = shifted[rows, t]                                    # (B,), before exp
    expz = np.exp(shifted, out=out)
    sum_exp = expz.sum(axis=1)                                   # (B,), in [1, n]
    loss = float(np.mean(np.log(sum_exp) - picked))
    return loss, (expz, sum_exp, t)


def softmax_cross_entropy_backward(cache, dloss=1.0, *, overwrite=False):
    r"""``dz_b = dloss · (softmax(z_b) - onehot(t_b)) / B``; returns dz (B, n_classes).

    ``overwrite=True`` writes dz over the cached exponentials (the cache is then used up:
    one backward pass per forward); the same bits.
    """
    expz, sum_exp, t = cache
    B = expz.shape[0]
    dz = np.divide(expz, sum_exp[:, None], out=expz if overwrite else None)   # (B, n) softmax
    dz[np.arange(B), t] -= 1
    dz *= expz.dtype.type(dloss / B)
    return dz
