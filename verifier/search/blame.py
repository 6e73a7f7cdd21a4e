"""Which op to blame: the lowest node where the engine's derivative departs from the truth.

Every node of a DAG roots a sub-expression of its own. Checked bottom-up, the first
sub-expression the engine gets wrong has only correct sub-expressions below it, so the error
enters at its root op. That op is then checked alone, on fresh variables holding the same
values: wrong alone means its local rule is wrong; right alone means the engine goes wrong
when it combines (a shared argument not accumulated, a backward pass out of order).

Two faults pass for others under that test, and are told apart before it answers: an op
whose backward ignores its upstream gradient is right alone (the upstream there is 1), so
each op below is also checked under an upstream of 3; and distinct leaves holding the same
value, merged by the engine into one node, make the op that combines them look wrong alone
(its fresh variables hold the same values again), so the case is also checked with them as
one variable and with them moved apart.

Then the cause is named (issue #22): a precision blame only when the op alone, at a spread of
points, never errs beyond float32 rounding and the error is no term of the path sum (an error
equal to one path's product, or a sum of some, is a missing or doubled term); a crash is its
exception and the engine line that raised, with a structural trigger named when there is one;
a nonfinite gradient whose textbook rule overflows names the rule and the intermediate; NaN
through ``where``'s unselected branch is 0·inf; an inconsistent answer, or a mismatch the
same case does not repeat when checked again (state kept between calls), is no op's fault.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import numpy as np

from verifier.floor import program
from verifier.floor.ir import Node, apply, const, evaluate, show, toposort, var, variables
from verifier.floor.mathns import F64
from verifier.floor.numtext import exact, short
from verifier.floor.program import is_tensor_program
from verifier.model import Case, Check, Verdict
from verifier.search.causes import Term, missing_term, number, rule_overflow
from verifier.truth.leaks import ZERO_TIMES_INF, unselected_leak

__all__ = ["Blame", "blame", "signature", "origin_of"]


@dataclass(frozen=True)
class Blame:
    op: str | None
    node: int | None      # position of the culprit in toposort(expr), for drawing
    # local-rule | composition | precision | forward | crash | timeout | inconsistent |
    # zero-times-inf | unknown
    how: str
    detail: str = ""
    # what the signature names after the verdict's kind, when not the op (signature())
    key: str = ""


class _ScalarView:
    """Sub-expressions and ops-alone of a scalar case."""

    def __init__(self, case: Case):
        self.point, self.ops = case.point, case.ops

    def sub(self, n: Node) -> Case:
        return Case(n, {v: self.point[v] for v in variables(n)}, ops=self.ops)

    def local(self, n: Node) -> Case:
        """``n``'s op on a fresh variable per argument position (``x*x`` becomes ``a0*a1``:
        no sharing left), each holding that argument's float64 value."""
        with np.errstate(all="ignore"):
            values = evaluate(n, self.point, F64, ops=self.ops)
        args, local_point = [], {}
        for i, s in enumerate(n.src):
            if i in self.ops[n.op].params or s.op == "const":
                args.append(s)
            else:
                local_point[f"a{i}"] = float(values[s])
                args.append(var(f"a{i}"))
        return Case(apply(self.ops[n.op], *args), local_point, ops=self.ops)


class _TensorView:
    """The same for tensor programs: a sub-program is reduced with a fixed cotangent of its
    own shape, and an op alone gets fresh tensor variables holding its arguments' values."""

    def __init__(self, case: Case):
        self.point, self.ops = case.point, case.ops
        self.values = program.forward(case.expr, case.point, case.ops.tensor)

    def _reduced(self, n: Node, point) -> Case:
        shape = self.values[n].shape if n in self.values else program.forward(n, point, self.ops.tensor)[n].shape
        if shape == ():
            return Case(n, point, ops=self.ops)
        w = np.resize(np.array(_COTANGENT), shape) if shape else np.array(1.0)
        return Case(program.reduce_with(n, w), point, ops=self.ops)

    def sub(self, n: Node) -> Case:
        return self._reduced(n, {v: self.point[v] for v in variables(n)})

    def local(self, n: Node) -> Case:
        args, local_point = [], {}
        for i, s in enumerate(n.src):
            if s.op in ("const", "tconst", "iconst") or (s.op == "var" and i in self.ops.tensor_op(n.op).nondiff):
                args.append(s)
                if s.op == "var":
                    local_point[s.arg] = self.point[s.arg]
            else:
                local_point[f"a{i}"] = self.values[s]
                args.append(var(f"a{i}"))
        return self._reduced(program.tapply(self.ops.tensor_op(n.op), *args, **program.params_of(n)), local_point)


def signature(verdict: Verdict, culprit: Blame) -> str:
    """What makes two discrepancies "the same": the kind, then what the blame names — always
    an op or ops — and a mode suffix (``:forward``: not the reverse-mode fault of that op).

    A local rule, a forward value, a nonfinite rule: the op (``mismatch:tanh``). Precision:
    ``precision:`` and the op (``precision:float32`` when gradients are kept in float32, which
    every op shows). Composition: the culprit node's op when the fault is that op's own
    (``composition:minimum``: its identical twin in maximum is another finding). An engine-wide
    accumulation or traversal fault shows under whichever op the shrinker keeps: with the op
    in the key, 1,000 examples of ``mutant:overwrite`` made 7 findings and of
    ``mutant:leaves-first`` 23, one per op, for one bug. So blame checks two fixed probes made
    of add and mul only — ``x + x`` (a node given twice) and ``(x + 1)·3`` (a chain) — and
    when one fails too, the fault is the engine's, and the key names the probe's ops
    (``composition:accumulation:add``, ``composition:order:add+mul``): one finding per
    engine-wide fault, still naming the ops that show it at its smallest. A crash is its
    exception and the engine line that raised (``crash:ValueError@my_engine.py:88``): one root
    cause, whichever op's call met it; without a line, the op. NaN through ``where``'s
    unselected branch names both ops (``nonfinite:where+sqrt``). An inconsistent answer names
    no op: two identical builds differing is the engine's state, not a rule."""
    key = culprit.key or (f"{culprit.how}:{culprit.op or '?'}" if culprit.how in ("composition", "precision")
                          else "" if culprit.how == "inconsistent" else culprit.op or "?")
    return verdict.kind + (f":{key}" if key else "") + (f":{verdict.mode}" if verdict.mode else "")


_COTANGENT = (1.0, -0.75, 1.25, 0.5, -1.5, 2.0)


STATE = "the same case checked again gave a different answer: the engine keeps state between calls"
PRECISION = 1e-5   # right to five digits yet beyond the bound: precision lost, not a wrong rule


def blame(case: Case, verdict: Verdict, check: Callable[[Case], Verdict]) -> Blame:
    first = _before_locating(case, verdict, check)
    if first is not None:
        return first
    found = _locate(case, verdict, check)
    if found.how == "inconsistent":
        return found
    bad = verdict.failing
    scalar = not is_tensor_program(case.expr, case.point)
    if (verdict.kind == "mismatch" and bad is not None and bad.expected
            and abs(bad.actual - bad.expected) <= PRECISION * abs(bad.expected)):
        return _precision(case, bad, found, check, scalar)
    if (verdict.kind == "mismatch" and bad is not None and bad.expected and bad.actual is not None
            and bad.actual != bad.expected and bad.actual == _in_float32(bad.expected)
            and scalar and _float32_everywhere(check)):
        # gradients kept in float32, seen where they are not 1e-7 off but flushed to 0 or
        # subnormal: every op then fails alone, and "local rule" would name whichever op the
        # shrinker kept. A rule that flushes by itself (a square overflowing) leaves x*0.1
        # exact, and stays a local rule.
        return Blame(found.op, found.node, "precision",
                     f"the engine's {exact(bad.actual)} is the truth {exact(bad.expected)} rounded to "
                     f"float32, as its d(0.1·x)/dx is 0.1 in float32: gradients kept in float32",
                     key="precision:float32")
    if found.how == "composition":
        term = missing_term(case, bad) if verdict.kind == "mismatch" and scalar and bad is not None else None
        return _with_term(found, term, check) if term is not None else _engine_wide(found, check)
    if verdict.kind in ("nonfinite", "mismatch") and found.how == "local-rule" and scalar and found.node is not None:
        overflow = rule_overflow(case, toposort(case.expr)[found.node])
        if overflow:
            engine = f"; the engine's gradient is {number(bad.actual)}" if bad is not None and bad.actual is not None else ""
            # nonfinite: the overflow is the cause; a finite wrong value: a likely one, said beside
            detail = overflow + engine if verdict.kind == "nonfinite" else f"{found.detail}; {overflow}"
            return Blame(found.op, found.node, found.how, detail, found.key)
    return found


def _before_locating(case: Case, verdict: Verdict, check: Callable[[Case], Verdict]) -> Blame | None:
    """The causes that no sub-expression check could name, or would name wrongly."""
    if verdict.kind == "inconsistent":
        # the same graph built twice answered twice differently: state or nondeterminism, not
        # a rule or a path sum; the runner's reason says which quantity moved
        return Blame(None, None, "inconsistent", "two identical builds gave different answers")
    if verdict.kind == "crash":
        return _crash(case, verdict, check)
    leak = unselected_leak(case) if verdict.kind == "nonfinite" else None
    if leak is not None:
        op, text = leak
        k = next((i for i, n in enumerate(toposort(case.expr)) if n.op == op), None)
        # the judge's reason may say 0·inf already (truth.tensor_judge): then only whom
        said = ZERO_TIMES_INF in verdict.reason
        return Blame(op, k, "zero-times-inf",
                     f"blamed on {op} and where: where does not select {op}'s branch here" if said else text,
                     key=f"where+{op}")
    if verdict.kind in ("mismatch", "nonfinite") and not _same_again(verdict, check(case)):
        # every check below builds fresh graphs: if this very case now answers otherwise, what
        # they would find is the engine's leftover state, not a rule (a stale adjoint buffer)
        return Blame(None, None, "inconsistent", STATE, key="state")
    return None


def _precision(case: Case, bad: Check, found: Blame, check: Callable[[Case], Verdict], scalar: bool) -> Blame:
    """Right to PRECISION: precision lost, unless the error is a term of the path sum or the
    op alone errs beyond float32 rounding somewhere near."""
    term = missing_term(case, bad) if scalar else None
    if term is not None:
        return _with_term(found, term, check)
    wrong = _wrong_somewhere(case, found, check) if scalar and found.node is not None else None
    if wrong is not None:
        how = "forward" if bad.variable is None else "local-rule"   # its value, or its rule
        return Blame(found.op, found.node, how, f"{found.op} is wrong on its own: {wrong}")
    rel = abs(bad.actual - bad.expected) / abs(bad.expected)
    return Blame(found.op, found.node, "precision", key="precision:float32" if _float32_everywhere(check) else "",
                 detail=f"right to {short(PRECISION)}, but a relative error of {short(rel)} is more than "
                 f"this dtype's rounding allows here (relative bound {short(bad.bound / abs(bad.expected))}); "
                 f"{found.op} alone errs no more than float32 rounding at {len(SPREAD)} points around "
                 f"these values, and the error is no term of the path sum")


def _same_again(first: Verdict, again: Verdict) -> bool:
    a, b = first.failing, again.failing
    if first.kind != again.kind or a is None or b is None:
        return first.kind == again.kind
    return a.variable == b.variable and (a.actual == b.actual or a.actual != a.actual and b.actual != b.actual)


def _in_float32(x: float) -> float:
    with np.errstate(all="ignore"):
        return float(np.float32(x))


def _float32_everywhere(check: Callable[[Case], Verdict]) -> bool:
    verdict = check(Case(apply("mul", var("a0"), const(0.1)), {"a0": 1.0}))
    bad = verdict.failing
    return (verdict.is_discrepancy and bad is not None and bad.actual is not None
            and bad.expected is not None and bad.actual == _in_float32(bad.expected))


def _locate(case: Case, verdict: Verdict, check: Callable[[Case], Verdict]) -> Blame:
    order = toposort(case.expr)
    if verdict.kind == "crash" and verdict.where in {n.op for n in order}:
        k = next(i for i, n in enumerate(order) if n.op == verdict.where)
        return Blame(verdict.where, k, "crash", f"the engine raised inside {verdict.where}")
    if verdict.kind == "timeout":
        ops = [n for n in order if not n.is_leaf]
        return Blame(ops[0].op if len(ops) == 1 else None, None, "timeout")
    view = _TensorView(case) if is_tensor_program(case.expr, case.point) else _ScalarView(case)
    unsure: list[tuple[int, Node]] = []   # sub-expressions with no verdict here: right or not, unknown
    for k, n in enumerate(order):
        if n.is_leaf:
            continue
        sub = verdict if n is case.expr else check(view.sub(n))
        if sub.kind == "undecided":
            unsure.append((k, n))
        if not sub.is_discrepancy:
            continue
        failing = sub.failing
        if failing is not None and failing.variable is None:
            return Blame(n.op, k, "forward", f"the forward value of {n.op} is wrong")
        local = view.local(n)
        scalar = isinstance(view, _ScalarView)
        alone = None if local.expr is n else check(local)
        if alone is None or alone.is_discrepancy:
            if alone is not None and alone.kind in ("mismatch", "nonfinite") and not _same_again(alone, check(local)):
                return Blame(None, None, "inconsistent", STATE, key="state")   # the op alone, twice, two answers
            # the fresh variables a0, a1 are named after the arguments they stand for
            merged = _merged_leaves(local, check, {f"a{i}": show(s) for i, s in enumerate(n.src)}) \
                if scalar else None
            if merged:
                return Blame(n.op, k, "composition", f"{n.op}'s rule is right, but {merged}")
            return Blame(n.op, k, "local-rule", f"{n.op} is wrong on its own")
        if scalar:
            merged = _merged_leaves(view.sub(n), check)
            if merged:
                return Blame(n.op, k, "composition", f"{n.op} is right alone, but {merged}")
            dropped = _chain_dropped(view, order, n, check)
            if dropped is not None:
                return dropped
            wrong = _wrong_elsewhere(view, unsure, check)
            if wrong is not None:
                return wrong
        shared = len(set(n.src)) < len(n.src) or _shares(n)
        return Blame(n.op, k, "composition",
                     f"{n.op} is right alone but wrong here: "
                     + ("its arguments share a node — gradients from several paths must add up"
                        if shared else "the backward pass combines its arguments wrongly"))
    return Blame(None, None, "unknown", "no sub-expression fails alone")


# Where an op's own check has no verdict at the failing point (tanh' of -19 is 1e-16, and
# the textbook 1 - tanh² there is rounding alone), its fault shows only in a consumer that is
# right alone: composition would be the wrong word. Such an op is checked alone at a few
# ordinary points; one that fails there is blamed on its own, and the detail says where.
_ORDINARY = (0.5, -0.7, 1.3)


def _wrong_elsewhere(view: "_ScalarView", unsure: list[tuple[int, Node]], check: Callable[[Case], Verdict]
                     ) -> Blame | None:
    for k, n in unsure:
        local = view.local(n)
        for t in _ORDINARY:
            point = {v: t + i / 8 for i, v in enumerate(sorted(local.point))}
            if not view.ops[n.op].domain(*[point.get(f"a{i}", s.arg) for i, s in enumerate(local.expr.src)]):
                continue
            alone = check(Case(local.expr, point, ops=local.ops))
            if alone.is_discrepancy:
                where = ", ".join(f"{v} = {x:g}" for v, x in point.items())
                return Blame(n.op, k, "local-rule", f"{n.op} is wrong on its own (at {where}); at this "
                             "point its own check has no verdict, so the fault shows in its consumer")
    return None


def _shares(n: Node) -> bool:
    seen: set[Node] = set()
    for s in n.src:
        below = set(toposort(s))
        if below & seen:
            return True
        seen |= below
    return False


# An op checked alone gets an upstream gradient of 1, which hides a backward that forgets to
# multiply by it (``x.grad += cos(x)``): the fault then shows only in the op's consumer, which
# is right alone too. So before calling a fault a composition fault, every op below the
# failing node is checked alone under upstream 3 (times the constant 3) and under upstream 1
# (times 1): wrong under 3 and right under 1 is the op's own rule missing its chain factor.
# Both checks go through the same mul, so a fault in mul or in the traversal (which a depth
# of two already shows) fails both and blames nothing here.
UPSTREAM = 3.0


def _chain_dropped(view: "_ScalarView", order: list[Node], n: Node,
                   check: Callable[[Case], Verdict]) -> Blame | None:
    for d in toposort(n):
        if d is n or d.is_leaf:
            continue
        alone = view.local(d)

        def scaled(c: float) -> Case:
            return Case(apply("mul", alone.expr, const(c)), alone.point, ops=alone.ops)
        if check(scaled(UPSTREAM)).is_discrepancy and not check(scaled(1.0)).is_discrepancy:
            return Blame(d.op, order.index(d), "local-rule",
                         f"{d.op} is right with an upstream gradient of 1 but wrong with "
                         f"{UPSTREAM:g}: its backward does not multiply by the incoming gradient")
    return None


def _merged_leaves(case: Case, check: Callable[[Case], Verdict],
                   names: dict[str, str] | None = None) -> str | None:
    """Why a case whose op rules are right fails, if it is this: distinct leaves — two
    variables, or a variable and a constant — hold the same value and the engine makes one
    node of them (hash-consing by value), so each gets the other's gradient too. Said only
    if the case passes with each group of equal leaves made one variable, and passes with
    the variables moved apart: a rule wrong only at a tie (max(x, x)) fails the first."""
    leaves = [n for n in toposort(case.expr) if n.is_leaf]
    value = {n: case.point[n.arg] if n.op == "var" else n.arg for n in leaves}
    groups: dict[float, list[Node]] = {}
    for n in leaves:
        groups.setdefault(float(value[n]), []).append(n)
    groups = {v: g for v, g in groups.items() if len(g) > 1 and any(n.op == "var" for n in g)}
    if not groups:
        return None
    one: dict[Node, Node] = {}
    moved = dict(case.point)
    step = 0
    for v, g in groups.items():
        keep = next(n for n in g if n.op == "var")
        one.update({n: keep for n in g if n is not keep})
        for n in g:   # every variable but one moves; all of them, if a constant holds the value
            if n.op == "var" and (n is not keep or any(m.op == "const" for m in g)):
                step += 1   # each by a different amount, so none lands on another
                moved[n.arg] = v + (abs(v) or 1.0) * 2.0 ** -20 * step
    merged = _substitute(case.expr, one)
    if check(Case(merged, {x: case.point[x] for x in variables(merged)}, ops=case.ops)).is_discrepancy:
        return None
    if check(Case(case.expr, moved, ops=case.ops)).is_discrepancy:
        return None
    names = names or {}

    def name(n: Node) -> str:
        return names.get(n.arg, n.arg) if n.op == "var" else f"the constant {n.arg:g}"
    which = "; ".join(" and ".join(name(n) for n in g) + f" {'both' if len(g) == 2 else 'all'} hold {v:g}" for v, g in groups.items())
    return (f"{which}, and the engine makes one node of them (identical leaves merged, as "
            f"when leaves are hash-consed by value): each gets the other's gradient too — "
            f"right with them as one variable, right once they differ")


def _substitute(expr: Node, mapping: dict[Node, Node]) -> Node:
    out: dict[Node, Node] = {}
    for n in toposort(expr):
        if n in mapping:
            out[n] = mapping[n]
        elif n.is_leaf:
            out[n] = n
        else:
            out[n] = Node(n.op, tuple(out[s] for s in n.src), n.arg)
    return out[expr]


# ── crashes: one root cause per exception and engine line ──────────────────────────────────

_AT = re.compile(r"\(([^()\s]+:\d+)\)\s*$")


def origin_of(verdict: Verdict) -> str:
    """The engine's file:line that raised: the runner's ``origin``, else the one its message
    ends with (``ValueError: … (my_engine.py:88)``, the last frame of the traceback)."""
    if verdict.origin:
        return verdict.origin
    m = _AT.search(verdict.reason)
    return m.group(1) if m else ""


def _exception(reason: str) -> str:
    m = re.match(r"([A-Za-z_][A-Za-z0-9_.]*)(:|\s|$)", reason)
    return m.group(1) if m else "crash"


def _crash(case: Case, verdict: Verdict, check: Callable[[Case], Verdict]) -> Blame:
    order = toposort(case.expr)
    origin, exc = origin_of(verdict), _exception(verdict.reason)
    key = f"{exc}@{origin}" if origin else ""
    at = f" at {origin}" if origin else ""
    scalar = not is_tensor_program(case.expr, case.point)
    ops = [n for n in order if not n.is_leaf]
    in_op = [n for n in ops if n.op == verdict.where]
    candidates = in_op
    if not candidates:
        # raised outside an op call (in gradients()): the lowest sub-expression that crashes
        view = _TensorView(case) if not scalar else _ScalarView(case)
        candidates = [next((n for n in ops if (verdict if n is case.expr else check(view.sub(n))).kind == "crash"),
                           None)]
        candidates = [n for n in candidates if n is not None]
    phase = f" in {verdict.where}()" if verdict.where and not in_op else ""
    if not candidates:
        return Blame(None, None, "crash", f"the engine raised {exc}{at}{phase}", key)
    # of several nodes of the raising op, one given the same node twice is the suspect
    n = next((c for c in candidates if len(set(c.src)) < len(c.src)), candidates[0])
    k = order.index(n)
    detail = (f"the engine raised {exc}{at} inside {n.op}" if in_op else
              f"the engine raised {exc}{at}{phase}"
              + (f", in {n.op}'s backward" if "gradients" in verdict.where or "derivatives" in verdict.where else "")
              + f": the smallest sub-expression that crashes is {show(n)}")
    if scalar and len(set(n.src)) < len(n.src):
        alone = _ScalarView(case).local(n)   # the same values on distinct leaves
        if alone.expr is not n and check(alone).kind != "crash":
            detail += (f": it crashes when an op is given the same node twice ({show(n)}), "
                       f"and not on distinct leaves holding the same values")
    return Blame(n.op, k, "crash", detail, key or n.op)


# ── a term of the path sum missing or counted twice ────────────────────────────────────────

def _with_term(found: Blame, term: Term, check: Callable[[Case], Verdict]) -> Blame:
    paths = " and ".join(term.paths)
    one = len(term.paths) == 1
    text = (f"a term is missing: the path{'' if one else 's'} {paths} contribute{'s' if one else ''} "
            f"{short(term.value)} and the engine's answer lacks exactly that" if term.missing else
            f"a term is counted twice: the path{'' if one else 's'} {paths} contribute{'s' if one else ''} "
            f"{short(term.value)} and the engine's answer has exactly that once too often")
    if found.how == "local-rule":
        return Blame(found.op, found.node, found.how, f"{found.detail}; {text}", found.key)
    return _engine_wide(Blame(found.op, found.node, "composition", f"{found.detail}; {text}"), check)


# ── is a composition fault the op's, or the engine's? ──────────────────────────────────────

def _probes() -> tuple[tuple[str, str, Case, Case | None], ...]:
    """Fixed cases of add and mul only, each failing under one engine-wide fault: a node given
    twice (accumulation); a chain (a walk leaves first); a node reached by paths of two
    lengths, ``(s + s·3) + s`` with ``s = x + 1`` (a walk, breadth or depth first, that pushes
    s down before every share of it has arrived); and leaves holding one value merged into
    one node (two variables, or a variable and a constant) — that one only if the same case
    passes once the values differ (its control), as a traversal fault's would not."""
    x, y = var("a0"), var("a1")
    s = apply("add", x, const(1.0))
    merged = apply("add", apply("mul", x, const(0.7)), y)
    return (("accumulation:add", "x + x", Case(apply("add", x, x), {"a0": 0.7}), None),
            ("order:add+mul", "(x + 1)·3", Case(apply("mul", s, const(3.0)), {"a0": 0.7}), None),
            ("order:add+mul", "(s + s·3) + s with s = x + 1",
             Case(apply("add", apply("add", s, apply("mul", s, const(3.0))), s), {"a0": 0.7}), None),
            ("merged-leaves:add+mul", "x·0.7 + y at x = y = 0.7", Case(merged, {"a0": 0.7, "a1": 0.7}),
             Case(merged, {"a0": 0.75, "a1": 0.8})))


def _engine_wide(found: Blame, check: Callable[[Case], Verdict]) -> Blame:
    """A composition fault that also shows in a fixed probe of add and mul only is the
    engine's accumulation, traversal or leaf handling, whichever op it showed in: keyed by
    the probe's fault and ops."""
    for key, text, probe, control in _probes():
        if (check(probe).kind in ("mismatch", "nonfinite", "inconsistent")
                and (control is None or not check(control).is_discrepancy)):
            return Blame(found.op, found.node, "composition",
                         f"{found.detail} — an engine-wide fault: {text} fails the same way",
                         f"composition:{key}")
    return found


# ── precision, or a rule wrong elsewhere ───────────────────────────────────────────────────

# where an op alone is checked before its error is called precision: the failing argument
# values scaled by each factor (nearby, and across magnitudes)
SPREAD = (1 + 2.0 ** -20, 1 - 2.0 ** -20, 0.5, 2.0, 1e-3, 1e3, 1e-8, 1e8)
FLOAT32_REL = 32 * 2.0 ** -24    # a rule computed in float32: a few dozen float32 roundings
FLOAT32_TINY = 32 * 2.0 ** -149  # ... and as many of its smallest subnormal steps


def _wrong_somewhere(case: Case, found: Blame, check: Callable[[Case], Verdict]) -> str | None:
    """Where the culprit op alone errs beyond float32 rounding, in words; None if nowhere."""
    n = toposort(case.expr)[found.node]
    alone = _ScalarView(case).local(n)
    if alone.expr is n:
        return None
    names = {f"a{i}": show(s) for i, s in enumerate(n.src)}   # the fresh a0, a1 stand for these
    for f in SPREAD:
        point = {k: v * f for k, v in alone.point.items()}
        verdict = check(Case(alone.expr, point, ops=alone.ops))
        if verdict.kind != "mismatch":
            continue
        bad = verdict.failing
        if bad is None or not bad.expected or bad.actual is None:
            continue
        rel = abs(bad.actual - bad.expected) / abs(bad.expected)
        # below float32's normal range its rounding is absolute, not relative
        if abs(bad.actual - bad.expected) > FLOAT32_REL * abs(bad.expected) + FLOAT32_TINY:
            at = ", ".join(f"{names.get(k, k)} = {exact(v)}" for k, v in point.items())
            what = "value" if bad.variable is None else "derivative"
            return (f"alone at {at} its {what} is {exact(bad.actual)} for {exact(bad.expected)}, a relative "
                    f"error of {short(rel)}: beyond float32 rounding, so not precision lost")
    return None
