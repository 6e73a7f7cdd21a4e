"""A finding knows the mode it was found in (issue #22, item 2): its replay file records it,
`adverify replay` re-checks it in that mode, and a campaign given it as a regression checks it
in that mode too — or says it could not, never that it is fixed.

Before the replay files recorded a mode, an order-2 finding replayed at order 1 said "no
discrepancy now", and a first-order campaign given it with --regressions called it "fixed".
These tests use the command line only, so they ran against that tree too (and failed there).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import verifier.interfaces.cli as cli
from verifier.interfaces.cli import main
from verifier.results.replay import read_replay

# (engine, campaign flags, examples): a planted bug of each mode, found within the examples
MODES = {
    "order 2": ("mutant:second-order-frozen-tanh", ["--order", "2", "--ops", "tanh,div,mul,add"], 100),
    "forward": ("mutant:div-jvp-sign", ["--forward", "--ops", "tanh,div,mul,add"], 60),
    "tensor": ("mutant:t-mean-undivided", ["--tensor", "--ops", "mean,mul,sum,add"], 30),
}

# an engine with reverse mode only: no second_derivatives, no forward_gradients
FIRST_ONLY = '''
from verifier.engines.builtin import BuiltinEngine


class FirstOnly:
    name = "first-only"
    dtype = "float64"

    def __init__(self):
        self._engine = BuiltinEngine()
        self.ops = self._engine.ops

    def variable(self, v):
        return self._engine.variable(v)

    def constant(self, v):
        return self._engine.constant(v)

    def value(self, x):
        return self._engine.value(x)

    def gradients(self, out, variables):
        return self._engine.gradients(out, variables)
'''


def campaign(out: Path, spec: str, *flags: str, examples: int = 200, expect: int = 1) -> dict:
    rc = main(["campaign", "--engine", spec, "--examples", str(examples), "--seed", "0", "--out", str(out),
               "--quiet", *flags])
    assert rc == expect
    return json.loads((out / "summary.json").read_text())


@pytest.fixture(scope="module")
def found(tmp_path_factory) -> dict[str, tuple[Path, dict]]:
    """Each mode's campaign, run once: its report folder and summary."""
    root = tmp_path_factory.mktemp("modes")
    return {mode: (root / mode.replace(" ", ""), campaign(root / mode.replace(" ", ""), spec, *flags,
                                                          examples=n))
            for mode, (spec, flags, n) in MODES.items()}


@pytest.mark.parametrize("mode", list(MODES))
def test_every_finding_replays_in_the_mode_it_was_found_in(found, mode, capsys):
    out, summary = found[mode]
    spec = MODES[mode][0]
    assert summary["discrepancies"], f"the planted {mode} bug is found"
    capsys.readouterr()
    for f in summary["discrepancies"]:
        assert main(["replay", str(out / f["replay"]), "--engine", spec]) == 1, f"{f['signature']} reproduces"
        printed = capsys.readouterr().out
        assert printed.startswith(f"1. {f['kind']}"), printed
        # and blamed as the campaign blamed it: a forward finding's replay once named another op
        assert f["culprit_op"] is None or printed.startswith(f"1. {f['kind']} in {f['culprit_op']} "), printed


def test_the_replay_file_and_the_signature_name_the_mode(found):
    expected = {"order 2": ({"order": 2, "forward": False, "tensor": False}, ":order2"),
                "forward": ({"order": 1, "forward": True, "tensor": False}, ":forward"),
                "tensor": ({"order": 1, "forward": False, "tensor": True}, ":tensor")}
    for mode, (out, summary) in found.items():
        want, suffix = expected[mode]
        for f in summary["discrepancies"]:
            rep = read_replay(out / f["replay"])
            assert {k: rep.mode[k] for k in want} == want
            assert rep.mode["check_timeout"] == 5.0 and rep.mode["dtype"] == "float64"
            assert f["mode"] == rep.mode
            assert f["signature"].endswith(suffix) and rep.fields["signature"] == f["signature"]


def test_a_first_order_campaign_rechecks_an_order_2_regression_at_order_2(found, tmp_path):
    folder = found["order 2"][0]
    summary = campaign(tmp_path / "again", MODES["order 2"][0], "--regressions", str(folder),
                       "--ops", "tanh,div,mul,add", examples=20)
    statuses = [(r["status"], r.get("mode")) for r in summary["regressions"]]
    assert statuses and all(s == ("still failing", "order 2") for s in statuses), statuses
    assert any(f["signature"].endswith(":order2") for f in summary["discrepancies"])


@pytest.mark.parametrize("mode", ["order 2", "forward"])
def test_a_regression_the_engine_cannot_check_in_its_mode_is_not_called_fixed(found, mode, tmp_path, capsys):
    (tmp_path / "firstonly.py").write_text(FIRST_ONLY)
    folder = found[mode][0]
    out = tmp_path / "r"
    summary = campaign(out, f"{tmp_path / 'firstonly.py'}:FirstOnly", "--regressions", str(folder),
                       "--ops", "tanh,add,mul", "--junit", str(tmp_path / "junit.xml"), examples=20, expect=0)
    status = f"not checked ({mode})"
    assert [r["status"] for r in summary["regressions"]] == [status] * len(found[mode][1]["discrepancies"])
    shown = {"terminal": capsys.readouterr().out, "summary.md": (out / "summary.md").read_text(),
             "index.html": (out / "index.html").read_text(), "junit": (tmp_path / "junit.xml").read_text()}
    for where, text in shown.items():
        assert status in text and "fixed" not in text, where
    assert "<skipped" in shown["junit"]


def test_a_tensor_regression_is_not_checked_by_a_scalar_campaign(found, tmp_path):
    summary = campaign(tmp_path / "r", "builtin", "--regressions", str(found["tensor"][0]), examples=10, expect=0)
    assert [r["status"] for r in summary["regressions"]] == ["not checked (tensor)"]


def test_a_version_1_replay_file_loads_with_its_mode_inferred(found, tmp_path, capsys):
    out, summary = found["forward"]
    doc = json.loads((out / summary["discrepancies"][0]["replay"]).read_text())
    del doc["mode"]
    doc["version"] = 1
    old = tmp_path / "old.json"
    old.write_text(json.dumps(doc))
    rep = read_replay(old)
    assert rep.mode == {"order": 1, "forward": True, "tensor": False}   # forward: its signature ends so
    assert main(["replay", str(old), "--engine", MODES["forward"][0]]) == 1
    assert capsys.readouterr().out.startswith("1. mismatch in div")


def test_replay_uses_the_recorded_check_timeout_unless_told(found, monkeypatch):

    seen = []

    class Recording(cli.Checker):
        def __init__(self, engine, timeout=None, **kw):
            seen.append(timeout)
            super().__init__(engine, timeout, **kw)

    monkeypatch.setattr(cli, "Checker", Recording)
    out, summary = found["order 2"]
    path = out / summary["discrepancies"][0]["replay"]
    doc = json.loads(path.read_text())
    doc["mode"]["check_timeout"] = 7.5
    path.write_text(json.dumps(doc))
    main(["replay", str(path), "--engine", MODES["order 2"][0]])
    main(["replay", str(path), "--engine", MODES["order 2"][0], "--check-timeout", "3"])
    assert seen == [7.5, 3.0]
