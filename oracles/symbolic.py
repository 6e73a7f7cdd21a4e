"""SymPy's derivative, evaluated at 50 digits with mpmath; never touches the op partials.

SymPy's work (building the expression and differentiating it) is done once per expression
and cached; evaluation walks the SymPy tree with a memo (common sub-expressions are computed
once) into mpmath — no string is generated or executed.

SymPy's work is bounded: ``sympy.diff`` of a DAG with deep sharing grows exponentially (the
product rule copies each shared argument), so every public entry point runs under a time
limit (SIGALRM, in the main thread) and size caps, and any failure of SymPy's becomes an
``OracleError``: the judge then takes its mpmath witness instead, and the campaign goes on.
An expression that ran out of time or size once is not tried again.
"""
from __future__ import annotations

import functools
import signal
import threading
from collections import OrderedDict
from functools import lru_cache
from typing import Any, Mapping

from oracles.base import Estimate, OracleError
from verifier.floor.ir import Node, to_sympy, toposort, variables
from verifier.floor.mathns import precise
from verifier.floor.ops import Op
from verifier.floor.vocabulary import BUILTIN

__all__ = ["derivatives", "evaluate_sympy", "gradient", "hessian"]


@lru_cache(maxsize=1024)
def derivatives(out: Node, ops: Mapping[str, Op] = BUILTIN) -> tuple[Any, dict[str, Any]]:
    """(f, {var: df/dvar}) as SymPy expressions."""
    import sympy as sp  # SymPy takes a second to import: only when SymEngine could not answer

    f = to_sympy(out, ops)
    syms = {s.name: s for s in f.free_symbols}
    d = {v: sp.diff(f, syms[v]) if v in syms else sp.Integer(0) for v in variables(out)}
    _cap(d.values())
    return f, d


@lru_cache(maxsize=256)
def second_derivatives(out: Node, ops: Mapping[str, Op] = BUILTIN) -> dict[tuple[str, str], Any]:
    import sympy as sp  # heavy: see derivatives

    f, first = derivatives(out, ops)
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
        sp.erf: ctx.erf, sp.erfc: ctx.erfc, sp.asin: ctx.asin, sp.acos: ctx.acos, sp.asinh: ctx.asinh,
        sp.atan2: ctx.atan2,
        sp.csc: ctx.csc, sp.DiracDelta: lambda x: ctx.inf if x == 0 else ctx.mpf(0),
        # SymPy keeps re()/im() where it cannot prove a sub-expression real; it is real here
        sp.re: ctx.re, sp.im: ctx.im,
    }


_TABLES: dict[int, dict] = {}
_COMPARE = {"<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
            ">=": lambda a, b: a >= b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b}


def evaluate_sympy(expr, env: Mapping[str, Any], dps: int = 50):
    """Evaluate a SymPy expression over the reals at ``dps`` digits."""
    import sympy as sp  # heavy: see derivatives

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
        elif isinstance(e, sp.Piecewise):   # the first piece whose condition holds
            r = next((ev(v) for v, c in e.args if holds(c)), None)
            if r is None:
                raise OracleError("symbolic: no piece holds")
        else:
            raise OracleError(f"symbolic: cannot evaluate {type(e).__name__}")
        memo[e] = r
        return r

    def holds(c) -> bool:
        if c in (sp.true, sp.false):
            return bool(c)
        if not isinstance(c, sp.core.relational.Relational):
            raise OracleError(f"symbolic: cannot decide {type(c).__name__}")
        return bool(_COMPARE[c.rel_op](ev(c.lhs), ev(c.rhs)))

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


# ── limits on SymPy's work ──────────────────────────────────────────────────────────────
TIME_LIMIT = 5.0        # seconds per call (gradient, hessian); a 12-node case takes milliseconds
MAX_TERMS = 100_000     # distinct sub-expressions in a derivative
MAX_TREE = 4_000        # the expression unfolded into a tree, when no time limit can be set


class _TooBig(OracleError):
    """SymPy's work outgrew a limit: for this expression, at any point."""


class _Expired(BaseException):
    """The time limit; a BaseException so that no ``except Exception`` in SymPy swallows it."""


_ARMED = False
_OLD_HANDLER: Any = None
_GAVE_UP: "OrderedDict[Node, str]" = OrderedDict()


_OWN_CODE = ("sympy", "mpmath", "symengine", "oracles", "verifier")


def _expire(signum, frame):
    if _ARMED:  # a signal that lands while disarming is ignored: it may not escape
        # the alarm rings again shortly until the exception reaches ``_bounded``: raised in
        # someone else's gc callback or __del__ it would be swallowed (and printed), so it
        # is only raised in SymPy's code or ours, and a bare except cannot stop it for good
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        if frame is None or str(frame.f_globals.get("__name__", "")).startswith(_OWN_CODE):
            raise _Expired


def _arm(seconds: float) -> bool:
    """Start the time limit if this call can own it: the main thread, no alarm in use
    (ours, further out, or anyone else's)."""
    global _ARMED, _OLD_HANDLER
    if (_ARMED or not seconds or threading.current_thread() is not threading.main_thread()
            or signal.getitimer(signal.ITIMER_REAL)[0] > 0):
        return False
    _OLD_HANDLER = signal.signal(signal.SIGALRM, _expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    _ARMED = True   # last: until now a signal does nothing
    return True


def _cap(exprs) -> None:
    """Count distinct sub-expressions (a DAG walk: shared ones once), stopping at the cap."""
    seen: set = set()
    stack = list(exprs)
    while stack:
        e = stack.pop()
        if e in seen:
            continue
        seen.add(e)
        if len(seen) > MAX_TERMS:
            raise _TooBig(f"symbolic: SymPy's derivative has more than {MAX_TERMS} sub-expressions")
        stack.extend(e.args)


def _tree_size(out: Node, limit: int) -> int:
    tree: dict[Node, int] = {}
    for n in toposort(out):
        tree[n] = min(limit + 1, 1 + sum(tree[s] for s in n.src))
    return tree[out]


def _give_up(out: Node, why: str) -> None:
    _GAVE_UP[out] = why
    if len(_GAVE_UP) > 256:
        _GAVE_UP.popitem(last=False)


def _bounded(fn):
    """``fn(out, ...)`` under the limits above; every failure of it is an OracleError."""
    @functools.wraps(fn)
    def run(out: Node, *args, **kw):
        global _ARMED
        if out in _GAVE_UP:
            raise OracleError(_GAVE_UP[out])
        owner = False
        try:
            owner = _arm(TIME_LIMIT)
            if not owner and _tree_size(out, MAX_TREE) > MAX_TREE:
                raise _TooBig(f"symbolic: {MAX_TREE}+ nodes unfolded, and no time limit can be set here")
            return fn(out, *args, **kw)
        except _Expired:
            if not owner:    # a call inside an armed one: the alarm is the outer call's
                raise
            _ARMED = False   # no second alarm while this one is handled
            _give_up(out, f"symbolic: SymPy took more than {TIME_LIMIT:g} s")
            raise OracleError(_GAVE_UP[out]) from None
        except _TooBig as e:
            _give_up(out, str(e))
            raise
        except OracleError:
            raise
        except Exception as e:  # RecursionError, MemoryError, SymPy's own: no answer, not a crash
            raise OracleError(f"symbolic: SymPy failed ({type(e).__name__}: {str(e)[:120]})") from None
        finally:
            if owner:
                _ARMED = False   # first: from here on a late signal does nothing
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, _OLD_HANDLER)
    return run


def _fast():
    """The SymEngine backend when it is installed (see symengine_backend), else None."""
    try:
        from oracles import symengine_backend
    except ImportError:
        return None
    return symengine_backend


@_bounded
def gradient(out: Node, point: Mapping[str, float], dps: int = 50, backend: str = "auto",
             ops: Mapping[str, Op] = BUILTIN, bits: int | None = None) -> Estimate:
    """SymPy's derivative at the point, at ``dps`` digits; with ``bits``, SymEngine's on
    balls from that many bits (see symengine_backend.gradient); SymPy's own evaluation, the
    fallback, stays in mpmath."""
    fast = _fast() if backend in ("auto", "symengine") else None
    if fast is not None:
        try:
            return fast.gradient(out, point, dps, ops, bits)
        except fast.Unsupported:
            if backend == "symengine":
                raise
    f, d = derivatives(out, ops)
    return Estimate("symbolic", {v: evaluate_sympy(e, point, dps) for v, e in d.items()},
                    value=evaluate_sympy(f, point, dps), note="sympy")


@_bounded
def hessian(out: Node, point: Mapping[str, float], dps: int = 50, ops: Mapping[str, Op] = BUILTIN
            ) -> dict[tuple[str, str], Any]:
    fast = _fast()
    if fast is not None:
        try:
            return fast.hessian(out, point, dps, ops)
        except fast.Unsupported:   # a form SymEngine cannot differentiate (an engine's own Abs)
            pass
    return {k: evaluate_sympy(e, point, dps) for k, e in second_derivatives(out, ops).items()}
