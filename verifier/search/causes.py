"""Causes blame names, read off the case and the failing check alone (no engine call): an
error that is exactly a term of the chain rule's path sum, and a rule whose float64
intermediate leaves the range (``y·y`` overflowing inside div's textbook rule).
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from oracles.base import OracleError
from oracles.paths import PATH_CAP, count_paths, enumerate_paths, stable_graph
from verifier.floor.ir import Node, evaluate
from verifier.floor.mathns import F64
from verifier.floor.numtext import short
from verifier.model import Case, Check

__all__ = ["Term", "missing_term", "path_text", "rule_overflow", "number", "TEXTBOOK"]


SUBSET_PATHS = 12   # every subset of up to this many paths is tried (4,095 sums)


@dataclass(frozen=True)
class Term:
    paths: tuple[str, ...]      # each as "x → mul → add"
    value: float
    missing: bool               # the engine lacks it (else: counted once more)


def missing_term(case: Case, bad: Check) -> Term | None:
    """Is the engine's error, within the bound, the product of one output→input path (or the
    sum of a few)? Then a term of the chain rule was dropped or doubled, whatever its size."""
    if bad.variable is None or bad.expected is None or bad.actual is None or not math.isfinite(bad.actual):
        return None
    if count_paths(case.expr).get(bad.variable, 0) > PATH_CAP:
        return None
    try:
        g = stable_graph(case.expr, case.point, case.ops)
        found = enumerate_paths(g, bad.variable)
    except (OracleError, KeyError, ArithmeticError, ValueError):
        return None
    terms = [(path_text(p, bad.variable), float(prod)) for p, prod in found]
    terms = [(t, v) for t, v in terms if v != 0 and math.isfinite(v)]
    if len(terms) < 2 and not (len(terms) == 1 and bad.actual == 0):
        return None   # with one path, "the term is missing" is "the answer is wrong"
    diff = bad.expected - bad.actual
    tol = 2 * (bad.bound or 0.0) + 4 * np.finfo(float).eps * abs(bad.expected)
    ranked = sorted(terms, key=lambda t: -abs(t[1]))[:SUBSET_PATHS]
    for size in range(1, len(ranked) + 1):
        for subset in itertools.combinations(ranked, size):
            total = math.fsum(v for _, v in subset)
            for missing, target in ((True, diff), (False, -diff)):
                if abs(target - total) <= tol and total != 0:
                    return Term(tuple(t for t, _ in subset), total, missing)
    return None


def path_text(path: list, variable: str) -> str:
    return " → ".join([variable] + [n.op for n, _ in reversed(path)])




# ── a nonfinite gradient from an overflowing intermediate ──────────────────────────────────

class Traced:
    """A float64 that records every arithmetic step made from it: which intermediate of a
    rule left the float range, and which step then made the nan."""

    def __init__(self, value, text: str, log: list):
        self.v, self.t, self.log = np.float64(value), text, log

    def _op(self, other, sym, fn, flip=False):
        o = other if isinstance(other, Traced) else Traced(other, short(float(other)), self.log)
        a, b = (o, self) if flip else (self, o)
        with np.errstate(all="ignore"):
            v = fn(a.v, b.v)
        out = Traced(v, f"{a.t}{sym}{b.t}", self.log)
        self.log.append((out.t, float(v), (float(a.v), float(b.v)), sym))
        return out

    def __add__(self, o): return self._op(o, " + ", np.add)
    def __radd__(self, o): return self._op(o, " + ", np.add, True)
    def __sub__(self, o): return self._op(o, " - ", np.subtract)
    def __rsub__(self, o): return self._op(o, " - ", np.subtract, True)
    def __mul__(self, o): return self._op(o, "·", np.multiply)
    def __rmul__(self, o): return self._op(o, "·", np.multiply, True)
    def __truediv__(self, o): return self._op(o, "/", np.divide)
    def __rtruediv__(self, o): return self._op(o, "/", np.divide, True)
    def __pow__(self, o): return self._op(o, "^", np.power)
    def __rpow__(self, o): return self._op(o, "^", np.power, True)

    def __neg__(self):
        return Traced(-self.v, f"-{self.t}", self.log)


class TracedMath:
    """``F64`` on traced values: each function call is one recorded step."""

    def __init__(self, log: list):
        self.log = log
        self.float = lambda v: Traced(v, short(float(v)), log)

    def __getattr__(self, name):
        fn = getattr(F64, name)
        if not callable(fn):   # a constant (pi)
            return fn

        def call(*args):
            vals = [a.v if isinstance(a, Traced) else a for a in args]
            with np.errstate(all="ignore"):
                v = fn(*vals)
            text = f"{name}({', '.join(a.t if isinstance(a, Traced) else short(float(a)) for a in args)})"
            self.log.append((text, float(v), tuple(float(x) for x in vals), name))
            return Traced(v, text, self.log)
        return call


# partials as engines write them from the formula, where the table's form avoids a square:
# the rule an engine's overflow most likely came from
TEXTBOOK = {
    "div": (lambda m, x, y, ans: 1.0 / y, lambda m, x, y, ans: -x / (y * y)),
    "sigmoid": (lambda m, x, ans: m.exp(-x) / (1.0 + m.exp(-x)) ** 2,),
    "powv": (lambda m, x, y, ans: y * m.pow(x, y - 1.0), lambda m, x, y, ans: ans * m.log(x)),
    "softplus": (lambda m, x, ans: m.exp(x) / (1.0 + m.exp(x)),),
    "asinh": (lambda m, x, ans: 1.0 / m.sqrt(1.0 + x * x),),
    "hypot": (lambda m, x, y, ans: x / m.sqrt(x * x + y * y), lambda m, x, y, ans: y / m.sqrt(x * x + y * y)),
    "reciprocal": (lambda m, x, ans: -1.0 / (x * x),),
}
_NAMES = ("x", "y", "z")


def number(v: float) -> str:
    return "nan" if math.isnan(v) else ("-inf" if v < 0 else "inf") if math.isinf(v) else short(v)


def rule_overflow(case: Case, n: Node) -> str:
    """"div's rule overflows: y·y = inf at y = 1e+200, then inf/inf = nan", if an
    intermediate of the op's textbook rule (or its table rule) leaves the float range at
    these argument values while the true partial is finite; "" otherwise."""
    if n.op not in case.ops:
        return ""
    spec = case.ops[n.op]
    with np.errstate(all="ignore"):
        values = evaluate(n, case.point, F64, ops=case.ops)
    args = [float(values[s]) for s in n.src]
    ans = float(values[n])
    forms = [f for f in (TEXTBOOK.get(n.op, ()) + tuple(spec.partials)) if f is not None]
    for rule in forms:
        log: list = []
        m = TracedMath(log)
        traced = [Traced(a, _NAMES[i] if i < len(_NAMES) else f"a{i}", log) for i, a in enumerate(args)]
        try:
            rule(m, *traced, Traced(ans, "ans", log))
        except Exception:   # a form that cannot run on these values tells nothing
            continue
        over = next(((t, v, ins) for t, v, ins, _ in log
                     if math.isinf(v) and all(math.isfinite(i) for i in ins)), None)
        if over is None:
            continue
        text, v, _ = over
        names = sorted({_NAMES[i] for i in range(min(len(args), 3)) if _NAMES[i] in text})
        at = ", ".join(f"{nm} = {short(args[_NAMES.index(nm)])}" for nm in names)
        nan = next(((ins, sym) for t, val, ins, sym in log if math.isnan(val)
                    and all(not math.isnan(i) for i in ins)), None)
        then = (f", then {number(nan[0][0])}{nan[1].strip() or '·'}{number(nan[0][1])} = nan"
                if nan and len(nan[0]) == 2 else "")
        return f"{n.op}'s rule overflows: {text} = {number(v)} at {at}{then}"
    return ""
