"""The expression IR: immutable, hash-consed DAG nodes and pure functions over them.

A ``Node`` is ``(op, src, arg)``: ``op`` is ``"var"`` (arg: name), ``"const"`` (arg: a
finite float) or an op of the table (src: its arguments); tensor programs add the leaves
``"tconst"`` (arg: shape and float values) and ``"iconst"`` (shape and int values: indices).
Nodes are interned, so equal sub-graphs are one object: equality is identity, hashing is
O(1), and a DAG with heavy sharing never costs exponential time to compare, hash or walk.
"""
from __future__ import annotations

import math
import weakref
from typing import Any, Callable, Iterable, Mapping

from verifier.floor.ops import OPS, Notation, Op, get_op

__all__ = ["Node", "var", "const", "apply", "toposort", "variables", "evaluate", "size",
           "to_sympy", "show", "show_steps", "consumers"]


LEAVES = ("var", "const", "tconst", "iconst")


class Node:
    __slots__ = ("op", "src", "arg", "_hash", "__weakref__")
    _interned: "weakref.WeakValueDictionary[tuple, Node]" = weakref.WeakValueDictionary()

    op: str
    src: tuple["Node", ...]
    arg: Any

    def __new__(cls, op: str, src: tuple["Node", ...] = (), arg: Any = None) -> "Node":
        # floats are keyed by their bits so 0.0 and -0.0 stay distinct leaves
        key = (op, tuple(id(s) for s in src), arg.hex() if isinstance(arg, float) else arg)
        node = cls._interned.get(key)
        if node is None:
            node = super().__new__(cls)
            object.__setattr__(node, "op", op)
            object.__setattr__(node, "src", src)
            object.__setattr__(node, "arg", arg)
            object.__setattr__(node, "_hash", hash(key))
            cls._interned[key] = node
        return node

    def __setattr__(self, name, value):
        raise AttributeError("Node is immutable")

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other) -> bool:
        return self is other

    def __reduce__(self):  # rebuild through the interning constructor
        return (Node, (self.op, self.src, self.arg))

    def __repr__(self) -> str:
        return f"Node({show(self)})"

    @property
    def is_leaf(self) -> bool:
        return self.op in LEAVES


def var(name: str) -> Node:
    return Node("var", (), name)


def const(value: float) -> Node:
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"constant must be finite, got {value!r}")
    return Node("const", (), value)


def apply(op: str | Op, *src: Node) -> Node:
    """An op node: ``op`` is a record (of any vocabulary) or the name of a built-in op."""
    spec = op if isinstance(op, Op) else get_op(op)
    op = spec.name
    if len(src) != spec.arity:
        raise ValueError(f"op {op!r} takes {spec.arity} arguments, got {len(src)}")
    for i in spec.params:
        if src[i].op != "const":
            raise ValueError(f"argument {i} of op {op!r} must be a constant")
    return Node(op, tuple(src))


def toposort(out: Node) -> list[Node]:
    """Every node reachable from ``out`` once, arguments before their consumers."""
    order: list[Node] = []
    seen: set[Node] = set()
    stack: list[tuple[Node, bool]] = [(out, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if node in seen:
            continue
        seen.add(node)
        stack.append((node, True))
        stack.extend((s, False) for s in reversed(node.src) if s not in seen)
    return order


def variables(out: Node) -> list[str]:
    return sorted({n.arg for n in toposort(out) if n.op == "var"})


def size(out: Node) -> int:
    """Op nodes in the DAG (leaves not counted): the measure shrinking minimises."""
    return sum(1 for n in toposort(out) if not n.is_leaf)


def consumers(order: list[Node]) -> dict[Node, list[Node]]:
    users: dict[Node, list[Node]] = {n: [] for n in order}
    for n in order:
        for s in n.src:
            users[s].append(n)
    return users


def evaluate(out: Node, point: Mapping[str, Any], m, leaf: Callable[[Node], Any] | None = None,
             ops: Mapping[str, Op] = OPS) -> dict[Node, Any]:
    """The value of every node, in namespace ``m``; ``leaf`` may override leaf values; each op's
    record is looked up in ``ops`` (a campaign's vocabulary; the built-in table by default)."""
    values: dict[Node, Any] = {}
    for n in toposort(out):
        if n.op == "var":
            values[n] = leaf(n) if leaf else m.float(point[n.arg])
        elif n.op == "const":
            values[n] = leaf(n) if leaf else m.float(n.arg)
        else:
            values[n] = ops[n.op].forward(m, *(values[s] for s in n.src))
    return values


def to_sympy(out: Node, ops: Mapping[str, Op] = OPS):
    """The SymPy expression, with real symbols and constants as exact rationals."""
    import sympy as sp  # SymPy takes a second to import: only the symbolic fallback needs it

    memo: dict[Node, Any] = {}
    for n in toposort(out):
        if n.op == "var":
            memo[n] = sp.Symbol(n.arg, real=True)
        elif n.op == "const":
            memo[n] = sp.Rational(n.arg)
        else:
            memo[n] = ops[n.op].sympy(sp, *(memo[s] for s in n.src))
    return memo[out]


# ── printing ──────────────────────────────────────────────────────────────────────────────
_LONG = 240


def _const_text(v: float) -> str:
    text = repr(v)
    return text[:-2] if text.endswith(".0") and abs(v) < 1e16 else text


def _param_text(v) -> str:
    return f"({', '.join(map(str, v))}{',' if len(v) == 1 else ''})" if isinstance(v, tuple) else str(v)


def _tconst_text(arg) -> str:
    shape, flat = arg
    if not shape:
        return _const_text(flat[0])
    if len(flat) <= 4:
        return "[" + ", ".join(_const_text(v) for v in flat) + "]" + ("" if len(shape) == 1 else f".reshape{shape}")
    return f"W{'x'.join(map(str, shape))}"


def _iconst_text(arg) -> str:
    """``int[0, 2, 2]`` (the int marks indices apart from a float constant), or its shape."""
    shape, flat = arg
    if not shape:
        return f"int({flat[0]})"
    if len(flat) <= 8:
        return "int[" + ", ".join(map(str, flat)) + "]" + ("" if len(shape) == 1 else f".reshape{shape}")
    return f"int{'x'.join(map(str, shape))}"


def _leaf_text(n: Node) -> str:
    return _tconst_text(n.arg) if n.op == "tconst" else _iconst_text(n.arg)


def _notation(op: str) -> Notation:
    """How an op prints: its record says (tensor-only and unknown ops print as calls)."""
    spec = OPS.get(op)
    return spec.notation if spec is not None else Notation()


def _infix(out: Node, names: Mapping[Node, str]) -> str:
    memo: dict[Node, tuple[str, int]] = {}
    for n in toposort(out):
        if n in names and n is not out:
            memo[n] = (names[n], 9)
        elif n.op == "var":
            memo[n] = (n.arg, 9)
        elif n.op == "const":
            text = _const_text(n.arg)
            memo[n] = (text, 0 if n.arg < 0 or "e" in text else 9)
        elif n.op in ("tconst", "iconst"):
            memo[n] = (_leaf_text(n), 9)
        elif (how := _notation(n.op)).text and how.math == "prefix":
            a, pa = memo[n.src[0]]
            memo[n] = (f"{how.text}{a}" if pa >= how.binds else f"{how.text}({a})", how.binds)
        elif how.text:
            prec, right_assoc = how.text_strength, how.math == "power"
            (a, pa), (b, pb) = (memo[s] for s in n.src)
            a = a if pa > prec or (pa == prec and not right_assoc) else f"({a})"
            b = b if pb > prec or (pb == prec and right_assoc) else f"({b})"
            memo[n] = (f"{a}{how.text}{b}", prec)
        else:
            params = [f"{k}={_param_text(v)}" for k, v in n.arg] if isinstance(n.arg, tuple) else []
            memo[n] = (f"{n.op}({', '.join([memo[s][0] for s in n.src] + params)})", 9)
    return memo[out][0]


def _inlined_length(order: list[Node]) -> int:
    """Characters of the fully inlined text, counted without building it (it can be 2**n)."""
    length: dict[Node, int] = {}
    for n in order:
        if n.is_leaf:
            length[n] = len(n.arg) if n.op == "var" else 16
        else:
            length[n] = min(sum(length[s] for s in n.src) + len(n.op) + 4 * len(n.src), 10 * _LONG)
    return length[order[-1]]


def show(out: Node) -> str:
    """Readable infix; shared sub-expressions are named (``t1 = …; …``) when inlining them
    would make the text long, so the printed size stays linear in the DAG."""
    order = toposort(out)
    if _inlined_length(order) <= 2 * _LONG:
        text = _infix(out, {})
        if len(text) <= _LONG:
            return text
    users = consumers(order)
    names = {n: f"t{i + 1}" for i, n in enumerate(
        [n for n in order if not n.is_leaf and len(users[n]) > 1 and n is not out])}
    lets = [f"{names[n]} = {_infix(n, names)}" for n in order if n in names]
    return "; ".join(lets + [_infix(out, names)])


def show_steps(out: Node) -> list[str]:
    """One line per op node, SSA style: ``%3 = mul(%1, x)``: the DAG exactly as built."""
    order = toposort(out)
    label: dict[Node, str] = {}
    lines = []
    for n in order:
        if n.op == "var":
            label[n] = n.arg
        elif n.op == "const":
            label[n] = _const_text(n.arg)
        elif n.op in ("tconst", "iconst"):
            label[n] = _leaf_text(n)
        else:
            label[n] = f"%{len(lines) + 1}"
            params = [f"{k}={_param_text(v)}" for k, v in n.arg] if isinstance(n.arg, tuple) else []
            lines.append(f"{label[n]} = {n.op}({', '.join([label[s] for s in n.src] + params)})")
    return lines


def walk_ops(nodes: Iterable[Node]) -> list[str]:
    return [n.op for n in nodes if not n.is_leaf]
