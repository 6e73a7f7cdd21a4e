"""The op table is a value: an op added in a test — one record, no other file changed — is
generated, checked, printed, blamed, rendered and replayed like a built-in op, and only in
the campaign whose vocabulary holds it."""
from __future__ import annotations

import json
import warnings

import pytest

from verifier.engines.autograd.tensor import make_op
from verifier.engines.autograd.array import make_array_op
from verifier.engines.builtin import BuiltinArrayEngine, BuiltinEngine
from verifier.floor.ir import apply, show, var
from verifier.floor.ops import Notation, Op
from verifier.floor.serial import FormatError
from verifier.floor.vocabulary import BUILTIN, VocabularyError
from verifier.interfaces.output import Output
from verifier.model import Case
from verifier.results.replay import read_replay
from verifier.search.campaign import Options, UnknownOpsWarning, run_campaign
from verifier.truth.judge import judge, reference
from verifier.checking.runner import run_engine

SOFTPLUS = Op("toyplus", lambda sp, x: sp.log(1 + sp.exp(x)), lambda m, x: m.log1p(m.exp(x)),
              (lambda m, x, ans: m.sigmoid(x),))
TOY = BUILTIN.extended(SOFTPLUS)
OPS = ("toyplus", "mul", "add", "sin")


def _engine(rule=None):
    """The builtin engine with toyplus (softplus under a name of its own) added: its local rule right, or ``rule``."""
    engine = BuiltinEngine()
    record = SOFTPLUS if rule is None else Op("toyplus", SOFTPLUS.sympy, SOFTPLUS.forward, (rule,))
    engine.ops["toyplus"] = make_op(record)
    return engine


def test_a_vocabulary_is_a_new_value_and_the_builtin_one_is_untouched():
    assert "toyplus" in TOY and TOY.knows("toyplus") and "toyplus" in TOY.tensor
    assert "toyplus" not in BUILTIN and not BUILTIN.knows("toyplus")
    assert set(TOY) - set(BUILTIN) == {"toyplus"}


def test_an_op_cannot_shadow_one_the_vocabulary_has():
    with pytest.raises(VocabularyError, match="'tanh' is already in the vocabulary"):
        BUILTIN.extended(Op("tanh", SOFTPLUS.sympy, SOFTPLUS.forward, SOFTPLUS.partials))


def test_the_toy_op_is_checked_by_every_oracle_in_its_vocabulary():
    case = Case(apply(SOFTPLUS, var("x")), {"x": 0.5}, ops=TOY)
    ref = reference(case)
    assert ref.status == "ok" and set(ref.oracles) >= {"paths", "symbolic"}
    assert abs(ref.truth["x"] - 0.6224593312018546) < 1e-15      # sigmoid(0.5)
    assert judge(ref, run_engine(_engine(), case.expr, case.point)).kind == "agree"
    assert judge(ref, run_engine(_engine(lambda m, x, ans: m.sigmoid(-x)), case.expr, case.point)).kind == "mismatch"


def test_a_campaign_generates_and_passes_the_toy_op_on_a_right_engine():
    result = run_campaign(_engine(), Options(examples=150, seed=3, ops=OPS, vocabulary=TOY, check_timeout=None))
    assert not result.discrepancies
    assert result.coverage["ops"].get("toyplus", 0) > 20


def test_a_wrong_rule_of_the_toy_op_is_found_blamed_printed_rendered_and_replayed(tmp_path):
    engine = _engine(lambda m, x, ans: m.sigmoid(-x))
    result = run_campaign(engine, Options(examples=300, seed=1, ops=OPS, vocabulary=TOY, check_timeout=None),
                          Output(tmp_path / "report"))
    f = next(f for f in result.discrepancies if f.culprit_op == "toyplus" and f.kind == "mismatch")
    assert f.blame == "local-rule"
    assert "toyplus(" in f.expression and any("toyplus(" in s for s in f.steps)
    assert f.graph["nodes"], "the picture of local derivatives is drawn for the toy op too"
    assert "toyplus" in (tmp_path / "report" / "summary.md").read_text()
    html = (tmp_path / "report" / "index.html").read_text()
    assert '<mi mathvariant="normal">toyplus</mi>' in html       # a call, in MathML
    assert json.loads((tmp_path / "report" / "summary.json").read_text())["discrepancies"]
    replay = read_replay(tmp_path / "report" / f.replay, TOY)
    assert replay.case.ops is TOY
    assert judge(reference(replay.case), run_engine(engine, replay.case.expr, replay.case.point)).kind == "mismatch"
    with pytest.raises(FormatError, match="unknown op 'toyplus'"):
        read_replay(tmp_path / "report" / f.replay)                 # the built-in vocabulary has no toyplus


def test_the_toy_op_is_lifted_elementwise_in_tensor_mode():
    engine = BuiltinArrayEngine()
    engine.ops["toyplus"] = make_array_op(TOY.tensor["toyplus"])
    options = Options(examples=60, seed=2, ops=("toyplus", "mul", "sum", "add"), vocabulary=TOY, tensor=True,
                      check_timeout=None)
    right = run_campaign(engine, options)
    assert not right.discrepancies and right.coverage["ops"].get("toyplus", 0) > 0
    wrong = Op("toyplus", SOFTPLUS.sympy, SOFTPLUS.forward, (lambda m, x, ans: m.sigmoid(-x),))
    engine.ops["toyplus"] = make_array_op(BUILTIN.extended(wrong).tensor["toyplus"])
    found = run_campaign(engine, options)
    assert any(f.culprit_op == "toyplus" for f in found.discrepancies)


def test_two_campaigns_in_one_process_do_not_see_each_others_ops():
    with_toy = run_campaign(_engine(), Options(examples=60, seed=0, ops=OPS, vocabulary=TOY, check_timeout=None))
    assert with_toy.coverage["ops"].get("toyplus", 0) > 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plain = run_campaign(_engine(), Options(examples=60, seed=0, check_timeout=None))
    assert "toyplus" not in plain.ops and "toyplus" not in plain.coverage["ops"]
    (warning,) = [w.message for w in caught if isinstance(w.message, UnknownOpsWarning)]
    assert "toyplus" in str(warning)
    # and the first campaign's vocabulary still has it, untouched by the second
    again = run_campaign(_engine(), Options(examples=60, seed=0, ops=OPS, vocabulary=TOY, check_timeout=None))
    assert again.coverage == with_toy.coverage


def test_how_an_op_prints_comes_from_its_record():
    assert show(apply(SOFTPLUS, var("x"))) == "toyplus(x)"
    assert BUILTIN["div"].notation == Notation("/", "frac", binds=8, text_binds=2)
    assert show(apply("div", apply("add", var("x"), var("y")), var("z"))) == "(x + y)/z"
