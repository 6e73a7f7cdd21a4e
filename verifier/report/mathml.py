"""An expression in mathematical notation, as MathML: browsers draw it with no script or font
to fetch (MathML Core: Chromium 109+, Firefox, Safari).

Fractions for ``div``, superscripts for powers and ``exp``, a radical for ``sqrt``, bars for
``abs``. A shared sub-expression is written once and named (``t₁ = …``) when inlining it
everywhere would make the formula long, as ``ir.show`` does for text.
"""
from __future__ import annotations

import math
from html import escape

from verifier.floor.ir import Node, consumers, toposort
from verifier.floor.ops import ATOM, LOW, MUL, NEG, OPS, POW, Notation

__all__ = ["formula"]

_INLINE_LIMIT = 40                                   # nodes of the inlined tree


def _mi(name: str) -> str:
    # a one-letter identifier is italic by default; a function name must be upright
    return f"<mi>{escape(name)}</mi>" if len(name) == 1 else f'<mi mathvariant="normal">{escape(name)}</mi>'


def _mo(sym: str) -> str:
    return f"<mo>{escape(sym)}</mo>"


def _row(*parts: str) -> str:
    return "<mrow>" + "".join(parts) + "</mrow>"


def _paren(m: str) -> str:
    return _row('<mo lspace="0" rspace="0">(</mo>', m, '<mo lspace="0" rspace="0">)</mo>')


def _number(v: float) -> tuple[str, int]:
    if v != v or math.isinf(v):
        return f"<mn>{escape(repr(v))}</mn>", ATOM
    text = repr(abs(v))
    if text.endswith(".0") and abs(v) < 1e16:
        text = text[:-2]
    if "e" in text:   # 1e-05 -> 1 × 10⁻⁵
        mant, _, exp = text.partition("e")
        power = f"<msup><mn>10</mn><mn>{'−' if exp.startswith('-') else ''}{int(exp.lstrip('+-'))}</mn></msup>"
        m, strength = (power, POW) if mant == "1" else (_row(f"<mn>{mant}</mn>", _mo("×"), power), MUL)
    else:
        m, strength = f"<mn>{text}</mn>", ATOM
    if v < 0 or (v == 0 and math.copysign(1, v) < 0):
        return _row(_mo("−"), m), LOW
    return m, strength


def _wrap(part: tuple[str, int], at_least: int) -> str:
    m, strength = part
    return m if strength >= at_least else _paren(m)


def _right(part: tuple[str, int], at_least: int) -> str:
    """The right operand of + − ·: x + (−y), not x + −y."""
    m, strength = part
    return m if strength >= at_least and strength != NEG else _paren(m)


def _call(name: str, args: list[tuple[str, int]], params: tuple = ()) -> str:
    # a tensor op's keyword parameters follow its arguments: softmax(z, axis = 0)
    inner = _mo(",").join([a for a, _ in args] + [_row(_mi(k), _mo("="), f"<mn>{escape(str(v))}</mn>")
                                                  for k, v in params])
    return _row(_mi(name), "<mo>&#x2061;</mo>", _paren(inner))   # U+2061: function application


def _matrix(n: Node) -> tuple[str, int]:
    """A tensor constant (the cotangent W): a row for a vector, a matrix up to rank 2,
    and beyond that its flat values with the shape, as numpy would print no better."""
    shape, flat = n.arg
    if not shape:
        return _number(flat[0])
    if len(shape) > 2:
        return _call("reshape", [(_matrix_rows([flat]), ATOM)], (("shape", tuple(shape)),)), ATOM
    cols = shape[-1]
    return _matrix_rows([flat[i:i + cols] for i in range(0, len(flat), cols)]), ATOM


def _matrix_rows(rows) -> str:
    cells = "".join("<mtr>" + "".join(f"<mtd>{_number(v)[0]}</mtd>" for v in row) + "</mtr>" for row in rows)
    return _row('<mo fence="true">[</mo>', f"<mtable>{cells}</mtable>", '<mo fence="true">]</mo>')


def _node(n: Node, args: list[tuple[str, int]]) -> tuple[str, int]:
    """Each shape of formula drawn once; which op has which shape is its record's
    ``notation`` (tensor-only and unknown ops are calls)."""
    spec = OPS.get(n.op)
    how = spec.notation if spec is not None else Notation()
    shape, binds = how.math, how.binds
    if shape == "infix":
        return _row(_wrap(args[0], binds), _mo(how.symbol), _right(args[1], how.right)), binds
    if shape == "prefix":
        return _row(_mo(how.symbol), _wrap(args[0], binds)), binds
    if shape == "frac":
        return f"<mfrac>{args[0][0]}{args[1][0]}</mfrac>", binds
    if shape == "power":
        return f"<msup>{_wrap(args[0], ATOM)}{args[1][0]}</msup>", binds
    if shape == "exp":
        return f"<msup><mi>e</mi>{args[0][0]}</msup>", binds
    if shape == "radical":
        return f"<msqrt>{args[0][0]}</msqrt>", ATOM
    if shape == "bars":
        return _row('<mo fence="true">|</mo>', args[0][0], '<mo fence="true">|</mo>'), ATOM
    params = n.arg if isinstance(n.arg, tuple) else ()
    return _call(how.symbol or n.op, args, params), ATOM


def _leaf(n: Node) -> tuple[str, int]:
    if n.op in ("tconst", "iconst"):   # an array of floats, or of indices
        return _matrix(n)
    return (_mi(n.arg), ATOM) if n.op == "var" else _number(n.arg)


def _build(out: Node, names: dict[Node, str]) -> str:
    memo: dict[Node, tuple[str, int]] = {}
    for n in toposort(out):
        if n in names and n is not out:
            name = names[n]
            memo[n] = (f"<msub><mi>t</mi><mn>{name[1:]}</mn></msub>", ATOM)
        elif n.is_leaf:
            memo[n] = _leaf(n)
        else:
            memo[n] = _node(n, [memo[s] for s in n.src])
    return memo[out][0]


def _tree_size(order: list[Node]) -> int:
    size: dict[Node, int] = {}
    for n in order:
        size[n] = min(1 + sum(size[s] for s in n.src), 10 * _INLINE_LIMIT)
    return size[order[-1]]


def formula(out: Node) -> str:
    """One ``<math>`` per line; a long shared DAG as its named steps, then the output.
    Inline display style, not display="block": Chromium centres block math whatever the CSS."""
    order = toposort(out)
    if _tree_size(order) <= _INLINE_LIMIT:
        return f'<div class="formula"><math displaystyle="true">{_build(out, {})}</math></div>'
    users = consumers(order)
    shared = [n for n in order if not n.is_leaf and len(users[n]) > 1 and n is not out]
    names = {n: f"t{i + 1}" for i, n in enumerate(shared)}
    lines = [_row(f"<msub><mi>t</mi><mn>{names[n][1:]}</mn></msub>", _mo("="), _build(n, names)) for n in shared]
    lines.append(_row("<mi>f</mi>", _mo("="), _build(out, names)))
    return "".join(f'<div class="formula"><math displaystyle="true">{line}</math></div>' for line in lines)

