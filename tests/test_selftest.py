"""``adverify selftest``: the planted-bug table says what was found, how fast, how small, and
whether blame named the right op — and a mutant that is not a bug survives and fails it."""
import io

from verifier.interfaces.cli import main
from verifier.engines.builtin import BuiltinEngine
from verifier.engines.mutants import MUTANTS, Mutant
from verifier.interfaces.selftest import render_row, run_selftest, selftest


def _rows(out: str) -> dict[str, str]:
    return {line.split()[0]: line for line in out.splitlines() if line.split() and line.split()[0] in MUTANTS}


def test_selftest_table_names_each_mutant_its_detection_and_blame(capsys):
    code = main(["selftest", "--mutants", "abs-one,overwrite,stale-tape", "--examples", "200"])
    out = capsys.readouterr().out
    assert code == 0, out
    rows = _rows(out)
    assert set(rows) == {"abs-one", "overwrite", "stale-tape"}
    assert "wrong local rule" in rows["abs-one"] and "abs (local-rule): right" in rows["abs-one"]
    assert "(composition): right" in rows["overwrite"]
    # leaking state is no op's fault: found, but nothing to blame
    assert "n/a" in rows["stale-tape"]
    assert not any("(expected" in row for row in rows.values())   # every verdict one the mutant allows
    summary = out.splitlines()[-1]
    assert summary.startswith("selftest: found 3/3") and "culprit right 2/2 (100%)" in summary


def test_rows_hold_the_detection_figures():
    row, = run_selftest([MUTANTS["abs-one"]], examples=200)
    assert row.found and row.kind == "mismatch" and row.kind_expected
    assert 1 <= row.examples <= 200 and 0 < row.seconds <= row.elapsed
    assert row.nodes <= 3 and row.culprit_op == "abs" and row.culprit_right


def test_a_correct_engine_posing_as_a_mutant_survives_and_fails_the_selftest():
    impostor = Mutant("impostor", "none", "the builtin engine, unmodified", BuiltinEngine, ("abs",))
    stream = io.StringIO()
    assert selftest([impostor], examples=60, stream=stream) == 1
    text = stream.getvalue()
    assert "survived" in text and "found 0/1" in text and "SURVIVED: impostor" in text


def test_a_blame_that_misses_the_planted_op_is_reported_wrong():
    # the abs-one engine, declared as if its bug were in sin: blame names abs, so WRONG
    liar = Mutant("liar", "wrong local rule", "abs-one under a false culprit", MUTANTS["abs-one"].make, ("sin",))
    row, = run_selftest([liar], examples=200)
    assert row.found and row.culprit_right is False and "abs (local-rule): WRONG" in render_row(row)


def test_unknown_mutant_is_a_usage_error(capsys):
    assert main(["selftest", "--mutants", "abs-one,nosuch"]) == 2
    assert "unknown mutant 'nosuch'" in capsys.readouterr().err
