"""Fuzzing the loaders: real documents, mutated in structure and in bytes, must come out as
a clean one-line FormatError (exit 2 on the command line) or load — never another exception.

The seeds are real: a campaign's summary.json, events.jsonl and replay files, plus replay
files for a larger scalar expression and a tensor program, written by our own writers."""
import json
import math

import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from verifier.search.campaign import Options, run_campaign
from verifier.interfaces.cli import main
from verifier.engines import load_engine
from verifier.floor.ir import apply, const, show, var, variables
from verifier.model import Case
from verifier.interfaces.output import Output
from verifier.results.replay import read_replay, replay_doc
from verifier.report import render_all
from verifier.results.rebuild import load_events
from verifier.results.summary import load_summary, to_json_text
from verifier.floor.serial import FormatError, expr_from_json, expr_to_json, loads, point_to_json


@pytest.fixture(scope="module")
def seeds(tmp_path_factory) -> dict[str, bytes]:
    out = tmp_path_factory.mktemp("seed") / "report"
    result = run_campaign(load_engine("mutant:tanh-rule"),
                          Options(examples=40, seed=0, ops=("tanh", "add", "mul", "maximum")), Output(out))
    assert result.discrepancies, "the seed campaign must find something to mutate"
    docs = {"summary": (out / "summary.json").read_bytes(), "events": (out / "events.jsonl").read_bytes()}
    docs["replay"] = (out / result.discrepancies[0].replay).read_bytes()
    x, y = var("x"), var("y")
    big = apply("div", apply("pow", apply("add", x, apply("sin", y)), const(2.5)), apply("exp", apply("maximum", x, y)))
    docs["replay-big"] = json.dumps(replay_doc(Case(big, {"x": 0.25, "y": -1.5}), "builtin", "mismatch", "sin", "y",
                                               0.1, float("nan"), show(big), "mismatch:sin")).encode()
    try:
        import numpy as np
        from verifier.floor.program import tapply, tconst
        X = var("X")
        t = tapply("logsumexp", tapply("sum", tapply("mul", tapply("tanh", X), tconst([[1.0, 2.0], [3.0, 4.0]])),
                                       axis=0), axis=None)
        docs["replay-tensor"] = json.dumps(replay_doc(Case(t, {"X": np.array([[0.5, -1.0], [2.0, 0.0]])}),
                                                      "builtin", "mismatch", None, "X", None, None, show(t),
                                                      "mismatch:?")).encode()
        from verifier.floor.program import iconst
        Y, Z = var("Y"), var("Z")
        ce = tapply("cross_entropy", tapply("slice", X, slices=((0, 2, 1),)), iconst([1, 0]), reduction="sum")
        ln = tapply("layer_norm", tapply("attention", X, X, X, causal=True), Y, Z, eps=1e-5)
        t = tapply("add", ce, tapply("sum", tapply("gather", ln, iconst([[1], [0]]), axis=1)))
        docs["replay-indices"] = json.dumps(replay_doc(
            Case(t, {"X": np.array([[0.5, -1.0], [2.0, 0.0]]), "Y": np.array([1.0, 2.0]), "Z": np.array([0.0, 1.0])}),
            "builtin", "mismatch", None, "X", None, None, show(t), "mismatch:?")).encode()
    except ImportError:  # no tensor programs in this tree
        pass
    return docs


# ── mutations ───────────────────────────────────────────────────────────────────────────
HOSTILE_TEXT = ["nan", "inf", "-inf", "__import__('os').system('touch /tmp/adverify-pwned')", "x" * 300,
                "\ud800", "a.b", "1x", "", "\x1b[31m", "line\nbreak", "../../etc/passwd", "exp", "var"]


def _nest(depth: int):
    v = 0
    for _ in range(depth):
        v = [v]
    return v


hostile = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70),
              st.sampled_from([10**400, -1, 0, 1, 2**31, 1e308, -0.0, 5e-324]),
              st.floats(allow_nan=False, allow_infinity=False), st.sampled_from(HOSTILE_TEXT),
              st.text(max_size=12), st.builds(_nest, st.sampled_from([10, 100, 900]))),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(
        ["op", "args", "name", "value", "nodes", "x", "format", "version", "kind", "axis", "params"]) | st.text(max_size=5),
        inner, max_size=4)),
    max_leaves=8)


def _paths(doc, prefix=()):
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc[:20]):
            yield from _paths(v, prefix + (i,))


@st.composite
def structural(draw, raw: bytes) -> bytes:
    """Parse, change one to three places (replace, delete, add, wrap), write back."""
    lines = raw.decode().splitlines() if raw.lstrip().startswith(b"{\"event\"") else None
    if lines:  # events.jsonl: mutate one line
        i = draw(st.integers(0, len(lines) - 1))
        lines[i] = draw(structural(lines[i].encode())).decode("utf-8", "surrogatepass")
        return "\n".join(lines).encode("utf-8", "surrogatepass") + b"\n"
    doc = json.loads(raw)
    for _ in range(draw(st.integers(1, 3))):
        paths = list(_paths(doc))
        path = draw(st.sampled_from(paths))
        how = draw(st.sampled_from(["replace", "delete", "add", "wrap", "dup"]))
        if not path:
            doc = draw(hostile) if how == "replace" else doc
            continue
        parent = doc
        for k in path[:-1]:
            parent = parent[k]
        key = path[-1]
        if how == "replace":
            parent[key] = draw(hostile)
        elif how == "delete":
            del parent[key]
        elif how == "add" and isinstance(parent, dict):
            parent[draw(st.sampled_from(["extra", "op", "__class__", "nodes", "format"]) | st.text(max_size=6))] = draw(hostile)
        elif how == "add":
            parent.insert(key, draw(hostile))
        elif how == "wrap":
            parent[key] = [parent[key]] if draw(st.booleans()) else {"v": parent[key]}
        else:
            parent[key] = json.loads(json.dumps(parent[key]))  # same value again (keeps shape)
    text = json.dumps(doc, allow_nan=True)   # allow_nan: NaN/Infinity tokens are fair game
    if draw(st.booleans()) and text.startswith("{\""):  # a duplicate key at the top
        text = '{"format": "x", ' + text[1:]
    return text.encode("utf-8", "surrogatepass")


@st.composite
def bytewise(draw, raw: bytes) -> bytes:
    b = bytearray(raw)
    for _ in range(draw(st.integers(1, 4))):
        how = draw(st.sampled_from(["truncate", "flip", "insert", "delete", "token"]))
        i = draw(st.integers(0, max(len(b) - 1, 0)))
        if how == "truncate":
            del b[i:]
        elif how == "flip" and b:
            b[i] ^= 1 << draw(st.integers(0, 7))
        elif how == "insert":
            b[i:i] = draw(st.binary(min_size=1, max_size=8))
        elif how == "delete":
            del b[i:i + draw(st.integers(1, 16))]
        else:
            b[i:i] = draw(st.sampled_from([b"NaN", b"Infinity", b"-Infinity", b"1e999", b"[" * 5000,
                                           b"\xff\xfe", b'"\\ud800"', b"\x00"]))
    return bytes(b)


def mutated(seeds, names):
    return st.sampled_from(names).flatmap(
        lambda name: st.tuples(st.just(name), st.one_of(structural(seeds[name]), bytewise(seeds[name]))))


def _one_line(e: Exception) -> None:
    assert isinstance(e, FormatError), f"{type(e).__name__}: {e}"
    assert "\n" not in str(e) and len(str(e)) < 1000


# ── the properties ──────────────────────────────────────────────────────────────────────
def test_seeds_load(seeds, tmp_path):
    """Unmutated, every seed loads: the fuzzing starts from real, valid documents."""
    for name, raw in seeds.items():
        (tmp_path / "f.json").write_bytes(raw)
        if name.startswith("replay"):
            case, doc = read_replay(tmp_path / "f.json").case, json.loads(raw)
            # what was written comes back: the same expression, the same point
            assert (expr_to_json(case.expr), point_to_json(case.point)) == (doc["expr"], doc["point"]), name
        elif name == "summary":
            assert load_summary(tmp_path / "f.json").discrepancies
    (tmp_path / "events.jsonl").write_bytes(seeds["events"])
    (tmp_path / "replays").mkdir()
    assert load_events(tmp_path).examples > 0


@settings(max_examples=400, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_loaders_give_a_result_or_a_format_error(seeds, tmp_path_factory, data):
    name, raw = data.draw(mutated(seeds, sorted(seeds)))
    folder = tmp_path_factory.mktemp("fuzz")
    f = folder / ("events.jsonl" if name == "events" else "f.json")
    f.write_bytes(raw)
    try:
        doc = loads(raw)
        if isinstance(doc, dict) and isinstance(doc.get("expr"), dict):
            expr = expr_from_json(doc["expr"])
            show(expr), variables(expr)
        if name.startswith("replay"):
            rep = read_replay(f)
            show(rep.case.expr)
        elif name == "summary":
            result = load_summary(f)
            to_json_text(result)            # it round-trips ...
            render_all(result, folder)      # ... and every renderer takes it
        else:
            (folder / "replays").mkdir()
            render_all(load_events(folder), folder)
    except FormatError as e:
        _one_line(e)


@settings(max_examples=60, suppress_health_check=list(HealthCheck), deadline=None)
@given(data=st.data())
def test_the_command_line_exits_0_1_or_2_in_one_line(seeds, tmp_path_factory, capsys, data):
    name, raw = data.draw(mutated(seeds, [k for k in ("replay", "replay-big", "replay-tensor", "replay-indices", "summary", "events")
                                          if k in seeds]))
    folder = tmp_path_factory.mktemp("cli")
    if name.startswith("replay"):
        (folder / "r.json").write_bytes(raw)
        code = main(["replay", str(folder / "r.json"), "--engine", "builtin"])
    else:
        (folder / ("summary.json" if name == "summary" else "events.jsonl")).write_bytes(raw)
        code = main(["report", str(folder)])
    out, err = capsys.readouterr()
    assert code in (0, 1, 2) and "Traceback" not in err + out
    if code == 2:
        assert err.startswith("adverify: error: ") and err.count("\n") == 1


# ── hostile documents named in the issue ──────────────────────────────────────────────
def _replay(expr_nodes, point=None, **extra) -> str:
    return json.dumps({"format": "adverify-replay", "version": 1, **extra, "point": point or {"x": 1.0},
                       "expr": {"format": "adverify-expr", "version": 1, "output": len(expr_nodes) - 1,
                                "nodes": expr_nodes}})


HOSTILE = {
    "deep nesting": "[" * 100000 + "]" * 100000,
    "deep but parseable nesting": json.dumps({"format": "adverify-replay", "version": 1, "expr": _nest(900)}),
    "2 MB array": json.dumps({"format": "adverify-replay", "version": 1, "point": {"x": [0.5] * 400000}}),
    "code in a name": _replay([{"op": "var", "name": "__import__('os').system('touch /tmp/adverify-pwned')"}]),
    "code in an op": _replay([{"op": "var", "name": "x"}, {"op": "__import__('os').system('id')", "args": [0]}]),
    "code in the engine": _replay([{"op": "var", "name": "x"}], engine="os:system"),
    "NaN token": _replay([{"op": "var", "name": "x"}]).replace("1.0", "NaN"),
    "non-finite constant": _replay([{"op": "const", "value": 1e999}]),
    "huge integer": _replay([{"op": "const", "value": 10**400}]),
    "index ahead": _replay([{"op": "var", "name": "x"}, {"op": "sin", "args": [1]}]),
    "boolean index": _replay([{"op": "var", "name": "x"}, {"op": "sin", "args": [True]}]),
    "version true": _replay([{"op": "var", "name": "x"}]).replace('"version": 1,', '"version": true,', 1),
    "deep expression": _replay([{"op": "var", "name": "x"}] + [{"op": "sin", "args": [i]} for i in range(3000)]),
    "lone surrogate": _replay([{"op": "var", "name": "x"}], engine="\ud800"),
    "truncated": _replay([{"op": "var", "name": "x"}])[:-7],
    "random bytes": bytes(range(256)) * 8,
    "empty": b"",
    "UTF-16": _replay([{"op": "var", "name": "x"}]).encode("utf-16"),
    # tensor programs whose shapes do not fit, or do not end in a scalar
    "array for a scalar expression": _replay([{"op": "var", "name": "x"}, {"op": "sin", "args": [0]}],
                                             {"x": [[1.0, 2.0]]}),
    "matmul of misfits": _replay([{"op": "var", "name": "x"}, {"op": "var", "name": "y"},
                                  {"op": "matmul", "args": [0, 1]}], {"x": [[1.0, 2.0]], "y": [[1.0, 2.0]]}),
    "axis out of range": _replay([{"op": "var", "name": "x"}, {"op": "sum", "args": [0], "params": {"axis": 5}}],
                                 {"x": [1.0, 2.0]}),
    "unknown parameter": _replay([{"op": "var", "name": "x"}, {"op": "sum", "args": [0], "params": {"**k": 1}}],
                                 {"x": [1.0, 2.0]}),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_replay_exits_2_in_one_line_and_runs_nothing(name, tmp_path, capsys):
    content = HOSTILE[name]
    f = tmp_path / "r.json"
    f.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass"))
    assert main(["replay", str(f)]) == 2
    out, err = capsys.readouterr()
    assert err.startswith("adverify: error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert len(err) < 500 and out == ""
    import os
    assert not os.path.exists("/tmp/adverify-pwned")


@pytest.mark.parametrize("name", ["deep nesting", "2 MB array", "NaN token", "random bytes", "truncated",
                                  "lone surrogate"])
def test_hostile_summary_exits_2_in_one_line(name, tmp_path, capsys):
    content = HOSTILE[name]
    (tmp_path / "summary.json").write_bytes(content if isinstance(content, bytes)
                                            else content.encode("utf-8", "surrogatepass"))
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("adverify: error: ") and err.count("\n") == 1
    assert not (tmp_path / "summary.md").exists()
