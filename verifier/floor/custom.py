"""Ops an engine declares of its own (``custom_ops``): from a SymPy form to an op record.

An engine author writes what the op *is* — ``lambda sp, x: sp.log(1 + sp.exp(x))`` — and
adverify derives what it needs from that alone: the forward value and the partials, in every
math namespace (float64, complex for the complex step, high precision), by compiling the
SymPy form and its ``sympy.diff`` into closures over ``m``, exactly as the built-in table's
rules are written against ``m``. The form is the author's own code, run once, at load; no
text is ever parsed or evaluated.

A definition is checked before any campaign uses it (``compile_custom``): the form must
build, evaluate to finite numbers with finite partials at sample points of its domain, agree
with itself between float64 and 50 digits, and every declared kink must be where the form is
really not differentiable, with the one-sided partials it declares. A definition that fails
is one ``DefinitionError`` naming the op.

A record's ``fingerprint`` is a digest of what the definition says (the form, its
parameters, its domain and kinks at fixed probe points, its edges): a replay file stores it,
so replaying against a changed definition can say so.
"""
from __future__ import annotations

import hashlib
import inspect
import math
from dataclasses import dataclass, field, replace
from itertools import product
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from verifier.floor.mathns import F64, Precise, precise
from verifier.floor.ops import Kink, Op
from verifier.floor.running import units

__all__ = ["CustomOp", "DefinitionError", "compile_custom", "SAMPLES"]


class DefinitionError(ValueError):
    """A custom op whose definition cannot be used; the message names the op."""


@dataclass(frozen=True)
class CustomOp:
    """An op of the engine's own, in full (a bare SymPy form is the short way to write one).

    ``form``: ``(sp, *args) -> SymPy expression``; its argument names name the op's arguments.
    ``params``: names of arguments that are parameters: constant leaves, never differentiated
    (leaky_relu's slope). ``domain``: ``(*args) -> bool`` over floats; without it, the op is
    defined wherever its value and partials are finite. ``kinks``: ``Kink`` records, one per
    place the op is continuous but not differentiable (``switch(*args) == 0``), with the
    one-sided partials on each side. ``edges``: windows ``(lo, hi)`` of the first argument
    where floats break, for the generator to stress (or ``(L, P) -> windows``, L = ln(max),
    P = ln(1/eps) of the dtype, as the built-in table writes them)."""
    form: Callable[..., Any]
    params: Sequence[str] = ()
    domain: Callable[..., bool] | None = None
    kinks: Kink | Sequence[Kink] = ()
    edges: Any = None
    doc: str = ""
    # a user-facing extra: how the op is written in reports (default: name(x, ...))
    notation: Any = field(default=None, compare=False)


# points every definition is checked (and fingerprinted) at: spread, signed, some on 0
SAMPLES = (-2.5, -1.0, -0.5, -0.1, 0.0, 0.3, 0.7, 1.0, 1.9, 3.2)
_PARAM_SAMPLES = (0.1, 0.5, -0.5, 2.0)
# and where a fingerprint looks at the domain and kinks: farther out too
_FAR = tuple(sorted(SAMPLES + (-1e3, -30.0, -10.0, -5.0, 5.0, 10.0, 30.0, 1e3)))
_NONSMOOTH = ("Abs", "Max", "Min", "Heaviside", "sign", "Piecewise", "floor", "ceiling")


def compile_custom(name: str, definition: Any) -> tuple[Op, str]:
    """The op record for ``definition`` (a form or a ``CustomOp``) and its fingerprint;
    a ``DefinitionError`` that names the op when the definition cannot be used."""
    if not isinstance(name, str) or not name.isidentifier():
        raise DefinitionError(f"custom op name {name!r} must be an identifier")
    spec = definition if isinstance(definition, CustomOp) else CustomOp(definition)
    if not callable(spec.form):
        raise DefinitionError(f"custom op {name!r}: its definition must be a SymPy form "
                              f"(a function of sp and the arguments) or verifier.CustomOp, not {type(spec.form).__name__}")
    import sympy as sp  # heavy: imported only when an engine declares ops of its own

    names = _argument_names(name, spec.form)
    params = tuple(spec.params)
    unknown = [p for p in params if p not in names]
    if unknown:
        raise DefinitionError(f"custom op {name!r}: parameter {unknown[0]!r} is not an argument of its form "
                              f"({', '.join(names)})")
    if len(params) == len(names):
        raise DefinitionError(f"custom op {name!r}: every argument is a parameter; nothing to differentiate")
    symbols = tuple(sp.Symbol(f"_{a}", real=True) for a in names)
    try:
        expr = spec.form(sp, *symbols)
        if isinstance(expr, int) and not isinstance(expr, bool):   # a constant form: no text is ever parsed
            expr = sp.Integer(expr)
        elif isinstance(expr, float):
            expr = sp.Float(expr)
    except Exception as e:
        raise DefinitionError(f"custom op {name!r}: its form failed to build: {type(e).__name__}: {e}") from None
    if not isinstance(expr, sp.Expr) or not expr.free_symbols <= set(symbols):
        raise DefinitionError(f"custom op {name!r}: its form must be a SymPy expression in its arguments "
                              f"({', '.join(names)}) only")
    kinks = (spec.kinks,) if isinstance(spec.kinks, Kink) else tuple(spec.kinks)
    if not all(isinstance(k, Kink) for k in kinks):
        raise DefinitionError(f"custom op {name!r}: kinks must be verifier.Kink records")
    nonsmooth = sorted({type(e).__name__ for e in sp.preorder_traversal(expr)} & set(_NONSMOOTH))
    if nonsmooth and not kinks:
        raise DefinitionError(f"custom op {name!r}: its form uses {nonsmooth[0]}, which is not differentiable "
                              "everywhere: declare where with kinks=(verifier.Kink(switch, left, right), ...)")
    derivatives = [None if a in params else sp.diff(expr, s) for a, s in zip(names, symbols)]
    value = _stable(name, _compile(name, expr, symbols))
    diff = tuple(None if d is None else _stable(name, _compile(name, d, symbols)) for d in derivatives)
    # how far a float engine evaluating the form as written may be off (floor.running): the
    # form without the log1p/expm1 rewrites, since that is what an engine computes from it
    as_written = [None if d is None else _compile(name, d, symbols, rewrite=False) for d in derivatives]
    written_value = _compile(name, expr, symbols, rewrite=False)
    # the partials ignore ``ans``: they are the form's own derivative, at the arguments
    partials = tuple(None if d is None else (lambda d: lambda m, *xs: d(m, *xs[:-1]))(d) for d in diff)
    domain = spec.domain or _finite_everywhere(value, diff)
    # the record's SymPy builder is the form itself: the symbolic oracles call it with SymPy,
    # or with a SymEngine namespace that answers the same names
    op = Op(name, spec.form, value, partials, domain=_guarded(name, domain),
            where="as the engine declares it" if spec.domain else "where its value and partials are finite",
            rule_rounding=tuple(None if f is None else (lambda f: lambda m, *xs: units(f, *xs))(f) for f in as_written),
            value_rounding=lambda m, *xs: units(written_value, *xs[:-1]),
            kink=_joined([replace(k, linear=False) for k in kinks]) if kinks else None,
            edges=_edges(name, spec.edges), doc=spec.doc or f"declared by the engine: {sp.sstr(expr)}",
            **({"notation": spec.notation} if spec.notation is not None else {}))
    _check(name, op, names, params, kinks)
    return op, _fingerprint(expr, names, params, op, kinks)


def _argument_names(name: str, form: Callable) -> tuple[str, ...]:
    try:
        parameters = list(inspect.signature(form).parameters.values())
    except (TypeError, ValueError):
        raise DefinitionError(f"custom op {name!r}: cannot read its form's arguments") from None
    if len(parameters) < 2 or any(p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in parameters):
        raise DefinitionError(f"custom op {name!r}: its form must take sp and then one named argument per "
                              "operand, e.g. lambda sp, x: sp.log(1 + sp.exp(x))")
    return tuple(p.name for p in parameters[1:])


# ── compiling a SymPy expression into a function of (m, *args) ───────────────────────────
def _compile(name: str, expr, symbols: tuple, rewrite: bool = True) -> Callable[..., Any]:
    """``expr`` as nested closures over a math namespace ``m``: one walk of the tree at
    load, none per call. Elementwise on numpy arrays in F64 (tensor mode lifts the op)."""
    import sympy as sp

    index = {s: i for i, s in enumerate(symbols)}
    memo: dict[Any, Callable] = {}

    def build(e) -> Callable:
        hit = memo.get(e)
        if hit is None:
            hit = memo[e] = node(e)
        return hit

    def node(e) -> Callable:
        if e in index:
            i = index[e]
            return lambda m, xs: xs[i]
        if e.is_Number or e.is_NumberSymbol:
            return _number(e)
        if isinstance(e, sp.Piecewise):
            return _piecewise(name, e, build)
        stable = _cancelling(e, build) if rewrite else None
        if stable is not None:
            return stable
        args = [build(a) for a in e.args]
        if e.is_Add:
            return lambda m, xs: _fold(lambda a, b: a + b, (f(m, xs) for f in args))
        if e.is_Mul:
            return lambda m, xs: _fold(lambda a, b: a * b, (f(m, xs) for f in args))
        if e.is_Pow:
            return _power(e.args[1], *args)
        if isinstance(e, sp.exp):
            return lambda m, xs: m.exp(args[0](m, xs))
        return _function(name, type(e).__name__, args)

    root = build(expr)     # now: an op it cannot evaluate is an error at load, not mid-campaign
    return lambda m, *xs: root(m, xs)


MAX_DPS = 1600


def _stable(name: str, f: Callable[..., Any]) -> Callable[..., Any]:
    """``f`` whose high-precision value holds all the digits asked for. The built-in table
    writes each op in a form that does not cancel (log1p, not log(1 + x)); a user's form is
    written as it reads, and log(1 + e^x) at x = -164 is 0 at 50 digits. So a value is
    computed again at twice the digits until two agree to a quarter of them, up to MAX_DPS."""
    def stable(m, *xs):
        if not isinstance(m, Precise):
            return f(m, *xs)
        dps, low = m.dps, f(m, *xs)
        while dps < MAX_DPS:
            dps *= 2
            deeper = precise(dps)
            high = f(deeper, *(deeper.ctx.mpf(x) for x in xs))
            # an exact 0 may be all that is left of a cancellation: it is trusted only at MAX_DPS
            if not deeper.ctx.isfinite(high) or high != 0 and abs(high - low) <= abs(high) * deeper.ctx.mpf(10) ** (-dps // 4):
                break
            low = high
        return m.ctx.mpf(high)      # at MAX_DPS: the most digits there are
    return stable


def _cancelling(e, build: Callable) -> Callable | None:
    """log(1 + u) as log1p(u) and e^u - 1 as expm1(u): the forms a person writes for
    them cancel in float64 (and in the complex step) for small u."""
    import sympy as sp

    if isinstance(e, sp.log) and e.args[0].is_Add and sp.S.One in e.args[0].args:
        u = build(e.args[0] - 1)
        return lambda m, xs: m.log1p(u(m, xs))
    if e.is_Add and sp.S.NegativeOne in e.args:
        power = next((a for a in e.args if isinstance(a, sp.exp)), None)
        if power is not None:
            u, rest = build(power.args[0]), [build(a) for a in e.args if a is not power and a != -1]
            return lambda m, xs: _fold(lambda a, b: a + b, [m.expm1(u(m, xs)), *(r(m, xs) for r in rest)])
    return None


def _fold(f: Callable, values: Iterable) -> Any:
    it = iter(values)
    acc = next(it)
    for v in it:
        acc = f(acc, v)
    return acc


def _number(e) -> Callable:
    if e.is_Integer:
        n = int(e)
        return lambda m, xs: m.float(n)
    if e.is_Rational:
        p, q = int(e.p), int(e.q)
        return lambda m, xs: m.float(p) / m.float(q)    # exact at high precision
    text = str(e.evalf(60))      # pi, E, a Float: 60 digits, as many as any namespace keeps
    return lambda m, xs: m.float(text)


def _power(exponent, base: Callable, power: Callable) -> Callable:
    if exponent.is_Integer:
        k = int(exponent)
        if k == 2:
            return lambda m, xs: (lambda b: b * b)(base(m, xs))
        return lambda m, xs: _integer_power(m, base(m, xs), k)
    if exponent.is_Rational and (exponent.p, exponent.q) == (1, 2):
        return lambda m, xs: m.sqrt(base(m, xs))
    return lambda m, xs: m.pow(base(m, xs), power(m, xs))


def _integer_power(m, b, k: int):
    one = m.float(1)
    if k < 0:
        return one / _integer_power(m, b, -k)
    r = one
    for _ in range(k):
        r = r * b
    return r


# SymPy's function name -> the namespace's; only these names, never text from outside
_FUNCTIONS = {"log": "log", "sin": "sin", "cos": "cos", "tan": "tan", "tanh": "tanh", "atan": "atan",
              "sinh": "sinh", "cosh": "cosh", "asin": "asin", "acos": "acos", "asinh": "asinh",
              "atan2": "atan2", "erf": "erf", "Abs": "abs", "sign": "sign", "Heaviside": "step",
              "Max": "maximum", "Min": "minimum"}


def _function(name: str, kind: str, args: list[Callable]) -> Callable:
    if kind not in _FUNCTIONS or not all(hasattr(m, _FUNCTIONS[kind]) for m in (F64, precise(50))):
        raise DefinitionError(f"custom op {name!r}: its form uses {kind}, which adverify cannot evaluate "
                              f"(it can: exp, {', '.join(sorted(_evaluable()))}, +, *, powers, Piecewise)")
    attr = _FUNCTIONS[kind]
    if kind in ("Max", "Min"):
        return lambda m, xs: _fold(getattr(m, attr), (f(m, xs) for f in args))
    if kind == "Heaviside":   # Heaviside(x, h0): the value at 0 is a kink's business, not the form's
        return lambda m, xs: m.step(args[0](m, xs))
    return lambda m, xs: getattr(m, attr)(*(f(m, xs) for f in args))


def _evaluable() -> list[str]:
    return [k for k, attr in _FUNCTIONS.items() if all(hasattr(m, attr) for m in (F64, precise(50)))]


def _piecewise(name: str, e, build: Callable) -> Callable:
    pieces = [(build(value), _condition(name, cond, build)) for value, cond in e.args]

    def choose(m, xs):
        values = [(v(m, xs), c(m, xs)) for v, c in pieces]
        out = values[-1][0]
        for v, c in reversed(values[:-1]):      # the first true condition wins
            out = np.where(c, v, out) if isinstance(c, np.ndarray) else (v if c else out)
        return out
    return choose


_RELATIONS = {"StrictGreaterThan": np.greater, "GreaterThan": np.greater_equal,
              "StrictLessThan": np.less, "LessThan": np.less_equal,
              "Equality": np.equal, "Unequality": np.not_equal}


def _condition(name: str, cond, build: Callable) -> Callable:
    kind = type(cond).__name__
    if kind == "BooleanTrue":
        return lambda m, xs: True
    if kind in ("And", "Or"):
        parts = [_condition(name, c, build) for c in cond.args]
        join = np.logical_and if kind == "And" else np.logical_or
        return lambda m, xs: _fold(join, (c(m, xs) for c in parts))
    if kind in _RELATIONS:
        relation, lhs, rhs = _RELATIONS[kind], build(cond.args[0]), build(cond.args[1])
        # a complex step perturbs the imaginary part only: compare the real parts
        return lambda m, xs: relation(_real(lhs(m, xs)), _real(rhs(m, xs)))
    raise DefinitionError(f"custom op {name!r}: cannot evaluate the Piecewise condition {cond}")


def _real(v):
    return v.real if isinstance(v, complex) or np.iscomplexobj(v) else v


# ── the rest of the record ───────────────────────────────────────────────────────────────
def _finite_everywhere(value: Callable, diff: tuple) -> Callable[..., bool]:
    """The derived domain: where the value and every partial are finite numbers."""
    def domain(*xs) -> bool:
        with np.errstate(all="ignore"):
            try:
                xs = tuple(np.float64(x) for x in xs)     # the oracles ask with high-precision numbers
                return all(math.isfinite(float(f(F64, *xs))) for f in (value, *(d for d in diff if d)))
            except (ValueError, TypeError, OverflowError, ZeroDivisionError):
                return False
    return domain


def _guarded(name: str, domain: Callable[..., bool]) -> Callable[..., bool]:
    """The user's domain, whose failure is a point outside it, not a crash of the campaign."""
    def inside(*xs) -> bool:
        try:
            return bool(domain(*xs))
        except Exception:
            return False
    inside.__doc__ = f"domain of {name}"
    return inside


def _joined(kinks: list[Kink]) -> Kink:
    """One record for several kinks: the switch of the nearest one, with its sides (each
    kink's switch is zero on its own kink set; the nearest decides which set a point is on)."""
    if len(kinks) == 1:
        return kinks[0]

    def nearest(xs) -> Kink:
        return min(kinks, key=lambda k: abs(float(k.switch(*xs))))
    return Kink(lambda *xs: nearest(xs).switch(*xs), lambda *xs: nearest(xs).sides(*xs)[0],
                lambda *xs: nearest(xs).sides(*xs)[1], linear=False,
                where=" and ".join(k.where for k in kinks if k.where))


def _edges(name: str, edges: Any) -> Callable | None:
    if edges is None:
        return None
    if callable(edges):
        return edges
    try:
        windows = tuple((float(lo), float(hi)) for lo, hi in edges)
    except (TypeError, ValueError):
        raise DefinitionError(f"custom op {name!r}: edges must be (lo, hi) windows of its first argument") from None
    if not all(math.isfinite(lo) and math.isfinite(hi) and lo < hi for lo, hi in windows):
        raise DefinitionError(f"custom op {name!r}: each edge window must be finite with lo < hi")
    return lambda L, P: windows


def _probes(names: tuple[str, ...], params: tuple[str, ...], values: tuple[float, ...] = SAMPLES
            ) -> list[tuple[float, ...]]:
    """Sample points: every argument over ``values``, parameters over their own few values;
    at most a few hundred."""
    axes = [_PARAM_SAMPLES if a in params else values for a in names]
    points = list(product(*axes))
    step = max(1, len(points) // 400)
    return points[::step]


def _check(name: str, op: Op, names: tuple[str, ...], params: tuple[str, ...], kinks: tuple[Kink, ...]) -> None:
    inside = [xs for xs in _probes(names, params) if op.domain(*xs)]
    if not inside:
        raise DefinitionError(f"custom op {name!r}: no sample point is inside its domain "
                              f"(tried {names[0]} from {SAMPLES[0]} to {SAMPLES[-1]})")
    hp = precise(50)
    for xs in inside:
        on_kink = op.kink is not None and float(op.kink.switch(*xs)) == 0
        with np.errstate(all="ignore"):
            try:
                low, high = float(op.forward(F64, *xs)), op.forward(hp, *map(hp.float, xs))
                slopes = [None if p is None else float(p(F64, *xs, low)) for p in op.partials]
            except ArithmeticError:     # 1/0 at high precision: a pole inside the domain
                low, slopes = math.inf, []
            except Exception as e:
                raise DefinitionError(f"custom op {name!r}: evaluating it at {_at(names, xs)} failed: "
                                      f"{type(e).__name__}: {e}") from None
        if not math.isfinite(low) or any(s is not None and not math.isfinite(s) and not on_kink for s in slopes):
            raise DefinitionError(f"custom op {name!r}: its value or a partial is not finite at {_at(names, xs)}, "
                                  "inside its domain: give a domain that excludes it")
        if abs(low - float(high)) > 1e-9 * max(1.0, abs(low)):
            raise DefinitionError(f"custom op {name!r}: float64 and 50-digit values differ at {_at(names, xs)}")
    for k in kinks:
        _check_kink(name, op, names, params, k, inside)


KINK_CHECKS = 24     # points of a kink checked: every parameter value sampled, a few places each


def _check_kink(name: str, op: Op, names, params, kink: Kink, inside: list[tuple]) -> None:
    """The kink is where the form is not differentiable, with the declared sides: at
    points of the kink, found by bisection along the first differentiable argument, the
    form's one-sided difference quotients (50 digits, steps of 2^-30) must match ``left``
    on the side where the switch is negative and ``right`` where it is positive."""
    i = next(j for j, a in enumerate(names) if a not in params)
    hp = precise(50)
    checked = 0
    for xs in inside:
        point = _root(kink, xs, i)
        if point is None or not op.domain(*point) or checked >= KINK_CHECKS:
            continue
        checked += 1
        left, right = kink.sides(*point)
        at = op.forward(hp, *map(hp.float, point))
        for j, a in enumerate(names):
            for step in () if a in params else (2.0 ** -30, -2.0 ** -30):
                moved = list(point)
                moved[j] += step
                s = float(kink.switch(*moved))
                if s == 0:
                    continue     # a step along the kink set: neither side
                want = float((left if s < 0 else right)[j])
                q = float((op.forward(hp, *map(hp.float, moved)) - at) / hp.float(step))
                if abs(q - want) > 1e-6 * max(1.0, abs(q)):
                    raise DefinitionError(
                        f"custom op {name!r}: at its kink ({_at(names, point)}) the form's one-sided partial "
                        f"d/d{a} is {q:.6g} where the switch is {'negative' if s < 0 else 'positive'}, "
                        f"but the kink declares {want:.6g}")
        if all(float(a) == float(b) for j, (a, b) in enumerate(zip(left, right)) if names[j] not in params):
            raise DefinitionError(f"custom op {name!r}: its kink at {_at(names, point)} has the same partials on "
                                  "both sides: the form is differentiable there; remove the kink")
    if not checked:
        raise DefinitionError(f"custom op {name!r}: no point of its domain lies on its declared kink "
                          f"(searched along {names[i]} between -10 and 10)")


def _root(kink: Kink, xs: tuple, i: int) -> tuple | None:
    """A point with switch exactly 0, varying argument ``i`` in [-10, 10], or None."""
    def s(t: float) -> float:
        moved = list(xs)
        moved[i] = t
        return float(kink.switch(*moved))
    lo, hi = -10.0, 10.0
    if s(lo) == 0 or s(hi) == 0:
        t = lo if s(lo) == 0 else hi
    elif (s(lo) < 0) == (s(hi) < 0):
        return None
    else:
        for _ in range(200):
            mid = (lo + hi) / 2
            if s(mid) == 0 or mid in (lo, hi):
                break
            lo, hi = (mid, hi) if (s(mid) < 0) == (s(lo) < 0) else (lo, mid)
        t = mid
        if s(t) != 0:
            return None
    moved = list(xs)
    moved[i] = t
    return tuple(moved)


def _at(names, xs) -> str:
    return ", ".join(f"{a} = {float(v):.6g}" for a, v in zip(names, xs))


def _fingerprint(expr, names, params, op: Op, kinks: tuple[Kink, ...]) -> str:
    """What the definition says, digested: the form (SymPy's canonical text of the
    expression, with the arguments renamed to their positions), the parameters, and the
    domain, kinks and edges at fixed probe points (functions cannot be compared as code)."""
    import sympy as sp

    renamed = expr.xreplace({s: sp.Symbol(f"a{k}", real=True) for k, s in enumerate(sorted(expr.free_symbols, key=str))})
    parts = [sp.srepr(renamed), repr(tuple(names.index(p) for p in params)), str(len(names))]
    for xs in _probes(names, params, _FAR):
        parts.append("1" if op.domain(*xs) else "0")
        for k in kinks:
            parts.append(repr(float(k.switch(*xs))))
            parts.append(repr(tuple(map(float, sum(k.sides(*xs), ())))))
    if op.edges:
        parts.append(repr(op.edges(709.78, 36.04)))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]
