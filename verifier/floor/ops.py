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

    ``left``/``right`` are the partials on each side (switch < 0, switch > 0), one per
    argument: tuples of floats, or callables ``(*args) -> tuple`` for sides that depend on the
    arguments (leaky_relu's left side is its slope ``a``). Any convex combination of them is an
    acceptable local derivative exactly at the kink. Read them through ``sides``.

    ``linear``: the op is piecewise linear in its arguments with the sides as each piece's
    coefficients (abs, relu, maximum, clamp, whose outside pieces are the constants lo and hi),
    so an oracle may put the piece on the switch's side in the op's place. Not so (an op an
    engine declares): oracles use the op's own SymPy form, and order 2 does not judge there.
    """

    switch: Callable[..., Any]
    left: tuple[float, ...] | Callable[..., tuple]
    right: tuple[float, ...] | Callable[..., tuple]
    linear: bool = True
    where: str = ""          # the kink set in words, for `adverify ops`: "x = 0", "x = y"

    def sides(self, *args) -> tuple[tuple, tuple]:
        """The one-sided partials (left, right) at these argument values."""
        return (self.left(*args) if callable(self.left) else self.left,
                self.right(*args) if callable(self.right) else self.right)


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
    # per argument, the relative error, in units of roundoff, that a float engine's rule for
    # that partial makes inside itself beyond what its inputs carry ((m, *args) -> units):
    # pow's c·x^(c-1) rounds c - 1; erf' = e^(-x²) turns the rounding of x² into x² units;
    # and a partial that is a sum of terms (gelu' = Φ + x·φ) is only good to a few units of
    # its terms, which near its zero are many units of itself
    rule_rounding: tuple[Callable[..., Any] | None, ...] | None = None
    # the same for the op's value ((m, *args, ans) -> units of |ans|): gelu's erfc(-x/√2)
    # turns the rounding of x/√2 into x² units, and the usual x/2·(1 + erf(x/√2)) is off by
    # units of x, not of its tiny value, for x << 0
    value_rounding: Callable[..., Any] | None = None
    # where the op is C1 but its second derivative jumps (elu at 0): the quantity that is 0
    # there. Second-order checks within rounding reach of it are undecided (near-kink).
    second_kink: Callable[..., Any] | None = None
    # where the op's value jumps (atan2 across the negative x axis): the quantity that is 0
    # there, or inf away from it. A point whose arguments may round across it is undecided.
    cut: Callable[..., Any] | None = None
    # the domain in words, for `adverify ops` and the docs ("x > 0"); "" is every real
    where: str = ""
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


def _squares(L: float, P: float) -> tuple[tuple[float, float], ...]:
    """Just past where y² overflows or underflows, both signs: there x/y², x/(x² + y²) and
    1/sqrt(1 + y²) are still numbers for most x, and their textbook forms are not."""
    return tuple(w for lo, hi in ((math.exp(L / 2), math.exp((L + P) / 2)),
                                  (math.exp(-(L + P) / 2), math.exp(-L / 2)))
                 for w in ((lo, hi), (-hi, -lo)))


def _mirror(windows: tuple[tuple[float, float], ...]) -> tuple[tuple[float, float], ...]:
    return windows + tuple((-hi, -lo) for lo, hi in windows)


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
       domain=lambda x, y: y != 0, where="y ≠ 0", pole=lambda x, y: y, rounding="correct",
       notation=Notation("/", "frac", binds=FRAC, text_binds=MUL),
       edges=lambda L, P: _squares(L, P), edge_arg=1),
    Op("neg", lambda sp, x: -x, lambda m, x: -x, (lambda m, x, ans: -1.0,), rounding="never",
       notation=Notation("-", "prefix", "−", NEG)),
    Op("pow", lambda sp, x, c: x ** c, lambda m, x, c: m.pow(x, c),
       (lambda m, x, c, ans: c * m.pow(x, c - 1), None), domain=_pow_domain, where="x > 0 for a fractional c, x ≠ 0 for a negative c",
       pole=lambda x, c: x if c < 1 and c != 0 else math.inf,   # c·x^(c-1)
       rule_rounding=(_exponent_rounding, None),
       notation=Notation("**", "power", binds=POW), doc="x ** c with c a constant leaf"),
    Op("powv", lambda sp, x, y: x ** y, lambda m, x, y: m.pow(x, y),
       (lambda m, x, y, ans: y * ans / x, lambda m, x, y, ans: ans * m.log(x)),
       domain=lambda x, y: x > 0, where="x > 0", pole=lambda x, y: x, notation=Notation("**", "power", binds=POW),
       rule_rounding=(_exponent_rounding, None),
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
       domain=lambda x: x > 0, where="x > 0", pole=lambda x: x),
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
       (lambda m, x, ans: 0.5 / ans,), domain=lambda x: x > 0, where="x > 0", pole=lambda x: x,
       notation=Notation(math="radical")),
    Op("atan", lambda sp, x: sp.atan(x), lambda m, x: m.atan(x),
       (lambda m, x, ans: 1.0 / (1.0 + x * x),), notation=Notation(symbol="arctan")),
    # both exist for small |x|, where their textbook forms log(1 + x) and e^x - 1 cancel:
    # between eps and eps^(1/4) they keep from none to three quarters of the digits
    Op("log1p", lambda sp, x: sp.log(1 + x), lambda m, x: m.log1p(x),
       (lambda m, x, ans: 1.0 / (1.0 + x),), domain=lambda x: x > -1, where="x > -1", pole=lambda x: 1.0 + x,
       edges=lambda L, P: _small(P)),
    Op("expm1", lambda sp, x: sp.exp(x) - 1, lambda m, x: m.expm1(x),
       (lambda m, x, ans: m.exp(x),),  # not ans + 1: that cancels for x << 0
       ans_partials=(lambda m, x, ans: ans + 1.0,), edges=lambda L, P: ((L - P, L),) + _small(P)),
]

# ── piecewise: continuous, with kinks ─────────────────────────────────────────────────────
_PIECEWISE = [
    Op("abs", lambda sp, x: sp.Abs(x), lambda m, x: m.abs(x), (lambda m, x, ans: m.sign(x),),
       kink=Kink(lambda x: x, left=(-1.0,), right=(1.0,), where="x = 0"), rounding="never", notation=Notation(math="bars")),
    Op("relu", lambda sp, x: sp.Max(0, x), lambda m, x: m.maximum(x, 0 * x),
       (lambda m, x, ans: m.step(x),), kink=Kink(lambda x: x, left=(0.0,), right=(1.0,), where="x = 0"), rounding="never"),
    Op("maximum", lambda sp, x, y: sp.Max(x, y), lambda m, x, y: m.maximum(x, y),
       (lambda m, x, y, ans: m.step(x - y), lambda m, x, y, ans: 1.0 - m.step(x - y)),
       kink=Kink(lambda x, y: x - y, left=(0.0, 1.0), right=(1.0, 0.0), where="x = y"), rounding="never",
       notation=Notation(symbol="max")),
    Op("minimum", lambda sp, x, y: sp.Min(x, y), lambda m, x, y: m.minimum(x, y),
       (lambda m, x, y, ans: 1.0 - m.step(x - y), lambda m, x, y, ans: m.step(x - y)),
       kink=Kink(lambda x, y: x - y, left=(1.0, 0.0), right=(0.0, 1.0), where="x = y"), rounding="never",
       notation=Notation(symbol="min")),
]


# ── activations and special functions ───────────────────────────────────────────────────
# Constants are computed in ``m`` (m.sqrt(m.float(2)), m.pi): a float literal would hold
# the 50-digit namespaces to 17 digits.
def _root2(m):
    return m.sqrt(m.float(2))


def _density(m, x):
    """φ(x), the standard normal density."""
    return m.exp(-0.5 * x * x) / m.sqrt(2 * m.pi)


def _cdf(m, x):
    """Φ(x) as erfc(-x/√2)/2: without the cancellation of (1 + erf(x/√2))/2 for x << 0."""
    return 0.5 * m.erfc(-x / _root2(m))


def _gelu_d(m, x, ans=None):
    return _cdf(m, x) + x * _density(m, x)


def _tanh_arg(m, x):
    """GELU's tanh approximation evaluates tanh at √(2/π)·(x + 0.044715·x³)."""
    return m.sqrt(2 / m.pi) * (x + m.float(44715) / 1000000 * x * x * x)


def _tanh_arg_d(m, x):
    return m.sqrt(2 / m.pi) * (1 + 3 * (m.float(44715) / 1000000) * x * x)


def _gelu_tanh_d(m, x, ans=None):
    # (1 + tanh t)/2 = σ(2t) and (1 - tanh² t)/2 = 2·σ(2t)·σ(-2t): neither cancels
    t = _tanh_arg(m, x)
    s = m.sigmoid(2 * t)
    return s + 2 * x * s * m.sigmoid(-2 * t) * _tanh_arg_d(m, x)


def _silu_d(m, x, ans=None):
    s = m.sigmoid(x)
    return s * (1 + x * m.sigmoid(-x))   # σ(x)·(1 + x·(1 - σ(x))), without 1 - σ(x)


def _over(m, terms, d):
    """terms / |d|, in units of |d|; 0 where d is exactly 0 (nothing to be relative to)."""
    return terms / abs(d) if d else m.float(0)


def _gelu_units(m, x):
    # the usual (1 + erf(x/√2))/2 + x·φ(x): the first term is good to u absolute, the second
    # carries the rounding of x² into e^(-x²/2)
    return _over(m, 1 + abs(x) * _density(m, x) * (1 + 0.5 * x * x), _gelu_d(m, x)) + 1


def _gelu_tanh_units(m, x):
    # the usual (1 + tanh t)/2 + x·(1 - tanh² t)/2·t': each 1 ± tanh is good to u absolute
    return _over(m, 1 + abs(x * _tanh_arg_d(m, x)), _gelu_tanh_d(m, x)) + _tanh_arg_units(m, x) + 1


def _tanh_arg_units(m, x):
    """What the rounding of tanh's argument t costs σ(2t), in units: 2|t|·σ(-2t) (all of
    2|t| where σ(2t) is tiny, nothing where it is 1)."""
    t = _tanh_arg(m, x)
    return 2 * abs(t) * m.sigmoid(-2 * t)


_U64 = 2.0 ** -53


def _silu_units(m, x):
    # the usual σ·(1 + x·(1 - σ)): 1 - σ is good to u absolute until it rounds to 0 (at
    # float64's u: a smaller dtype's window is inside float64's, and its u larger)
    s, c = m.sigmoid(x), m.sigmoid(-x)
    lost = m.minimum(m.float(1), c / _U64)
    return _over(m, s * (1 + abs(x) * c) + abs(x) * s * lost, _silu_d(m, x)) + 1


def _logaddexp_units(i: int):
    def units(m, x, y):   # σ(x - y) reads x - y, rounded to units of max(|x|, |y|)
        return 1 + (abs(x) + abs(y)) * m.sigmoid(y - x if i == 0 else x - y)
    return units


def _asin_units(m, x):
    # the usual 1/sqrt(1 - x²): x² rounds to u absolute, which 1 - x² near ±1 magnifies
    return 1 + x * x / abs((1 - x) * (1 + x))


def _value_units(scale):
    """value_rounding from the absolute size a float engine's value may be off by."""
    return lambda m, *args: _over(m, scale(m, *args[:-1]), args[-1])


def _gelu_tanh_fwd(m, x):
    return x * m.sigmoid(2 * _tanh_arg(m, x))   # x·(1 + tanh t)/2


def _gaussian_tails(L: float, P: float) -> tuple[tuple[float, float], ...]:
    """|x| just past where e^(-x²) is below eps: erf rounds to ±1 there, and 1 - erf(x)
    keeps no digit. (Edges are slivers: a value in one is given to its op, so a wide window
    inside the ordinary range would draw the op far more often than the others.)"""
    return _mirror(((math.sqrt(P), math.sqrt(P) + 1),))


def _tanh_arg_at(t: float) -> float:
    """The x > 0 where GELU's tanh argument is t (Newton on a monotone cubic)."""
    k, c = math.sqrt(2 / math.pi), 0.044715
    x = min(t / k, (t / (k * c)) ** (1 / 3))
    for _ in range(60):
        x -= (k * (x + c * x ** 3) - t) / (k * (1 + 3 * c * x * x))
    return x


def _near_one(P: float) -> tuple[tuple[float, float], ...]:
    """x just inside ±1, where 1 - x² keeps few digits."""
    return _mirror(((1 - math.exp(-P / 4), 1 - math.exp(-P)),))


_ACTIVATIONS = [
    Op("erf", lambda sp, x: sp.erf(x), lambda m, x: m.erf(x),
       (lambda m, x, ans: 2 / m.sqrt(m.pi) * m.exp(-x * x),),
       rule_rounding=(lambda m, x: 1 + x * x,), edges=_gaussian_tails),
    Op("gelu", lambda sp, x: x / 2 * (1 + sp.erf(x / sp.sqrt(2))), lambda m, x: x * _cdf(m, x),
       (_gelu_d,), rule_rounding=(_gelu_units,), notation=Notation(symbol="GELU"),
       # (Φ carries the rounding of x/√2 as |x|·φ/Φ units: x² for x << 0, none for x >> 0)
       value_rounding=_value_units(lambda m, x: abs(x) * (1 + abs(x) * _density(m, x))),
       # where (1 + erf(x/√2))/2 rounds to 0: x/2·(1 + erf(x/√2)) is 0 there, not its tiny value
       edges=lambda L, P: ((-math.sqrt(2 * P) - 4, -math.sqrt(2 * P) - 1),), doc="x·Φ(x), exact"),
    Op("gelu_tanh", lambda sp, x: x / 2 * (1 + sp.tanh(sp.sqrt(2 / sp.pi) * (x + sp.Rational(44715, 1000000) * x ** 3))),
       _gelu_tanh_fwd, (_gelu_tanh_d,), rule_rounding=(_gelu_tanh_units,),
       # past 1e102 its cubic overflows float64, and the rule's derivative with it (inf·0)
       domain=lambda x: abs(x) < 1e100, where="|x| < 1e100 (x³ overflows beyond)",
       value_rounding=lambda m, x, ans: _over(m, abs(x), ans) + _tanh_arg_units(m, x),
       # where 1 + tanh rounds to 0 (tanh's argument below -P/2)
       edges=lambda L, P: ((-_tanh_arg_at(2 * P), -_tanh_arg_at(P)),),
       doc="GELU's tanh approximation: x/2·(1 + tanh(√(2/π)·(x + 0.044715·x³)))"),
    Op("silu", lambda sp, x: x / (1 + sp.exp(-x)), lambda m, x: x * m.sigmoid(x), (_silu_d,),
       # where 1 - σ(x) rounds to 0
       rule_rounding=(_silu_units,), edges=lambda L, P: ((P, 2 * P),), doc="x·σ(x)"),
    Op("softplus", lambda sp, x: sp.log(1 + sp.exp(x)), lambda m, x: m.softplus(x),
       (lambda m, x, ans: m.sigmoid(x),),
       # log(1 + e^x) overflows past L, and is 0 where e^x < eps
       edges=lambda L, P: ((L - P, L + P), (-2 * P, -P)), doc="log(1 + e^x)"),
    Op("logsigmoid", lambda sp, x: -sp.log(1 + sp.exp(-x)), lambda m, x: -m.softplus(-x),
       (lambda m, x, ans: m.sigmoid(-x),), notation=Notation(symbol="log σ"),
       edges=lambda L, P: ((-L - P, -L + P), (P, 2 * P)), doc="log σ(x) = -softplus(-x)"),
    Op("elu", lambda sp, x: sp.Piecewise((x, x > 0), (sp.exp(x) - 1, True)),
       lambda m, x: m.expm1(m.minimum(x, 0 * x)) + m.maximum(x, 0 * x),
       (lambda m, x, ans: m.exp(m.minimum(x, 0 * x)),), second_kink=lambda x: x,
       # engines form elu' from the output below 0, as expm1's: y + 1 (JAX, torch)
       ans_partials=(lambda m, x, ans: m.step(x) + (1.0 - m.step(x)) * (ans + 1.0),),
       edges=lambda L, P: (_small(P)[1],), doc="x for x > 0, e^x - 1 below (alpha = 1): C1 at 0"),
    Op("leaky_relu", lambda sp, x, a: sp.Max(x, 0) + a * sp.Min(x, 0),
       lambda m, x, a: m.maximum(x, 0 * x) + a * m.minimum(x, 0 * x),
       (lambda m, x, a, ans: m.step(x) + a * (1 - m.step(x)), None),
       kink=Kink(lambda x, a: x, left=lambda x, a: (a, 0.0), right=(1.0, 0.0), where="x = 0"), rounding="correct",
       doc="x for x > 0, a·x below, the slope a a constant leaf"),
    Op("clamp", lambda sp, x, lo, hi: sp.Min(sp.Max(x, lo), hi),
       lambda m, x, lo, hi: m.minimum(m.maximum(x, lo), hi),
       (lambda m, x, lo, hi, ans: m.step(x - lo) * m.step(hi - x), None, None),
       domain=lambda x, lo, hi: lo < hi, where="lo < hi", rounding="never",
       # one switch for both kinks: inside (lo, hi) it is positive; outside, the piece is the
       # nearer bound
       kink=Kink(lambda x, lo, hi: min(x - lo, hi - x),
                 left=lambda x, lo, hi: (0.0, 1.0, 0.0) if x - lo < hi - x else (0.0, 0.0, 1.0),
                 right=(1.0, 0.0, 0.0), where="x = lo and x = hi"),
       doc="x held to [lo, hi], lo < hi constant leaves"),
]

_MORE_ELEMENTARY = [
    Op("sinh", lambda sp, x: sp.sinh(x), lambda m, x: m.sinh(x), (lambda m, x, ans: m.cosh(x),),
       edges=lambda L, P: _mirror(((L - P, L + 1),)) + _small(P)),
    Op("cosh", lambda sp, x: sp.cosh(x), lambda m, x: m.cosh(x), (lambda m, x, ans: m.sinh(x),),
       edges=lambda L, P: _mirror(((L - P, L + 1),))),
    Op("asin", lambda sp, x: sp.asin(x), lambda m, x: m.asin(x),
       (lambda m, x, ans: 1 / m.sqrt((1 - x) * (1 + x)),),   # 1 - x² without its cancellation
       domain=lambda x: -1 < x < 1, where="-1 < x < 1", pole=lambda x: 1 - abs(x), rule_rounding=(_asin_units,),
       edges=lambda L, P: _near_one(P), notation=Notation(symbol="arcsin")),
    Op("acos", lambda sp, x: sp.acos(x), lambda m, x: m.acos(x),
       (lambda m, x, ans: -1 / m.sqrt((1 - x) * (1 + x)),),
       domain=lambda x: -1 < x < 1, where="-1 < x < 1", pole=lambda x: 1 - abs(x), rule_rounding=(_asin_units,),
       edges=lambda L, P: _near_one(P), notation=Notation(symbol="arccos")),
    Op("asinh", lambda sp, x: sp.asinh(x), lambda m, x: m.asinh(x),
       (lambda m, x, ans: 1 / m.hypot(m.float(1), x),),   # 1/sqrt(1 + x²), x² never formed
       edges=lambda L, P: _squares(L, P)[:2] + _small(P), notation=Notation(symbol="arsinh")),
    Op("atan2", lambda sp, y, x: sp.atan2(y, x), lambda m, y, x: m.atan2(y, x),
       # x/(x² + y²) as x/h/h: the squares overflow where the quotient does not
       (lambda m, y, x, ans: x / m.hypot(y, x) / m.hypot(y, x),
        lambda m, y, x, ans: -y / m.hypot(y, x) / m.hypot(y, x)),
       domain=lambda y, x: y != 0 or x != 0, where="(y, x) ≠ (0, 0)", pole=lambda y, x: abs(y) + abs(x),
       cut=lambda y, x: y if x < 0 else math.inf, edges=lambda L, P: _squares(L, P), edge_arg=1,
       doc="the angle of (x, y); its value jumps by 2π across the negative x axis"),
    Op("hypot", lambda sp, x, y: sp.sqrt(x ** 2 + y ** 2), lambda m, x, y: m.hypot(x, y),
       (lambda m, x, y, ans: x / ans, lambda m, x, y, ans: y / ans),
       domain=lambda x, y: x != 0 or y != 0, where="(x, y) ≠ (0, 0)", pole=lambda x, y: abs(x) + abs(y),
       edges=lambda L, P: _squares(L, P), edge_arg=1),
    Op("logaddexp", lambda sp, x, y: sp.log(sp.exp(x) + sp.exp(y)), lambda m, x, y: m.logaddexp(x, y),
       (lambda m, x, y, ans: m.sigmoid(x - y), lambda m, x, y, ans: m.sigmoid(y - x)),
       rule_rounding=(_logaddexp_units(0), _logaddexp_units(1)),
       value_rounding=_value_units(lambda m, x, y: abs(x) + abs(y)),
       edges=lambda L, P: ((L - P, 2 * L), (-2 * L, -L)), edge_arg=1, doc="log(e^x + e^y)"),
    Op("square", lambda sp, x: x ** 2, lambda m, x: x * x, (lambda m, x, ans: 2 * x,), rounding="correct"),
    Op("rsqrt", lambda sp, x: 1 / sp.sqrt(x), lambda m, x: 1 / m.sqrt(x),
       (lambda m, x, ans: -0.5 * ans / x,), domain=lambda x: x > 0, where="x > 0", pole=lambda x: x,
       # where x^(-3/2) leaves the range
       edges=lambda L, P: ((math.exp(-2 * L / 3 - P / 2), math.exp(-2 * L / 3 + P / 2)),)),
    Op("reciprocal", lambda sp, x: 1 / x, lambda m, x: 1 / x, (lambda m, x, ans: -ans / x,),
       domain=lambda x: x != 0, where="x ≠ 0", pole=lambda x: x, rounding="correct", edges=lambda L, P: _squares(L, P)),
]

SCALAR_OPS: dict[str, Op] = {op.name: op for op in _ARITH + _ELEMENTARY + _PIECEWISE + _ACTIVATIONS
                               + _MORE_ELEMENTARY}
OPS: dict[str, Op] = dict(SCALAR_OPS)


def get_op(name: str) -> Op:
    try:
        return OPS[name]
    except KeyError:
        raise UnknownOp(f"unknown op {name!r} (known: {', '.join(sorted(OPS))})") from None
