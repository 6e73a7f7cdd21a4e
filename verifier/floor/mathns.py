"""Math namespaces: the same rule text runs in float64, complex, high precision and on Tensors.

An op's forward and partials are written once against a namespace ``m`` (``m.exp(x)``,
``m.step(x)``); which namespace is passed decides the arithmetic. This is what lets the
path-product oracle (high precision), the complex-step oracle and the builtin engine
(float64, or Tensors for second order) share one table without sharing code paths.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Any

import mpmath
import numpy as np

__all__ = ["F64", "C128", "Precise", "precise", "Ball", "ball", "midpoint"]


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
        # scaled by the larger real part, as a real hypot is: x² of a tiny x underflows
        # (hypot(z, z)' came out 0 at z = 1.2e-198) and of a huge one overflows
        scale = max(abs(np.real(x)), abs(np.real(y)))
        if not scale or not np.isfinite(scale):
            return np.sqrt(x * x + y * y)
        x, y = x / scale, y / scale
        return scale * np.sqrt(x * x + y * y)


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


class _BallContext:
    """What the truth's code asks of mpmath's context (``m.ctx.fsum``, ``m.ctx.mpf``, ...), for
    balls: so a local graph, its adjoints and SymEngine's derivative run on either."""

    def __init__(self, arb, prec: int):
        self.mpf, self.prec, self.dps = arb, prec, _digits(prec)
        self.inf, self.nan = arb.pos_inf(), arb.nan()
        self.e = arb.const_e()
        self.pi = arb.pi()

    def fsum(self, xs):
        total = self.mpf(0)
        for x in xs:
            total += x
        return total

    def fprod(self, xs):
        total = self.mpf(1)
        for x in xs:
            total *= x
        return total

    @staticmethod
    def nstr(x, n: int = 3) -> str:
        return x.mid().str(n, radius=False)

    def log10(self, x):
        return x.log() / self.mpf(10).log()

    @staticmethod
    def isfinite(x) -> bool:
        return x.is_finite()

    @staticmethod
    def isnan(x) -> bool:
        return x.is_nan()

    @staticmethod
    def sign(x):
        return x.sgn()

    @contextmanager
    def workdps(self, dps: int):   # the precision is the ball namespace's, set by ``Ball.working``
        yield


def _digits(prec: int) -> int:
    return int(prec * math.log10(2))


class Ball:
    """python-flint's arb balls at ``prec`` bits: every result is a ball [mid ± rad] that Arb
    proves holds the exact real result of the exact inputs, so a derivative computed here
    is an enclosure, not an estimate. Arb's precision is global to the process: arithmetic
    on balls of this namespace happens inside ``with m.working():``.

    Where a function has a kink or a branch, the ball answer covers every side the ball
    reaches: ``step`` of a ball around 0 is [0, 1], ``maximum`` of overlapping balls is the
    ball of their maximum. At an exact zero (a tie of exact inputs) ``step`` is 0, the same
    convention as the other namespaces: the judge takes both sides of a kink anyway."""

    rigorous = True

    def __init__(self, prec: int):
        from flint import arb
        self.prec, self.dps, self.arb = prec, _digits(prec), arb
        with self.working():
            self.ctx = _BallContext(arb, prec)
            self.pi = arb.pi()
            self._half = arb(0.5, 0.5)    # [0, 1]
        for name in ("exp", "log", "sin", "cos", "tan", "tanh", "sqrt", "atan", "log1p", "expm1", "cosh",
                     "sinh", "asin", "acos", "asinh", "erf", "erfc"):
            setattr(self, name, getattr(arb, name))
            setattr(self.ctx, name, getattr(arb, name))
        self.ctx.atan2, self.ctx.hypot, self.ctx.abs, self.ctx.power = self.atan2, self.hypot, abs, self.pow
        self.ctx.sec = lambda x: 1 / x.cos()
        self.ctx.csc = lambda x: 1 / x.sin()
        self.ctx.cot = lambda x: x.cos() / x.sin()

    @contextmanager
    def working(self):
        from flint import ctx
        saved = ctx.prec
        ctx.prec = self.prec
        try:
            yield self
        finally:
            ctx.prec = saved

    def float(self, x):
        return x if isinstance(x, self.arb) else self.arb(x)

    @staticmethod
    def abs(x):
        return abs(x)

    def atan2(self, y, x):
        return self.arb.atan2(self.float(y), self.float(x))

    def hypot(self, x, y):
        x, y = self.float(x), self.float(y)
        return (x * x + y * y).sqrt()

    def pow(self, x, c):
        x, c = self.float(x), self.float(c)
        if c.is_exact() and c.is_integer():
            k = int(c.unique_fmpz())
            if x.is_zero() and k < 0:
                return self.ctx.inf
            return x ** k
        if x < 0:
            return self.ctx.nan   # the real branch only, as float64
        return x ** c             # exp(c·log x): not finite where x's ball reaches 0

    def sigmoid(self, x):
        # Arb gives up on exp of a large argument at a low precision ([±inf] for e^(5e161)
        # at 192 bits, a tiny ball for e^(-5e161)): the form that exponentiates -|x|
        if x < 0:
            e = x.exp()
            return e / (1 + e)
        return 1 / (1 + (-x).exp())

    def softplus(self, x):
        return x + (-x).exp().log1p() if x > 0 else x.exp().log1p()

    def logaddexp(self, x, y):
        hi, lo = (x, y) if x >= y else (y, x)
        return hi + self.softplus(lo - hi)

    @staticmethod
    def sign(x):
        return x.sgn()

    def step(self, x):
        if x > 0:
            return self.arb(1)
        if x < 0 or x.is_zero():
            return self.arb(0)
        return self._half

    def maximum(self, x, y):
        if x >= y:
            return x
        return y if y > x else x.max(y)

    def minimum(self, x, y):
        if x <= y:
            return x
        return y if y < x else x.min(y)


def midpoint(b, m) -> Any:
    """A narrow ball as a number of the mpmath namespace ``m``: its midpoint, or 0 for a ball
    around 0 (sin(x) - sin(x): its midpoint may be 1e-2400)."""
    return m.float(0) if 0 in b else m.ctx.mpf(b.mid()._mpf_)


_BALLS: dict[int, Ball] = {}


def ball(prec: int) -> Ball:
    """A cached ball namespace of ``prec`` bits."""
    if prec not in _BALLS:
        _BALLS[prec] = Ball(prec)
    return _BALLS[prec]


def is_integer(c) -> bool:
    return math.isfinite(float(c)) and float(c) == int(float(c))
