"""The JavaScript reference engine (examples/js-engine/engine.js) speaking docs/protocol.md:
its answers driven by hand, a campaign on it (no discrepancy), and its planted bug found,
blamed on tanh and reproduced by the replay command the campaign printed."""

import json
import math
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("node") is None,
                                reason="needs node (the JavaScript engine's runtime)")

ROOT = Path(__file__).resolve().parent.parent
ENGINE = "examples/js-engine/engine.js"
SPEC = f"cmd:node {ENGINE}"


def env_with_adverify():
    """PATH with this interpreter's scripts first, so a printed `adverify ...` command runs
    the adverify of this checkout."""
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    return env


def converse(requests, *flags, timeout=30):
    """Send the requests as JSON lines, close stdin, and return (answers, raw stdout lines,
    stderr, exit code). The engine must exit on end of input."""
    text = "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in requests)
    done = subprocess.run(["node", ENGINE, *flags], input=text, capture_output=True, text=True,
                          cwd=ROOT, timeout=timeout)
    lines = done.stdout.splitlines()
    return [json.loads(line) for line in lines], lines, done.stderr, done.returncode


HELLO = {"protocol": 1, "id": 0, "method": "hello", "adverify": "0.1.0"}


def expression(nodes, output=None):
    return {"format": "adverify-expr", "version": 1, "nodes": nodes,
            "output": len(nodes) - 1 if output is None else output}


def check(id, variables, point, nodes, method="gradients", value=True):
    return {"protocol": 1, "id": id, "method": method, "value": value, "variables": variables,
            "point": point, "expression": expression(nodes)}


def number(x):
    """A protocol number as a float ("nan", "inf", "-inf" are strings)."""
    return {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}[x] if isinstance(x, str) else float(x)


def documented_scalar_ops():
    """The op names of docs/engine-protocol.md's "Scalar ops" table."""
    text = (ROOT / "docs" / "engine-protocol.md").read_text()
    table = text.split("## Scalar ops", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `(\w+)` \|", table, flags=re.M)


# the doc's example: sin(x)·y + sin(x)², node 1 (sin x) shared by mul and pow
DOC_EXAMPLE = [
    {"op": "var", "name": "x"},
    {"op": "sin", "args": [0]},
    {"op": "var", "name": "y"},
    {"op": "mul", "args": [1, 2]},
    {"op": "const", "value": 2.0},
    {"op": "pow", "args": [1, 4]},
    {"op": "add", "args": [3, 5]},
]


def test_hello_names_the_engine_and_every_scalar_op():
    answers, lines, _, code = converse([HELLO])
    assert code == 0 and len(answers) == 1
    hello = answers[0]
    assert hello["id"] == 0 and hello["protocol"] == 1
    assert hello["name"] == "js-engine" and hello["dtype"] == "float64"
    documented = documented_scalar_ops()
    assert len(documented) == 42
    assert sorted(hello["ops"]) == sorted(documented)
    assert len(hello["ops"]) == len(set(hello["ops"]))
    assert hello["capabilities"]["value"] is True


def test_hello_of_another_protocol_version_is_an_error():
    answers, _, _, code = converse([dict(HELLO, protocol=2), HELLO])
    assert code == 0
    assert answers[0]["id"] == 0 and "protocol" in answers[0]["error"]
    assert answers[1]["name"] == "js-engine"


def test_a_shared_node_sums_its_paths_exactly():
    x, y = 0.5, -1.25
    answers, _, _, code = converse([HELLO, check(1, ["x", "y"], {"x": x, "y": y}, DOC_EXAMPLE)])
    assert code == 0
    answer = answers[1]
    assert answer["id"] == 1 and set(answer) == {"id", "value", "gradients"}
    s, c = math.sin(x), math.cos(x)
    assert number(answer["value"]) == s * y + s * s
    # reverse mode: sin's adjoint is 2·sin x (from pow) + y (from mul), then times cos x
    dx, dy = map(number, answer["gradients"])
    assert dx == (2 * s + y) * c
    assert dy == s
    single_paths = (c * y, 2 * s * c)         # what dropping either path would give
    assert all(abs(dx - wrong) > 0.1 for wrong in single_paths)


def test_the_docs_session_sin_times_sin_and_a_variable_it_does_not_reach():
    square_of_sin = [{"op": "var", "name": "x"}, {"op": "sin", "args": [0]},
                     {"op": "mul", "args": [1, 1]}]
    answers, _, _, _ = converse([HELLO, check(1, ["x"], {"x": 0.5}, square_of_sin),
                                 check(2, ["x", "y"], {"x": 3.0, "y": 7.0},
                                       [{"op": "var", "name": "x"}, {"op": "var", "name": "y"},
                                        {"op": "mul", "args": [0, 0]}, {"op": "add", "args": [2, 0]}],
                                       value=False)])
    assert answers[1] == {"id": 1, "value": 0.22984884706593015, "gradients": [0.8414709848078965]}
    # x·x + x at 3: 2·3 + 1 = 7 exactly; y is not reached: 0, not null; no value asked
    assert answers[2] == {"id": 2, "gradients": [7, 0]}


def test_numbers_travel_exactly_and_nan_and_infinities_as_strings():
    one = {"op": "const", "value": 1.0}
    answers, lines, _, _ = converse([
        HELLO,
        check(1, ["x"], {"x": 0.0}, [{"op": "var", "name": "x"}, {"op": "log", "args": [0]}]),
        check(2, ["x"], {"x": -1.0}, [{"op": "var", "name": "x"}, {"op": "sqrt", "args": [0]}]),
        check(3, ["x"], {"x": 5e-324}, [{"op": "var", "name": "x"}, one, {"op": "mul", "args": [0, 1]}]),
        check(4, ["x"], {"x": 1.7976931348623157e308},
              [{"op": "var", "name": "x"}, one, {"op": "mul", "args": [0, 1]}]),
        check(5, ["x"], {"x": 0.1}, [{"op": "var", "name": "x"}, {"op": "exp", "args": [0]}]),
    ])
    assert answers[1]["value"] == "-inf" and answers[1]["gradients"] == ["inf"]
    assert answers[2]["value"] == "nan" and answers[2]["gradients"] == ["nan"]
    assert answers[3]["value"] == 5e-324 and answers[3]["gradients"] == [1]
    assert answers[4]["value"] == 1.7976931348623157e308
    e = answers[5]["value"]
    assert isinstance(e, float) and abs(e - math.exp(0.1)) <= math.ulp(math.exp(0.1))
    for line in lines:                       # JSON.stringify's null, or JS's NaN/Infinity
        assert "null" not in line and "NaN" not in line and "Infinity" not in line


def test_errors_are_answers_and_the_engine_keeps_going():
    bad_op = check(1, ["x"], {"x": 1.0}, [{"op": "var", "name": "x"}, {"op": "frobnicate", "args": [0]}])
    good = check(3, ["x"], {"x": 2.0}, [{"op": "var", "name": "x"}, {"op": "square", "args": [0]}])
    answers, lines, stderr, code = converse([HELLO, bad_op, {"protocol": 1, "id": 2, "method": "bogus"}, good])
    assert code == 0 and len(answers) == 4
    assert answers[1]["id"] == 1 and "frobnicate" in answers[1]["error"]
    assert re.fullmatch(r"engine\.js:\d+", answers[1]["origin"])
    assert answers[2]["id"] == 2 and "bogus" in answers[2]["error"]
    assert answers[3] == {"id": 3, "value": 4, "gradients": [4]}
    assert "frobnicate" in stderr                # diagnostics go to stderr, not stdout


def test_exits_on_end_of_input():
    process = subprocess.Popen(["node", ENGINE], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        process.stdin.write(json.dumps(HELLO) + "\n")
        process.stdin.flush()
        assert json.loads(process.stdout.readline())["name"] == "js-engine"   # answered at once
        process.stdin.close()
        assert process.wait(timeout=5) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()


def test_forward_mode_agrees_with_reverse_mode():
    point = {"x": 0.5, "y": -1.25}
    answers, _, _, _ = converse([HELLO, check(1, ["x", "y"], point, DOC_EXAMPLE),
                                 check(2, ["x", "y"], point, DOC_EXAMPLE, method="forward_gradients")])
    assert answers[0]["capabilities"].get("forward_gradients") is True
    reverse, forward = answers[1]["gradients"], answers[2]["forward_gradients"]
    assert answers[2]["value"] == answers[1]["value"]
    assert all(abs(f - r) <= 2 * math.ulp(r) for f, r in zip(forward, reverse))


def test_the_planted_bug_flag():
    tanh = [{"op": "var", "name": "x"}, {"op": "tanh", "args": [0]}]
    answers, _, _, code = converse([HELLO, check(1, ["x"], {"x": 1.0}, tanh)], "--bug", "tanh")
    assert code == 0
    t = math.tanh(1.0)
    assert abs(answers[1]["gradients"][0] - (1 - t)) < 1e-15          # 1 - t, not 1 - t²
    right, _, _, _ = converse([HELLO, check(1, ["x"], {"x": 1.0}, tanh)])
    assert abs(right[1]["gradients"][0] - (1 - t * t)) < 1e-15
    # the accumulation bug keeps one path of x·x: 3, not 6
    square = [{"op": "var", "name": "x"}, {"op": "mul", "args": [0, 0]}]
    answers, _, _, _ = converse([HELLO, check(1, ["x"], {"x": 3.0}, square)], "--bug", "accumulate")
    assert answers[1]["gradients"] == [3]
    right, _, _, _ = converse([HELLO, check(1, ["x"], {"x": 3.0}, square)])
    assert right[1]["gradients"] == [6]
    done = subprocess.run(["node", ENGINE, "--bug", "no-such-bug"], input="", capture_output=True,
                          text=True, cwd=ROOT, timeout=30)
    assert done.returncode == 2 and "no-such-bug" in done.stderr


def campaign(spec, out):
    return subprocess.run([sys.executable, "-m", "verifier", "campaign", "--engine", spec,
                           "--examples", "2000", "--seed", "0", "--out", str(out)],
                          capture_output=True, text=True, cwd=ROOT, env=env_with_adverify(),
                          timeout=900)


def test_a_campaign_finds_no_discrepancy(tmp_path):
    done = campaign(SPEC, tmp_path / "out")
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["discrepancies"] == []
    verdicts = summary["verdicts"]
    assert sum(verdicts.values()) == 2000
    assert verdicts["agree"] >= 1800
    for bad in ("mismatch", "nonfinite", "inconsistent", "crash", "timeout", "oracle-disagreement"):
        assert verdicts.get(bad, 0) == 0, (bad, verdicts)
    assert "no discrepancy found" in done.stdout


def test_the_planted_tanh_bug_is_found_blamed_and_replayed(tmp_path):
    spec = f"{SPEC} --bug tanh"
    done = campaign(spec, tmp_path / "out")
    assert done.returncode == 1, done.stdout + done.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    culprits = {d["culprit_op"] for d in summary["discrepancies"]}
    assert culprits == {"tanh"}
    assert summary["verdicts"]["mismatch"] > 0
    replays = [line.strip()[len("replay: "):] for line in done.stdout.splitlines()
               if line.strip().startswith("replay: adverify replay ")]
    assert replays, done.stdout
    command = replays[0]
    assert "--bug tanh" in command              # the engine spec, flag included, is repeated
    again = subprocess.run(command, shell=True, capture_output=True, text=True, cwd=ROOT,
                           env=env_with_adverify(), timeout=300)
    assert again.returncode == 1, again.stdout + again.stderr
    assert "tanh" in again.stdout
    # and the same replay with the correct engine does not reproduce it
    path = shlex.split(command)[2]
    fixed = subprocess.run([sys.executable, "-m", "verifier", "replay", path, "--engine", SPEC],
                           capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr


# ---------------------------------------------------------------------------------------
# erf and erfc (engine.js's own approximations, derived by examples/js-engine/erf_fit.py)
# against mpmath, through the protocol: erf(x)'s value, and GELU's, x·erfc(-x/√2)/2.

def ulps_off(got, exact):
    """|got - exact| in units of the last place of the exact value's binade (2^-1074 at
    least, so subnormal results count in subnormal units)."""
    import mpmath
    if exact == 0:
        return 0.0 if got == 0 else math.inf
    binade = int(mpmath.floor(mpmath.log(abs(exact), 2)))
    return float(abs(mpmath.mpf(got) - exact) / mpmath.mpf(2) ** max(binade - 52, -1074))


def erf_points():
    """2,000 fixed points: magnitudes log-uniform from 1e-310 to 30 (either sign), uniform
    in [-7, 7] and [-30, 30], and the ends of engine.js's intervals."""
    import random
    rng = random.Random(1919)
    ends = [0.0, 5e-324, 2.2250738585072014e-308, 2.0 ** -900, 1e-8, 0.25, 0.5, 1.0, 2.0, 4.0,
            6.0, 8.0, 16.0, 26.5, 27.2, 28.0, 30.0]
    points = [s * v for v in ends for s in (1.0, -1.0)]
    points += [math.nextafter(v, 0.0) * s for v in ends[5:] for s in (1.0, -1.0)]
    points += [rng.choice((1.0, -1.0)) * math.exp(rng.uniform(math.log(1e-310), math.log(30.0)))
               for _ in range(900)]
    points += [rng.uniform(-7.0, 7.0) for _ in range(700)]
    points += [rng.uniform(-30.0, 30.0) for _ in range(2000 - len(points))]
    return points


def test_erf_and_erfc_are_within_an_ulp_or_two_of_mpmath():
    import random

    import mpmath
    erf_xs = erf_points()
    rng = random.Random(2020)
    # GELU where Φ(x) = erfc(-x/√2)/2 is a normal number (x > -37.5), its tail mostly
    gelu_xs = ([rng.uniform(-37.5, 10.0) for _ in range(600)]
               + [-math.exp(rng.uniform(math.log(1e-300), math.log(37.5))) for _ in range(300)]
               + [rng.uniform(-3.0, 3.0) for _ in range(100)])
    x = {"op": "var", "name": "x"}
    requests = [HELLO]
    requests += [check(i, ["x"], {"x": v}, [x, {"op": "erf", "args": [0]}])
                 for i, v in enumerate(erf_xs, start=1)]
    requests += [check(len(requests) + i, ["x"], {"x": v}, [x, {"op": "gelu", "args": [0]}])
                 for i, v in enumerate(gelu_xs)]
    answers, _, _, code = converse(requests, timeout=120)
    assert code == 0 and len(answers) == len(requests)
    assert [a["id"] for a in answers] == [r["id"] for r in requests]

    with mpmath.workdps(50):
        worst_erf = max((ulps_off(number(a["value"]), mpmath.erf(mpmath.mpf(v))), v)
                        for a, v in zip(answers[1:], erf_xs))
    assert worst_erf[0] <= 1.0, worst_erf           # erf: within 1 ulp

    # GELU's value is x·Φ(x), Φ(x) = (erfc(t) - tl·erfc'(t)...)/2 with -x/√2 = t + tl: erfc's
    # error (goal: 2 ulps) plus GELU's own roundings (Φ's correction, x·Φ): 3 ulps in all
    # (measured: about 2.2 at 30,000 points; fdlibm's erfc gave 3.3)
    worst_gelu = (0.0, None)
    with mpmath.workdps(50):
        for a, v in zip(answers[1 + len(erf_xs):], gelu_xs):
            X = mpmath.mpf(v)
            exact = X * mpmath.erfc(-X / mpmath.sqrt(2)) / 2
            worst_gelu = max(worst_gelu, (ulps_off(number(a["value"]), exact), v))
    assert worst_gelu[0] <= 3.0, worst_gelu
