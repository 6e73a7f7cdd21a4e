"""Planted tensor bugs: the builtin array engine with one realistic fault each (issues 5, 17).
They run with ``--tensor``; ``verifier.engines.mutants`` lists them with the others."""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from verifier.engines.autograd import array
from verifier.engines.autograd.tensor import accumulate
from verifier.engines.builtin import BuiltinArrayEngine
from verifier.engines.mutants.base import Mutant
from verifier.floor.mathns import F64
from verifier.floor.tensor_ops import TENSOR_OPS, expand

TENSOR = {"tensor": True}


def _with_op(name: str, **changes):
    """The builtin array engine with one op record's rule replaced."""
    def make():
        engine = BuiltinArrayEngine()
        engine.ops[name] = array.make_array_op(replace(TENSOR_OPS[name], **changes))
        return engine
    return make


class _Backward(BuiltinArrayEngine):
    """The builtin array engine with a different unbroadcast in its backward pass."""

    def __init__(self, unbroadcast):
        super().__init__()
        self._unbroadcast = unbroadcast

    def gradients(self, output, variables):
        def push(t, g):
            return ((arg, self._unbroadcast(c, arg.value.shape)) for arg, c in zip(t.args, t.vjp(g)) if c is not None)
        adjoint = accumulate(output, np.ones_like(output.value), push)
        return [adjoint.get(id(v), np.zeros_like(v.value)) for v in variables]


def _not_reduced(g, shape):
    return g                       # the broadcast cotangent comes back in the broadcast shape


def _wrong_axis(g, shape):
    g = np.asarray(g)
    while g.ndim > len(shape):
        g = g.sum(axis=-1)         # the bug: the added axes are the leading ones, not the last
    for axis, n in enumerate(shape):
        if n == 1 and g.shape[axis] != 1:
            g = g.sum(axis=axis, keepdims=True)
    return g.reshape(shape) if g.size == int(np.prod(shape)) else g


def _leaky(op):
    def vjp(xs, ans, g):
        with np.errstate(all="ignore"):   # no zero guard: 0 * sqrt'(-1) = nan leaks through
            return [None if rule is None else g * rule(F64, *xs, ans) for rule in op.scalar.partials]
    return vjp


def _mean_undivided(xs, ans, g, axis=None, keepdims=False):
    return [expand(g, xs[0].shape, axis, keepdims)]    # the bug: no division by the count


def _softmax_sparse(xs, ans, g, axis=-1):
    # the shortcut "a zero cotangent gives a zero gradient" holds for elementwise ops only:
    # softmax couples its outputs, so the cross term reaches elements whose cotangent is 0
    full = ans * (g - np.sum(g * ans, axis=axis, keepdims=True))
    return [np.where(g != 0, full, 0.0)]


def _leaky_engine():
    engine = BuiltinArrayEngine()
    for name in ("sqrt", "log", "mul", "add"):
        engine.ops[name] = array.make_array_op(replace(TENSOR_OPS[name], vjp=_leaky(TENSOR_OPS[name])))
    return engine


def _max_full(xs, ans, g, axis=None, keepdims=False):
    x = xs[0]
    if x.ndim == 0:
        return [g]
    mask = (x == expand(ans, x.shape, axis, keepdims)).astype(np.float64)
    return [mask * expand(g, x.shape, axis, keepdims)]   # every tied element gets it all


def _softmax(x, axis):
    return TENSOR_OPS["softmax"].forward([x], axis=axis)


def _layer_norm_no_mean(xs, ans, g, eps=1e-5):
    x, w, b = xs
    d = x - np.mean(x, axis=-1, keepdims=True)
    rstd = 1.0 / np.sqrt(np.mean(d * d, axis=-1, keepdims=True) + eps)
    xhat, h = d * rstd, g * w
    # the bug: the mean's own path, - mean(h), is left out; only the variance's is kept
    dx = rstd * (h - xhat * np.mean(h * xhat, axis=-1, keepdims=True))
    return [dx, g * xhat, g]


def _cross_entropy_no_onehot(xs, ans, g, reduction="mean"):
    logits, targets = xs
    p = _softmax(logits, 1)      # the bug: softmax(logits), never minus the one-hot target
    return [(g / len(targets) if reduction == "mean" else g) * p, None]


def _embedding_assign(xs, ans, g):
    table = np.zeros(xs[0].shape)
    table[np.asarray(xs[1])] = g   # the bug: = where += is needed: a row looked up twice keeps one gradient
    return [table, None]


def _naive_softmax(x, axis):
    with np.errstate(all="ignore"):
        e = np.exp(x)                  # no max subtracted: inf past 709, and inf / inf is nan
        return e / np.sum(e, axis=axis, keepdims=True)


def _log_softmax_naive(xs, axis=-1):
    with np.errstate(all="ignore"):
        return np.log(_naive_softmax(xs[0], axis))    # and -inf where a probability underflows


def _log_softmax_naive_vjp(xs, ans, g, axis=-1):
    # log's rule, then softmax's: g / p is inf where p underflowed (p * inf is nan), nan where
    # the forward overflowed
    p = _naive_softmax(xs[0], axis)
    with np.errstate(all="ignore"):
        u = g / p
        return [p * (u - np.sum(u * p, axis=axis, keepdims=True))]


def _attention_mask_leak(xs, ans, g, causal=False):
    q, k, v = xs
    # the bug: the backward recomputes the probabilities without the causal mask, so the
    # future keys, which the forward never saw, get gradient
    p = _softmax(q @ k.T / math.sqrt(q.shape[1]), -1)
    dp = g @ v.T
    ds = p * (dp - np.sum(dp * p, axis=1, keepdims=True)) / math.sqrt(q.shape[1])
    return [ds @ k, ds.T @ q, p.T @ g]


def _var_other_correction(xs, ans, g, axis=None, correction=0, keepdims=False):
    x = xs[0]
    n = x.size // max(np.size(ans), 1)                  # the elements each output reduces
    centred = x - np.mean(x, axis=axis, keepdims=True)
    # the bug: divides by n - (1 - correction), the other convention's count
    return [expand(g, x.shape, axis, keepdims) * 2.0 * centred / (n - (1 - correction))]


TENSOR: tuple[Mutant, ...] = (
    Mutant("t-broadcast-unreduced", "broadcasting", "a broadcast operand's gradient is not summed back "
           "to its shape", lambda: _Backward(_not_reduced), None, ("mismatch",), options=TENSOR,
           ops=("add", "mul", "sub", "sum", "sin")),
    Mutant("t-broadcast-wrong-axis", "broadcasting", "a broadcast gradient summed over the trailing axes "
           "instead of the leading ones", lambda: _Backward(_wrong_axis), None, ("mismatch",), options=TENSOR,
           ops=("add", "mul", "sub", "sum", "sin")),
    Mutant("t-softmax-no-cross", "wrong rule", "softmax backward as y ⊙ g, without the cross term",
           _with_op("softmax", vjp=lambda xs, ans, g, axis=-1: [ans * g]), ("softmax",), options=TENSOR,
           ops=("softmax", "mul", "sum", "add", "exp")),
    Mutant("t-softmax-sparse-cotangent", "wrong rule", "softmax backward skips elements whose cotangent "
           "is 0, as if softmax were elementwise", _with_op("softmax", vjp=_softmax_sparse), ("softmax",),
           options=TENSOR, ops=("softmax", "mul", "sum", "add", "exp")),
    Mutant("t-matmul-no-transpose", "wrong rule", "matmul backward for the left operand as g @ b, "
           "not g @ bᵀ", _with_op("matmul", vjp=lambda xs, ans, g: [g @ xs[1], xs[0].T @ g]), ("matmul",),
           ("mismatch", "crash"), options=TENSOR, ops=("matmul", "transpose", "mul", "sum", "add")),
    Mutant("t-mean-undivided", "missing factor", "mean backward not divided by the count",
           _with_op("mean", vjp=_mean_undivided), ("mean",), options=TENSOR, ops=("mean", "mul", "sum", "add")),
    Mutant("t-where-nan-leak", "NaN leak", "where(c, sqrt(c), b) leaks sqrt'(c) = nan from the "
           "unselected branch", _leaky_engine, ("sqrt", "log", "where", "mul"), ("nonfinite",), options=TENSOR,
           ops=("where", "sqrt", "log", "mul", "sum", "add")),
    # at a tie the gradients must sum to the incoming one (split any way): giving each tied
    # element all of it makes max_reduce([x, x]) = x come out with gradient 2
    Mutant("t-max-ties-full", "tie convention", "max_reduce backward gives every tied element the "
           "full gradient, so ties get more than the incoming gradient", _with_op("max_reduce", vjp=_max_full),
           ("max_reduce",), options=TENSOR, ops=("max_reduce", "mul", "sum", "add")),
    # issue 17: the new ops' classic backward bugs
    Mutant("layer-norm-no-mean-term", "wrong rule", "layer_norm backward drops the mean term: the input "
           "gradient misses - mean(g·w), the path through the mean subtracted in the forward",
           _with_op("layer_norm", vjp=_layer_norm_no_mean), ("layer_norm",), options=TENSOR,
           ops=("layer_norm", "mul", "sum", "add", "sin")),
    Mutant("cross-entropy-no-onehot", "wrong rule", "cross_entropy backward as softmax(logits), without "
           "subtracting the one-hot of the targets", _with_op("cross_entropy", vjp=_cross_entropy_no_onehot),
           ("cross_entropy",), options=TENSOR, ops=("cross_entropy", "mul", "sum", "add", "exp")),
    Mutant("embedding-assign", "accumulation", "embedding backward assigns each looked-up row's gradient "
           "(=) instead of adding it (+=): a token that occurs twice loses all but one",
           _with_op("embedding", vjp=_embedding_assign), ("embedding",), options=TENSOR,
           ops=("embedding", "mul", "sum", "add", "sin")),
    # where a probability underflows, the oracles are undecided (a subnormal intermediate):
    # it is the overflow of the unshifted exp that shows, at inputs past 709 close together
    Mutant("log-softmax-naive", "overflow", "log_softmax computed as log(softmax(x)) with a naive softmax, "
           "exp(x) / Σ exp(x) without subtracting the max: NaN where exp overflows, -inf where a "
           "probability underflows",
           _with_op("log_softmax", forward=_log_softmax_naive, vjp=_log_softmax_naive_vjp), ("log_softmax",),
           ("nonfinite", "mismatch"), options=TENSOR, ops=("log_softmax", "mul", "sum", "add", "exp")),
    Mutant("attention-mask-leak", "wrong rule", "attention backward recomputes the probabilities without "
           "the causal mask: masked (future) keys and values get gradient",
           _with_op("attention", vjp=_attention_mask_leak), ("attention",), options=TENSOR,
           ops=("attention", "reshape", "mul", "sum", "add")),
    Mutant("var-wrong-correction", "missing factor", "var backward divides by the other correction's count "
           "(n - 1 where the forward used n, or n where it used n - 1)",
           _with_op("var", vjp=_var_other_correction), ("variance",), options=TENSOR,
           ops=("variance", "mul", "sum", "add", "sin")),
)
