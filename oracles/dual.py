"""Dual numbers over mpmath: exact derivatives of the op table's rules, with no step size.

A rule is written against a namespace ``m``; run on ``Dual`` values in the ``DualMath``
namespace, it returns its value and its derivative along one direction. The derivatives
used here are those of the elementary functions themselves (exp' = exp, cos' = -sin, …),
not the op table's partials. Used for second derivatives and for the rounding bound, where
differences of high-precision values would need a step that suits every scale at once.
"""
from __future__ import annotations

from typing import Any

__all__ = ["Dual", "DualMath"]


class Dual:
    __slots__ = ("v", "d")

    def __init__(self, v, d=0):
        self.v, self.d = v, d

    @staticmethod
    def lift(x) -> "Dual":
        return x if isinstance(x, Dual) else Dual(x, 0)

    def __add__(self, o):
        o = Dual.lift(o)
        return Dual(self.v + o.v, self.d + o.d)

    __radd__ = __add__

    def __sub__(self, o):
        o = Dual.lift(o)
        return Dual(self.v - o.v, self.d - o.d)

    def __rsub__(self, o):
        return Dual.lift(o) - self

    def __mul__(self, o):
        o = Dual.lift(o)
        return Dual(self.v * o.v, self.d * o.v + self.v * o.d)

    __rmul__ = __mul__

    def __truediv__(self, o):
        o = Dual.lift(o)
        return Dual(self.v / o.v, (self.d * o.v - self.v * o.d) / (o.v * o.v))

    def __rtruediv__(self, o):
        return Dual.lift(o) / self

    def __neg__(self):
        return Dual(-self.v, -self.d)

    def __gt__(self, o):
        return self.v > Dual.lift(o).v

    def __lt__(self, o):
        return self.v < Dual.lift(o).v

    def __ge__(self, o):
        return self.v >= Dual.lift(o).v

    def __le__(self, o):
        return self.v <= Dual.lift(o).v

    def __eq__(self, o):
        return self.v == Dual.lift(o).v

    def __hash__(self):
        return hash(self.v)


class DualMath:
    """The math namespace on Dual numbers, over a Precise namespace ``p``."""

    def __init__(self, p):
        self.p, c = p, p.ctx
        self.ctx = c

        def unary(f, df):
            def g(x):
                x = Dual.lift(x)
                return Dual(f(x.v), df(x.v) * x.d if x.d else 0)
            return g
        self.exp = unary(c.exp, c.exp)
        self.log = unary(c.log, lambda x: 1 / x)
        self.sin = unary(c.sin, c.cos)
        self.cos = unary(c.cos, lambda x: -c.sin(x))
        self.tan = unary(c.tan, lambda x: 1 + c.tan(x) ** 2)
        self.tanh = unary(c.tanh, lambda x: 1 / c.cosh(x) ** 2)
        self.cosh = unary(c.cosh, c.sinh)
        self.sqrt = unary(c.sqrt, lambda x: 1 / (2 * c.sqrt(x)))
        self.atan = unary(c.atan, lambda x: 1 / (1 + x * x))
        self.log1p = unary(c.log1p, lambda x: 1 / (1 + x))
        self.expm1 = unary(c.expm1, c.exp)
        self.sigmoid = unary(p.sigmoid, lambda x: p.sigmoid(x) * p.sigmoid(-x))
        self.abs = unary(abs, c.sign)

    def float(self, x) -> Dual:
        return Dual.lift(x if isinstance(x, Dual) else self.p.float(x))

    def pow(self, x, c) -> Dual:
        x, c = Dual.lift(x), Dual.lift(c)
        v = self.p.pow(x.v, c.v)
        d = 0
        if x.d:
            d += c.v * self.p.pow(x.v, c.v - 1) * x.d
        if c.d:
            d += v * self.ctx.log(x.v) * c.d
        return Dual(v, d)

    # piecewise-constant functions: derivative 0 (their kinks are the judge's business)
    def sign(self, x) -> Dual:
        return Dual(self.ctx.sign(Dual.lift(x).v), 0)

    def step(self, x) -> Dual:
        return Dual(self.ctx.mpf(1) if Dual.lift(x).v > 0 else self.ctx.mpf(0), 0)

    def maximum(self, x, y) -> Dual:
        x, y = Dual.lift(x), Dual.lift(y)
        return x if x.v >= y.v else y

    def minimum(self, x, y) -> Dual:
        x, y = Dual.lift(x), Dual.lift(y)
        return x if x.v <= y.v else y


def value(x: Any):
    return x.v if isinstance(x, Dual) else x


def derivative(x: Any):
    return x.d if isinstance(x, Dual) else 0
