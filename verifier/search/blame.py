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
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from verifier.floor import program
from verifier.floor.ir import Node, apply, const, evaluate, show, toposort, var, variables
from verifier.floor.mathns import F64
from verifier.floor.numtext import exact, short
from verifier.floor.program import is_tensor_program
from verifier.model import Case, Verdict

__all__ = ["Blame", "blame", "signature"]


@dataclass(frozen=True)
class Blame:
    op: str | None
    node: int | None      # position of the culprit in toposort(expr), for drawing
    how: str              # local-rule | composition | forward | crash | unknown
    detail: str = ""


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
            if s.op in ("const", "tconst") or (s.op == "var" and i in self.ops.tensor_op(n.op).nondiff):
                args.append(s)
                if s.op == "var":
                    local_point[s.arg] = self.point[s.arg]
            else:
                local_point[f"a{i}"] = self.values[s]
                args.append(var(f"a{i}"))
        return self._reduced(program.tapply(self.ops.tensor_op(n.op), *args, **program.params_of(n)), local_point)


def signature(verdict: Verdict, culprit: Blame) -> str:
    """What makes two discrepancies "the same": the kind and the op to blame. A composition
    failure (every op right alone) is one engine-wide fault, whichever op shows it first:
    an accumulation bug shows in x*x, x + x and x/x alike, and is one finding, not three.
    So is a loss of precision that every op shows. With the op in the key, 1,000 examples of
    ``mutant:overwrite`` made 7 findings and ``mutant:leaves-first`` 22; so the key names no
    op, and the reports name the ops of each reproducer's failing sub-expression instead
    (``report.finding_html.blamed``). A fault of forward mode (``--forward``) ends in
    ``:forward``: it is not the reverse-mode fault of the same op."""
    where = culprit.how if culprit.how in ("composition", "precision") else culprit.op or "?"
    return f"{verdict.kind}:{where}" + (f":{verdict.mode}" if verdict.mode else "")


_COTANGENT = (1.0, -0.75, 1.25, 0.5, -1.5, 2.0)


PRECISION = 1e-5   # right to five digits yet beyond the bound: precision lost, not a wrong rule


def blame(case: Case, verdict: Verdict, check: Callable[[Case], Verdict]) -> Blame:
    found = _locate(case, verdict, check)
    bad = verdict.failing
    if (verdict.kind == "mismatch" and bad is not None and bad.expected
            and abs(bad.actual - bad.expected) <= PRECISION * abs(bad.expected)):
        rel = abs(bad.actual - bad.expected) / abs(bad.expected)
        return Blame(found.op, found.node, "precision",
                     f"right to {short(PRECISION)}, but a relative error of {short(rel)} is more than "
                     f"this dtype's rounding allows here (relative bound {short(bad.bound / abs(bad.expected))})")
    if (verdict.kind == "mismatch" and bad is not None and bad.expected and bad.actual is not None
            and bad.actual != bad.expected and bad.actual == _in_float32(bad.expected)
            and not is_tensor_program(case.expr, case.point) and _float32_everywhere(check)):
        # gradients kept in float32, seen where they are not 1e-7 off but flushed to 0 or
        # subnormal: every op then fails alone, and "local rule" would name whichever op the
        # shrinker kept. A rule that flushes by itself (a square overflowing) leaves x*0.1
        # exact, and stays a local rule.
        return Blame(found.op, found.node, "precision",
                     f"the engine's {exact(bad.actual)} is the truth {exact(bad.expected)} rounded to "
                     f"float32, as its d(0.1·x)/dx is 0.1 in float32: gradients kept in float32")
    return found


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
    for k, n in enumerate(order):
        if n.is_leaf:
            continue
        sub = verdict if n is case.expr else check(view.sub(n))
        if not sub.is_discrepancy:
            continue
        failing = sub.failing
        if failing is not None and failing.variable is None:
            return Blame(n.op, k, "forward", f"the forward value of {n.op} is wrong")
        local = view.local(n)
        scalar = isinstance(view, _ScalarView)
        if local.expr is n or check(local).is_discrepancy:
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
        shared = len(set(n.src)) < len(n.src) or _shares(n)
        return Blame(n.op, k, "composition",
                     f"{n.op} is right alone but wrong here: "
                     + ("its arguments share a node — gradients from several paths must add up"
                        if shared else "the backward pass combines its arguments wrongly"))
    return Blame(None, None, "unknown", "no sub-expression fails alone")


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
