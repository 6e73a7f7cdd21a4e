"""Running error bounds: a math namespace whose numbers carry the rounding error a float
evaluation of the same formula may have made.

An op the built-in table defines has its float error written down by hand (``Op``'s
``rule_rounding`` and ``value_rounding``). An op an engine declares (floor.custom) is a
formula of many steps — a fused kernel — and a float engine evaluating it rounds at every
step. Evaluating the same formula over ``Running`` numbers gives, to first order, how far
that float result may be from the exact one: each step adds one rounding of its own result
and carries its inputs' errors through its local derivative (the classic running error
analysis). Errors are in units of the roundoff u, so one evaluation serves every dtype.

Values are high-precision numbers (``mathns.precise``), so the bound is not itself spoiled
by the cancellations it measures.
"""
from __future__ import annotations

from typing import Any, Callable

from verifier.floor.mathns import precise

__all__ = ["Running", "RUNNING", "units"]

_P = precise(50)
_C = _P.ctx


class Running:
    """A value and the bound, in units of u, of a float evaluation's error in it."""

    __slots__ = ("v", "e")

    def __init__(self, v: Any, e: Any = 0):
        self.v, self.e = _C.mpf(v), _C.mpf(e)

    @staticmethod
    def _of(x: Any) -> "Running":
        return x if isinstance(x, Running) else Running(x)     # a constant of the formula: exact

    def _rounded(self) -> "Running":
        self.e += abs(self.v)           # the step's own rounding: one unit of its result
        return self

    def __add__(self, o):
        o = self._of(o)
        return Running(self.v + o.v, self.e + o.e)._rounded()

    __radd__ = __add__

    def __sub__(self, o):
        o = self._of(o)
        return Running(self.v - o.v, self.e + o.e)._rounded()

    def __rsub__(self, o):
        return self._of(o) - self

    def __mul__(self, o):
        o = self._of(o)
        return Running(self.v * o.v, abs(o.v) * self.e + abs(self.v) * o.e)._rounded()

    __rmul__ = __mul__

    def __truediv__(self, o):
        o = self._of(o)
        q = self.v / o.v
        return Running(q, (self.e + abs(q) * o.e) / abs(o.v))._rounded()

    def __rtruediv__(self, o):
        return self._of(o) / self

    def __neg__(self):
        return Running(-self.v, self.e)

    def __abs__(self):
        return Running(abs(self.v), self.e)

    def __lt__(self, o):
        return self.v < self._of(o).v

    def __le__(self, o):
        return self.v <= self._of(o).v

    def __gt__(self, o):
        return self.v > self._of(o).v

    def __ge__(self, o):
        return self.v >= self._of(o).v

    def __eq__(self, o):
        return self.v == self._of(o).v

    def __hash__(self):
        return hash(self.v)


def _unary(f: Callable, df: Callable) -> Callable[[Running], Running]:
    """A library function, within about one rounding of its result (libm's 1-2 ulp are
    what RHO allows on top), carrying its argument's error through f'."""
    def apply(x):
        x = Running._of(x)
        return Running(f(x.v), abs(df(x.v)) * x.e)._rounded()
    return apply


def _binary(f: Callable, dx: Callable, dy: Callable) -> Callable[[Running, Running], Running]:
    def apply(x, y):
        x, y = Running._of(x), Running._of(y)
        return Running(f(x.v, y.v), abs(dx(x.v, y.v)) * x.e + abs(dy(x.v, y.v)) * y.e)._rounded()
    return apply


class _Namespace:
    """The functions a compiled formula calls (``m.exp``, ``m.pow``, ...) on Running numbers."""

    exp = staticmethod(_unary(_C.exp, _C.exp))
    expm1 = staticmethod(_unary(_C.expm1, _C.exp))
    log = staticmethod(_unary(_C.log, lambda x: 1 / x))
    log1p = staticmethod(_unary(_C.log1p, lambda x: 1 / (1 + x)))
    sin = staticmethod(_unary(_C.sin, _C.cos))
    cos = staticmethod(_unary(_C.cos, lambda x: -_C.sin(x)))
    tan = staticmethod(_unary(_C.tan, lambda x: 1 / _C.cos(x) ** 2))
    tanh = staticmethod(_unary(_C.tanh, lambda x: 1 / _C.cosh(x) ** 2))
    sinh = staticmethod(_unary(_C.sinh, _C.cosh))
    cosh = staticmethod(_unary(_C.cosh, _C.sinh))
    atan = staticmethod(_unary(_C.atan, lambda x: 1 / (1 + x * x)))
    asin = staticmethod(_unary(_C.asin, lambda x: 1 / _C.sqrt(1 - x * x)))
    acos = staticmethod(_unary(_C.acos, lambda x: -1 / _C.sqrt(1 - x * x)))
    asinh = staticmethod(_unary(_C.asinh, lambda x: 1 / _C.sqrt(1 + x * x)))
    erf = staticmethod(_unary(_C.erf, lambda x: 2 / _C.sqrt(_C.pi) * _C.exp(-x * x)))
    sqrt = staticmethod(_unary(_C.sqrt, lambda x: 1 / (2 * _C.sqrt(x))))
    atan2 = staticmethod(_binary(_C.atan2, lambda y, x: x / (x * x + y * y), lambda y, x: -y / (x * x + y * y)))

    @staticmethod
    def float(v) -> Running:
        exact = _C.mpf(v)
        # a constant of the formula: exact if it is a float, else rounded once when written
        return Running(exact, 0 if float(exact) == exact else abs(exact))

    @staticmethod
    def pow(x, c):
        x, c = Running._of(x), Running._of(c)
        r = _P.pow(x.v, c.v)
        dx = c.v * _P.pow(x.v, c.v - 1) if x.v else 0
        dc = r * _C.log(x.v) if x.v > 0 else 0
        return Running(r, abs(dx) * x.e + abs(dc) * c.e)._rounded()

    @staticmethod
    def abs(x):
        return abs(Running._of(x))

    @staticmethod
    def sign(x):
        return Running(_C.sign(Running._of(x).v))

    @staticmethod
    def step(x):
        return Running(1 if Running._of(x).v > 0 else 0)

    @staticmethod
    def maximum(x, y):
        x, y = Running._of(x), Running._of(y)
        return Running(max(x.v, y.v), max(x.e, y.e))    # a selection: no rounding of its own

    @staticmethod
    def minimum(x, y):
        x, y = Running._of(x), Running._of(y)
        return Running(min(x.v, y.v), max(x.e, y.e))


RUNNING = _Namespace()


def units(formula: Callable[..., Any], *args: Any) -> Any:
    """How many units of roundoff, relative to its result, a float evaluation of
    ``formula(m, *args)`` may be off by (args exact); at a zero result, relative to the
    smallest normal float64, so an engine's tiny nonzero answer is allowed for."""
    r = formula(RUNNING, *(Running(a) for a in args))
    r = Running._of(r)
    return r.e / max(abs(r.v), _C.mpf(2) ** -1022)
