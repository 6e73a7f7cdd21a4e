"""THE op table: every op's SymPy form, forward, local partials, domain and kinks.

One record per op. Forward and partials are written once against a math namespace ``m``
(see ``mathns``) so they run in float64, complex128, high precision and on Tensors. A partial
receives the op's arguments and its output ``ans`` (HIPS autograd style: ``exp`` returns
``ans``). ``None`` in place of a partial marks a parameter: an argument that must be a
constant leaf and is never differentiated (the exponent of ``pow``).

The table feeds the generator, the path-product oracle and the builtin engine. The symbolic
and numeric oracles use only ``sympy`` and ``forward``, never the partials: that independence
is what lets a wrong rule here show up as an oracle disagreement instead of hiding.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

from verifier.floor.mathns import is_integer

__all__ = ["Op", "Kink", "Notation", "OPS", "SCALAR_OPS", "get_op", "UnknownOp", "ATOM", "FRAC", "POW", "NEG", "MUL", "ADD", "LOW"]


class UnknownOp(ValueError):
    pass


@dataclass(frozen=True)
class Kink:
    """Where an op is continuous but not differentiable: ``switch(*args) == 0``.

    ``left``/``right`` are the partials on each side (switch < 0, switch > 0). Any convex
    combination of them is an acceptable local derivative exactly at the kink.
    """

    switch: Callable[..., Any]
    left: tuple[float, ...]
    right: tuple[float, ...]


def _always(*args) -> bool:
    return True


# How tightly a written form binds, in text (ir.show) and in mathematics (report.mathml):
# an argument that binds less than its place needs is put in parentheses.
ATOM, FRAC, POW, NEG, MUL, ADD, LOW = 9, 8, 4, 3, 2, 1, 0


@dataclass(frozen=True)
class Notation:
    """How an op is written. The default is a call, ``name(x, y)``; the arithmetic ops are
    operators. ``math`` names the shape of the formula (report.mathml draws each shape once):
    call, infix, prefix, frac (a fraction), power (a superscript), exp (e to the power),
    radical, bars (|x|)."""
    text: str = ""                # operator in text (" + "); "" writes a call
    math: str = "call"
    symbol: str = ""              # the operator's symbol in mathematics, or the called name
    binds: int = ATOM             # how tightly the written form binds
    right: int = ATOM             # what the right operand must bind at least (infix)
    text_binds: int | None = None  # in text, where it differs (x/y is a fraction only in print)

    @property
    def text_strength(self) -> int:
        return self.binds if self.text_binds is None else self.text_binds


_CALL = Notation()


@dataclass(frozen=True)
class Op:
    name: str
    sympy: Callable[..., Any]                       # (sp, *args) -> SymPy expression
    forward: Callable[..., Any]                     # (m, *args) -> value
    partials: tuple[Callable[..., Any] | None, ...]  # (m, *args, ans) -> d ans / d arg_i
    domain: Callable[..., bool] = _always           # defined, finite and with finite partials
    kink: Kink | None = None
    # The textbook form of a partial that engines compute from the rounded output (PyTorch:
    # tanh' = 1 - y²). The table's own rule avoids its cancellation; the bound still has
    # to allow for the error that form makes, so the rounding model uses it.
    ans_partials: tuple[Callable[..., Any] | None, ...] | None = None
    # Where float implementations of the op break: windows of its argument ``edge_arg``, from
    # the dtype's L = ln(max) (past it e^x overflows) and P = ln(1/eps) (past about P,
    # 1 - σ(x) rounds to 0; past P/2, 1 - tanh²(x) does). The generator draws values in them
    # and gives such a value to the op it stresses: a window is a sliver of the line, and a
    # bug that lives only there is otherwise met once in hundreds of examples.
    edges: Callable[[float, float], tuple[tuple[float, float], ...]] | None = None
    edge_arg: int = 0
    doc: str = ""
    notation: Notation = _CALL
    # where a local derivative is infinite: the quantity (over float args) that is 0 there;
    # coverage counts examples that come within NEAR of it
    pole: Callable[..., float] | None = None
    # how a float engine rounds its result: "never" (a selection or a sign flip), "correct"
    # (IEEE correctly rounded: exact whenever the exact result is a float), or "inexact"
    rounding: str = "inexact"
    # the relative error, in units of roundoff, that the rule for argument 0 makes inside
    # itself beyond what its inputs carry ((m, *args) -> error): pow's c·x^(c-1) rounds c - 1
    exponent_rounding: Callable[..., Any] | None = None
    params: tuple[int, ...] = field(init=False)

    def __post_init__(self):
        object.__setattr__(self, "params", tuple(i for i, p in enumerate(self.partials) if p is None))

    @property
    def arity(self) -> int:
        return len(self.partials)

    @property
    def analytic(self) -> bool:
        """Holomorphic on its domain, so the complex-step derivative is exact."""
        return self.kink is None


def _exponent_rounding(m, x, c):
    # c - 1 rounds in absolute terms, and x^(c-1) turns that into a relative error of
    # |c - 1|·|ln x| (c = 1e-8 at x = e^660: 660 units; torch's y = 1e-8 at x = 1e16: 37)
    return 0 if float(c).is_integer() or x <= 0 else abs(c - 1) * abs(m.log(x))


def _pow_domain(x, c) -> bool:
    # a fractional power at 0 is a domain edge: SymPy's derivative forms give 0·inf there
    return (c >= 1 or x != 0) if is_integer(c) else x > 0


# ── arithmetic ────────────────────────────────────────────────────────────────────────────
_ARITH = [
    Op("add", lambda sp, x, y: x + y, lambda m, x, y: x + y,
       (lambda m, x, y, ans: 1.0, lambda m, x, y, ans: 1.0), rounding="correct",
       notation=Notation(" + ", "infix", "+", ADD, ADD)),
    Op("sub", lambda sp, x, y: x - y, lambda m, x, y: x - y,
       (lambda m, x, y, ans: 1.0, lambda m, x, y, ans: -1.0), rounding="correct",
       notation=Notation(" - ", "infix", "−", ADD, MUL)),
    Op("mul", lambda sp, x, y: x * y, lambda m, x, y: x * y,
       (lambda m, x, y, ans: y, lambda m, x, y, ans: x), rounding="correct",
       notation=Notation("*", "infix", "·", MUL, POW)),
    Op("div", lambda sp, x, y: x / y, lambda m, x, y: x / y,
       (lambda m, x, y, ans: 1.0 / y, lambda m, x, y, ans: -ans / y),  # d(x/y)/dy = -x/y²
       domain=lambda x, y: y != 0, pole=lambda x, y: y, rounding="correct",
       notation=Notation("/", "frac", binds=FRAC, text_binds=MUL),
       # just past where y² overflows or underflows: there x/y² is still a number for most x
       edges=lambda L, P: tuple(w for lo, hi in ((math.exp(L / 2), math.exp((L + P) / 2)),
                                                 (math.exp(-(L + P) / 2), math.exp(-L / 2)))
                                for w in ((lo, hi), (-hi, -lo))), edge_arg=1),
    Op("neg", lambda sp, x: -x, lambda m, x: -x, (lambda m, x, ans: -1.0,), rounding="never",
       notation=Notation("-", "prefix", "−", NEG)),
    Op("pow", lambda sp, x, c: x ** c, lambda m, x, c: m.pow(x, c),
       (lambda m, x, c, ans: c * m.pow(x, c - 1), None), domain=_pow_domain,
       pole=lambda x, c: x if c < 1 and c != 0 else math.inf,   # c·x^(c-1)
       exponent_rounding=_exponent_rounding,
       notation=Notation("**", "power", binds=POW), doc="x ** c with c a constant leaf"),
    Op("powv", lambda sp, x, y: x ** y, lambda m, x, y: m.pow(x, y),
       (lambda m, x, y, ans: y * ans / x, lambda m, x, y, ans: ans * m.log(x)),
       domain=lambda x, y: x > 0, pole=lambda x, y: x, notation=Notation("**", "power", binds=POW),
       exponent_rounding=_exponent_rounding,
       doc="x ** y, both differentiable"),
]

def _small(P: float) -> tuple[tuple[float, float], ...]:
    """|x| from eps to eps^(1/4): where 1 + x keeps few of x's digits."""
    return ((math.exp(-P), math.exp(-P / 4)), (-math.exp(-P / 4), -math.exp(-P)))


# ── elementary functions ──────────────────────────────────────────────────────────────────
_ELEMENTARY = [
    Op("exp", lambda sp, x: sp.exp(x), lambda m, x: m.exp(x), (lambda m, x, ans: ans,),
       edges=lambda L, P: ((L - P, L),), notation=Notation(math="exp", binds=POW)),
    Op("log", lambda sp, x: sp.log(x), lambda m, x: m.log(x), (lambda m, x, ans: 1.0 / x,),
       domain=lambda x: x > 0, pole=lambda x: x),
    Op("sin", lambda sp, x: sp.sin(x), lambda m, x: m.sin(x), (lambda m, x, ans: m.cos(x),)),
    Op("cos", lambda sp, x: sp.cos(x), lambda m, x: m.cos(x), (lambda m, x, ans: -m.sin(x),)),
    Op("tan", lambda sp, x: sp.tan(x), lambda m, x: m.tan(x),
       (lambda m, x, ans: 1.0 + ans * ans,), pole=lambda x: math.cos(x)),  # d tan = 1 + tan²
    Op("tanh", lambda sp, x: sp.tanh(x), lambda m, x: m.tanh(x),
       # d tanh = 1 - tanh² = 1/cosh²; the second form does not cancel for large |x|
       (lambda m, x, ans: 1.0 / (m.cosh(x) * m.cosh(x)),),
       ans_partials=(lambda m, x, ans: 1.0 - ans * ans,),
       edges=lambda L, P: ((P / 2, P), (-P, -P / 2))),
    Op("sigmoid", lambda sp, x: 1 / (1 + sp.exp(-x)), lambda m, x: m.sigmoid(x),
       (lambda m, x, ans: ans * m.sigmoid(-x),),  # σ(x)(1 - σ(x)), without the cancellation
       notation=Notation(symbol="σ"),
       ans_partials=(lambda m, x, ans: ans * (1.0 - ans),),
       # e^-x squared (the quotient rule's e^-x/(1 + e^-x)²) overflows for x < -L/2
       edges=lambda L, P: ((-L, -L / 2), (P, 2 * P))),
    Op("sqrt", lambda sp, x: sp.sqrt(x), lambda m, x: m.sqrt(x),
       (lambda m, x, ans: 0.5 / ans,), domain=lambda x: x > 0, pole=lambda x: x,
       notation=Notation(math="radical")),
    Op("atan", lambda sp, x: sp.atan(x), lambda m, x: m.atan(x),
       (lambda m, x, ans: 1.0 / (1.0 + x * x),), notation=Notation(symbol="arctan")),
    # both exist for small |x|, where their textbook forms log(1 + x) and e^x - 1 cancel:
    # between eps and eps^(1/4) they keep from none to three quarters of the digits
    Op("log1p", lambda sp, x: sp.log(1 + x), lambda m, x: m.log1p(x),
       (lambda m, x, ans: 1.0 / (1.0 + x),), domain=lambda x: x > -1, pole=lambda x: 1.0 + x,
       edges=lambda L, P: _small(P)),
    Op("expm1", lambda sp, x: sp.exp(x) - 1, lambda m, x: m.expm1(x),
       (lambda m, x, ans: m.exp(x),),  # not ans + 1: that cancels for x << 0
       ans_partials=(lambda m, x, ans: ans + 1.0,), edges=lambda L, P: ((L - P, L),) + _small(P)),
]

# ── piecewise: continuous, with kinks ─────────────────────────────────────────────────────
_PIECEWISE = [
    Op("abs", lambda sp, x: sp.Abs(x), lambda m, x: m.abs(x), (lambda m, x, ans: m.sign(x),),
       kink=Kink(lambda x: x, left=(-1.0,), right=(1.0,)), rounding="never", notation=Notation(math="bars")),
    Op("relu", lambda sp, x: sp.Max(0, x), lambda m, x: m.maximum(x, 0 * x),
       (lambda m, x, ans: m.step(x),), kink=Kink(lambda x: x, left=(0.0,), right=(1.0,)), rounding="never"),
    Op("maximum", lambda sp, x, y: sp.Max(x, y), lambda m, x, y: m.maximum(x, y),
       (lambda m, x, y, ans: m.step(x - y), lambda m, x, y, ans: 1.0 - m.step(x - y)),
       kink=Kink(lambda x, y: x - y, left=(0.0, 1.0), right=(1.0, 0.0)), rounding="never",
       notation=Notation(symbol="max")),
    Op("minimum", lambda sp, x, y: sp.Min(x, y), lambda m, x, y: m.minimum(x, y),
       (lambda m, x, y, ans: 1.0 - m.step(x - y), lambda m, x, y, ans: m.step(x - y)),
       kink=Kink(lambda x, y: x - y, left=(1.0, 0.0), right=(0.0, 1.0)), rounding="never",
       notation=Notation(symbol="min")),
]

SCALAR_OPS: dict[str, Op] = {op.name: op for op in _ARITH + _ELEMENTARY + _PIECEWISE}
OPS: dict[str, Op] = dict(SCALAR_OPS)


def get_op(name: str) -> Op:
    try:
        return OPS[name]
    except KeyError:
        raise UnknownOp(f"unknown op {name!r} (known: {', '.join(sorted(OPS))})") from None
