"""Math namespaces: the same rule text runs in float64, complex, high precision and on Tensors.

An op's forward and partials are written once against a namespace ``m`` (``m.exp(x)``,
``m.step(x)``); which namespace is passed decides the arithmetic. This is what lets the
path-product oracle (high precision), the complex-step oracle and the builtin engine
(float64, or Tensors for second order) share one table without sharing code paths.
"""
from __future__ import annotations

import math

import mpmath
import numpy as np

__all__ = ["F64", "C128", "Precise", "precise"]


class F64:
    """IEEE float64 (and complex128 for complex step): overflow gives inf, never raises."""

    exp, log, sin, cos, tan = np.exp, np.log, np.sin, np.cos, np.tan
    tanh, sqrt, atan, log1p, expm1 = np.tanh, np.sqrt, np.arctan, np.log1p, np.expm1
    cosh, sinh, asin, acos, asinh = np.cosh, np.sinh, np.arcsin, np.arccos, np.arcsinh
    atan2, hypot, logaddexp = np.arctan2, np.hypot, np.logaddexp
    abs = staticmethod(np.abs)
    float = np.float64
    pi = np.pi

    # scipy's erf and erfc take complex128 too (the complex step); imported on first use,
    # as scipy.special costs a tenth of a second that most campaigns never need
    @staticmethod
    def erf(x):
        from scipy.special import erf
        return erf(x)

    @staticmethod
    def erfc(x):
        from scipy.special import erfc
        return erfc(x)

    @staticmethod
    def softplus(x):
        return np.logaddexp(0.0, x)   # log(1 + e^x), without overflow for large x

    @staticmethod
    def pow(x, c):
        return np.power(x, c)

    @staticmethod
    def sigmoid(x):
        return 1.0 / (1.0 + np.exp(-x))

    @staticmethod
    def sign(x):
        return np.sign(x)

    @staticmethod
    def step(x):  # Heaviside with step(0) = 0: the builtin engine's kink convention
        return np.where(np.asarray(x) > 0, 1.0, 0.0)[()]  # [()]: a scalar in, a scalar out

    @staticmethod
    def maximum(x, y):
        return np.maximum(x, y)

    @staticmethod
    def minimum(x, y):
        return np.minimum(x, y)


class C128(F64):
    """complex128, for the complex step: numpy's complex log1p and expm1 are log(1 + z) and
    exp(z) - 1, whose real parts lose every digit of a tiny z (log1p(1e-12 + 1e-42j) has a
    real part 9e-5 off), and the step carries that error on through the ops above."""

    @staticmethod
    def log1p(z):
        a, b = np.real(z), np.imag(z)
        return 0.5 * np.log1p(a * (2.0 + a) + b * b) + 1j * np.arctan2(b, 1.0 + a)

    @staticmethod
    def expm1(z):
        a, b = np.real(z), np.imag(z)
        return np.expm1(a) * np.cos(b) - 2.0 * np.sin(b / 2) ** 2 + 1j * np.exp(a) * np.sin(b)

    # numpy's logaddexp, arctan2 and hypot are real only: the same functions continued to
    # a small imaginary part, branch chosen by the real parts (which the step leaves alone)
    @classmethod
    def logaddexp(cls, x, y):
        hi, lo = (x, y) if np.real(x) >= np.real(y) else (y, x)
        return hi + cls.log1p(np.exp(lo - hi))

    @classmethod
    def softplus(cls, z):
        return cls.logaddexp(0.0 * z, z)

    @staticmethod
    def atan2(y, x):
        if np.real(x) == 0:
            return np.sign(np.real(y)) * np.pi / 2 - np.arctan(x / y)
        turn = 0.0 if np.real(x) > 0 else np.pi if np.real(y) >= 0 else -np.pi
        return np.arctan(y / x) + turn

    @staticmethod
    def hypot(x, y):
        return np.sqrt(x * x + y * y)


class Precise:
    """mpmath at a fixed number of digits, in a private context (the global mp is untouched)."""

    def __init__(self, dps: int = 50):
        ctx = mpmath.MPContext()
        ctx.dps = dps
        self.ctx, self.dps = ctx, dps
        for name in ("exp", "log", "sin", "cos", "tan", "tanh", "sqrt", "atan", "log1p", "expm1", "cosh",
                     "sinh", "asin", "acos", "asinh", "atan2", "hypot", "erf"):
            setattr(self, name, getattr(ctx, name))
        self.float = ctx.mpf
        self.eps = ctx.mpf(2) ** (-ctx.prec)
        self.pi = +ctx.pi   # evaluated at this context's digits

    def abs(self, x):
        return abs(x)

    def pow(self, x, c):
        if x < 0 and c != int(c):
            return self.ctx.nan  # keep the real branch, as float64 does
        if x == 0 and c < 0:
            return self.ctx.inf
        return self.ctx.power(x, c)

    def sigmoid(self, x):
        return 1 / (1 + self.ctx.exp(-x))

    def erfc(self, x):
        """mpmath's erfc, which past x ~ 1e150 fails (a float overflows inside its series
        test): there the asymptotic series, each term 1/(2x²) > 1e30 times the last."""
        if x < 1e15:
            return self.ctx.erfc(x)
        t, term, total = 1 / (2 * x * x), self.ctx.mpf(1), self.ctx.mpf(1)
        for n in range(1, self.dps):
            term *= -(2 * n - 1) * t
            total += term
            if abs(term) < self.eps:
                break
        return self.ctx.exp(-x * x) / (x * self.ctx.sqrt(self.pi)) * total

    def softplus(self, x):
        return x + self.ctx.log1p(self.ctx.exp(-x)) if x > 0 else self.ctx.log1p(self.ctx.exp(x))

    def logaddexp(self, x, y):
        hi, lo = (x, y) if x >= y else (y, x)
        return hi + self.softplus(lo - hi)

    def sign(self, x):
        return self.ctx.sign(x)

    def step(self, x):
        return self.ctx.mpf(1) if x > 0 else self.ctx.mpf(0)

    def maximum(self, x, y):
        return x if x >= y else y

    def minimum(self, x, y):
        return x if x <= y else y


_PRECISE: dict[int, Precise] = {}


def precise(dps: int = 50) -> Precise:
    """A cached high-precision namespace: building an mpmath context is not free."""
    if dps not in _PRECISE:
        _PRECISE[dps] = Precise(dps)
    return _PRECISE[dps]


def is_integer(c) -> bool:
    return math.isfinite(float(c)) and float(c) == int(float(c))
