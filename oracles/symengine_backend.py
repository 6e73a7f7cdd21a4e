"""The symbolic oracle on SymEngine: SymPy's job, three orders of magnitude faster.

SymEngine (the C++ core of the SymPy project) differentiates what SymPy does, but leaves
Abs and Max unevaluated. Every kinked op of our table is linear on each side of its kink
(``Kink.linear``), so at a given point it is replaced by the piece that holds there (exactly
at a kink, the right-hand piece — a one-sided derivative the judge's interval contains): the
sum of its arguments times the one-sided partials there. Only forward values decide the
piece: the derivative itself is SymEngine's, never the op table's. A kinked op that is not
piecewise linear (an engine's own) keeps its SymPy form; one SymEngine cannot differentiate
(Abs) raises ``Unsupported``, and the symbolic oracle asks SymPy instead.
"""
from __future__ import annotations

from contextlib import nullcontext
from functools import lru_cache
from typing import Any, Mapping

import symengine as se

from oracles.base import Estimate, OracleError
from oracles.enclosure import CAP, narrow
from verifier.floor.ir import Node, evaluate, toposort, variables
from verifier.floor.mathns import ball, midpoint, precise
from verifier.floor.ops import Op
from verifier.floor.vocabulary import BUILTIN

__all__ = ["gradient", "hessian", "derivatives", "Unsupported"]


class Unsupported(OracleError):
    """A form SymEngine cannot build or differentiate: SymPy may."""


class _SymEngine:
    """The namespace an op's SymPy builder is given (``sp.exp``, ``sp.erf``, ...), answered by
    SymEngine's function of the same name: no op is listed here."""

    def __getattr__(self, name: str) -> Any:
        if name in ("Abs", "Max", "Min", "Heaviside", "sign"):   # linear kinks are resolved to a piece first
            raise Unsupported(f"symengine: unresolved {name}")
        try:
            return getattr(se, name)
        except AttributeError:
            raise Unsupported(f"symengine has no {name}") from None


_NAMESPACE = _SymEngine()


def _pieces(out: Node, point: Mapping[str, float], dps: int, ops: Mapping[str, Op], bits: int | None = None) -> tuple:
    """The piece every linearly kinked node stands for at the point: its coefficients, one
    per argument (the one-sided partials on the switch's side: the right one at 0).

    Decided at the digits the derivative is then evaluated at (the judge passes the paths
    oracle's stable precision, which covers the values' dynamic range). At a fixed 50 digits
    1 + x at x = 1e83 rounds to x, maximum(x, 1 + x) looked like a tie, and its right-hand
    piece x stood in for 1 + x: not a one-sided derivative but another function, whose
    cos(x) is an unrelated number; and sin(tan(tan(x/z))) at x = -4e299 came out with the
    wrong sign, so abs took the wrong piece outright. With ``bits``, on balls (a switch whose
    ball holds 0 is a tie the enclosure has found: either piece is one of its sides)."""
    m = precise(dps) if bits is None else ball(bits)
    with (m.working() if bits is not None else nullcontext()):
        values = evaluate(out, point, m, ops=ops)
    pieces = []
    for n in toposort(out):
        if n.is_leaf:
            continue
        args = [values[s] for s in n.src]
        kink = ops[n.op].kink
        if kink is not None and kink.linear:
            side = kink.sides(*args)[int(kink.switch(*args) >= 0)]
            # the coefficients are floats (0, ±1, a constant's slope): exact as floats
            pieces.append(tuple(float(c) for c in side))
        elif _branched(n, ops):
            pieces.append(_atan2_branch(*args))
    return tuple(pieces)


# SymEngine's atan2 simplifies through sign(), which crashes the process on sign(sqrt(-x))
# (atan2(sqrt(-x), sqrt(-x)), symengine 0.15). So the built-in atan2 is written, at each
# point, as atan plus the constant of its quadrant there: the same value and derivative.
def _branched(n: Node, ops: Mapping[str, Op]) -> bool:
    return n.op == "atan2" and ops[n.op] is BUILTIN[n.op]


def _atan2_branch(y, x) -> str:
    if x == 0:
        return "up" if y > 0 else "down"
    return "right" if x > 0 else "left-up" if y >= 0 else "left-down"


def _atan2(branch: str, y, x):
    if branch in ("up", "down"):
        return (1 if branch == "up" else -1) * se.pi / 2 - se.atan(x / y)
    turn = {"right": 0, "left-up": se.pi, "left-down": -se.pi}[branch]
    return se.atan(y / x) + turn


def _exact(c: float):
    return se.Rational(*float(c).as_integer_ratio())   # 1.0 would make SymEngine floats


@lru_cache(maxsize=2048)
def derivatives(out: Node, pieces: tuple, ops: Mapping[str, Op] = BUILTIN) -> tuple[Any, dict[str, Any]]:
    memo: dict[Node, Any] = {}
    it = iter(pieces)
    for n in toposort(out):
        if n.op == "var":
            memo[n] = se.Symbol(n.arg)
        elif n.op == "const":
            memo[n] = _exact(n.arg)
        else:
            op = ops[n.op]
            args = [memo[s] for s in n.src]
            if op.kink is not None and op.kink.linear:
                memo[n] = sum((_exact(c) * a for c, a in zip(next(it), args) if c), se.Integer(0))
            elif _branched(n, ops):
                memo[n] = _atan2(next(it), *args)
            else:   # smooth, or kinked but not piecewise linear: the op's own form
                memo[n] = op.sympy(_NAMESPACE, *args)
    f = memo[out]
    return f, {v: f.diff(se.Symbol(v)) for v in variables(out)}


def _function(ctx, kind: str):
    """mpmath's function for a SymEngine function node, by its name (sin, atanh, erf, ...):
    SymEngine writes the derivative with whichever functions it needs, and mpmath names
    the elementary and special functions alike. Only names of SymEngine's own classes reach
    here, never text from outside."""
    fn = getattr(ctx, kind.lower(), None) if isinstance(getattr(se, kind, None), type) else None
    if fn is None or not callable(fn):
        raise Unsupported(f"symengine: cannot evaluate {kind}")
    return fn


_RELATIONS = {"StrictLessThan": lambda a, b: a < b, "LessThan": lambda a, b: a <= b,
              "Equality": lambda a, b: a == b, "Unequality": lambda a, b: a != b}


def evaluate_symengine(expr, env: Mapping[str, Any], dps: int, m: Any = None) -> Any:
    """``expr`` at ``env``, in mpmath at ``dps`` digits, or on balls: ``m`` a ball namespace
    (the caller holds its working precision)."""
    m = m or precise(dps)
    ctx = m.ctx
    memo: dict[Any, Any] = {}

    def ev(e):
        hit = memo.get(e)
        if hit is not None:
            return hit
        kind = type(e).__name__
        if kind == "Symbol":
            r = ctx.mpf(env[str(e)])
        elif kind in ("Integer", "Rational", "Zero", "One", "NegativeOne", "Half"):
            p, q = e.get_num_den() if hasattr(e, "get_num_den") else (int(e), 1)
            r = ctx.mpf(int(p)) / int(q)
        elif kind == "RealDouble":
            r = ctx.mpf(float(e))
        elif e == se.E:
            r = +ctx.e
        elif e == se.pi:
            r = +ctx.pi
        elif kind == "Add":
            r = ctx.fsum(ev(a) for a in e.args)
        elif kind == "Mul":
            r = ctx.fprod(ev(a) for a in e.args)
        elif kind == "Piecewise":   # (value, condition, value, condition, ...): the first true one
            args = e.args
            r = next((ev(v) for v, c in zip(args[::2], args[1::2]) if truth(c)), None)
            if r is None:
                raise OracleError("symengine: no piece holds")
        elif kind == "Pow":
            b, x = e.args
            if b == se.E:
                r = ctx.exp(ev(x))
            elif type(x).__name__ in ("Integer", "NegativeOne", "One", "Zero"):
                bv, k = ev(b), int(x)
                r = ctx.inf if (bv == 0 and k < 0) else bv ** k
            else:
                r = m.pow(ev(b), ev(x))
        else:
            r = _function(ctx, kind)(*(ev(a) for a in e.args))
        memo[e] = r
        return r

    def truth(c) -> bool:
        kind = type(c).__name__
        if kind in ("BooleanTrue", "BooleanFalse"):
            return kind == "BooleanTrue"
        if kind not in _RELATIONS:
            raise OracleError(f"symengine: cannot decide {kind}")
        return _RELATIONS[kind](ev(c.args[0]), ev(c.args[1]))

    with ctx.workdps(dps):
        try:
            r = ev(expr)
        except (TypeError, ZeroDivisionError, ValueError, OverflowError) as err:
            raise OracleError(f"symengine: {type(err).__name__} while evaluating") from None
    if not isinstance(r, ctx.mpf) or ctx.isnan(r):
        raise OracleError("symengine: no real value")
    if getattr(m, "rigorous", False) and not r.is_finite():
        raise OracleError("symengine: no finite enclosure")
    return r


def gradient(out: Node, point: Mapping[str, float], dps: int = 50, ops: Mapping[str, Op] = BUILTIN,
             bits: int | None = None) -> Estimate:
    """SymEngine's derivative at the point, in mpmath at ``dps`` digits; or, given ``bits``,
    on balls from that many bits up, doubled until narrow (``enclosure.CAP`` at most): the
    estimate's values are then the balls' midpoints (mpmath numbers at ``dps``) and its
    ``error`` their radii — an enclosure of SymPy's derivative, independent of the op table."""
    f, d = derivatives(out, _pieces(out, point, dps, ops, bits), ops)
    if bits is not None:
        try:
            return _on_balls(f, d, point, dps, bits)
        except OracleError:
            pass   # a form Arb gives no finite ball for (exp of 1e57 inside it): mpmath's digits
    return Estimate("symbolic", {v: evaluate_symengine(e, point, dps) for v, e in d.items()},
                    value=evaluate_symengine(f, point, dps), note="symengine")


def _on_balls(f, d, point: Mapping[str, float], dps: int, bits: int) -> Estimate:
    prec = bits
    while True:
        m = ball(prec)
        with m.working():
            grads = {v: evaluate_symengine(e, point, dps, m) for v, e in d.items()}
            value = evaluate_symengine(f, point, dps, m)
        if prec >= CAP or all(narrow(b) for b in (value, *grads.values())):
            break
        prec = min(2 * prec, CAP)
    mp = precise(dps)
    return Estimate("symbolic", {v: midpoint(b, mp) for v, b in grads.items()}, value=midpoint(value, mp),
                    error={v: mp.ctx.mpf(b.rad()._mpf_) for v, b in grads.items()},
                    note=f"symengine, {prec}-bit balls")


def hessian(out: Node, point: Mapping[str, float], dps: int = 50, ops: Mapping[str, Op] = BUILTIN
            ) -> dict[tuple[str, str], Any]:
    f, d = derivatives(out, _pieces(out, point, dps, ops), ops)
    names = variables(out)
    return {(a, b): evaluate_symengine(d[a].diff(se.Symbol(b)), point, dps) for a in names for b in names}
