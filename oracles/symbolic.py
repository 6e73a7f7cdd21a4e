"""SymPy's derivative, evaluated at 50 digits with mpmath; never touches the op partials.

SymPy's work (building the expression and differentiating it) is done once per expression
and cached; evaluation walks the SymPy tree with a memo (common sub-expressions are computed
once) into mpmath — no string is generated or executed.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Mapping

from verifier.ir import Node, to_sympy, variables
from verifier.mathns import precise

from .base import Estimate, OracleError

__all__ = ["derivatives", "evaluate_sympy", "gradient", "hessian"]


@lru_cache(maxsize=1024)
def derivatives(out: Node) -> tuple[Any, dict[str, Any]]:
    """(f, {var: df/dvar}) as SymPy expressions."""
    import sympy as sp

    f = to_sympy(out)
    syms = {s.name: s for s in f.free_symbols}
    return f, {v: sp.diff(f, syms[v]) if v in syms else sp.Integer(0) for v in variables(out)}


@lru_cache(maxsize=256)
def second_derivatives(out: Node) -> dict[tuple[str, str], Any]:
    import sympy as sp

    f, first = derivatives(out)
    syms = {s.name: s for s in f.free_symbols}
    names = variables(out)
    return {(a, b): sp.diff(first[a], syms[b]) if b in syms else sp.Integer(0)
            for a in names for b in names}


def _table(sp, ctx):
    def heaviside(x, h0=None):
        return ctx.mpf(1) if x > 0 else ctx.mpf(0) if x < 0 else (ctx.mpf(0.5) if h0 is None else h0)

    def maximum(*xs):
        return max(xs)

    def minimum(*xs):
        return min(xs)

    return {
        sp.exp: ctx.exp, sp.log: ctx.log, sp.sin: ctx.sin, sp.cos: ctx.cos, sp.tan: ctx.tan,
        sp.tanh: ctx.tanh, sp.atan: ctx.atan, sp.Abs: abs, sp.sign: ctx.sign,
        sp.Heaviside: heaviside, sp.Max: maximum, sp.Min: minimum,
        sp.cosh: ctx.cosh, sp.sinh: ctx.sinh, sp.sec: ctx.sec, sp.cot: ctx.cot,
        sp.csc: ctx.csc, sp.DiracDelta: lambda x: ctx.inf if x == 0 else ctx.mpf(0),
        # SymPy keeps re()/im() where it cannot prove a sub-expression real; it is real here
        sp.re: ctx.re, sp.im: ctx.im,
    }


_TABLES: dict[int, dict] = {}


def evaluate_sympy(expr, env: Mapping[str, Any], dps: int = 50):
    """Evaluate a SymPy expression over the reals at ``dps`` digits."""
    import sympy as sp

    m = precise(dps)
    ctx = m.ctx
    table = _TABLES.setdefault(dps, _table(sp, ctx))
    memo: dict[Any, Any] = {}

    def ev(e):
        hit = memo.get(e)
        if hit is not None:
            return hit
        if e.is_Symbol:
            r = ctx.mpf(env[e.name])
        elif e.is_Rational:
            r = ctx.mpf(e.p) / e.q
        elif e.is_Float:
            r = ctx.mpf(e)
        elif e is sp.pi:
            r = +ctx.pi
        elif e is sp.E:
            r = +ctx.e
        elif e.is_Add:
            r = ctx.fsum(ev(a) for a in e.args)
        elif e.is_Mul:
            r = ctx.fprod(ev(a) for a in e.args)
        elif e.is_Pow:
            b, x = ev(e.args[0]), e.args[1]
            if x.is_Integer:
                r = ctx.inf if (b == 0 and x < 0) else b ** int(x)
            else:
                r = m.pow(b, ev(x))
        elif e.func in table:
            r = table[e.func](*(ev(a) for a in e.args))
        else:
            raise OracleError(f"symbolic: cannot evaluate {type(e).__name__}")
        memo[e] = r
        return r

    with ctx.workdps(dps):
        try:
            r = ev(expr)
        except TypeError:  # an ordering asked of a complex intermediate
            raise OracleError("symbolic: a complex intermediate value") from None
    if not isinstance(r, ctx.mpf):
        raise OracleError("symbolic: a complex value")
    if ctx.isnan(r):  # SymPy's forms can be 0/0 at a kink: Abs' is re(w)·re(w)'/Abs(w)
        raise OracleError("symbolic: 0/0 in SymPy's form of the derivative")
    return r


def _fast():
    """The SymEngine backend when it is installed (see symengine_backend), else None."""
    try:
        from . import symengine_backend
    except ImportError:
        return None
    return symengine_backend


def gradient(out: Node, point: Mapping[str, float], dps: int = 50, backend: str = "auto") -> Estimate:
    fast = _fast() if backend in ("auto", "symengine") else None
    if fast is not None:
        return fast.gradient(out, point, dps)
    f, d = derivatives(out)
    return Estimate("symbolic", {v: evaluate_sympy(e, point, dps) for v, e in d.items()},
                    value=evaluate_sympy(f, point, dps), note="sympy")


def hessian(out: Node, point: Mapping[str, float], dps: int = 50) -> dict[tuple[str, str], Any]:
    fast = _fast()
    if fast is not None:
        return fast.hessian(out, point, dps)
    return {k: evaluate_sympy(e, point, dps) for k, e in second_derivatives(out).items()}
