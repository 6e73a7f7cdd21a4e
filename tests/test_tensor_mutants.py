"""The planted bugs of issue #17 in the new tensor ops: each is found within the selftest's
budget (its options: 12 nodes, 3 variables), shrunk to the op alone and blamed on it; the
reproducer shows what triggers it; and a transformer block carrying one shrinks and is blamed
like any program. Slow: tests/test_tensor.py gates every tensor mutant in the quick suite."""
import re

import pytest
from hypothesis import HealthCheck, find, settings

from verifier.checking.checker import Checker
from verifier.engines.mutants import MUTANTS
from verifier.floor.ir import toposort
from verifier.floor.program import iconst_value, params_of
from verifier.floor.vocabulary import BUILTIN
from verifier.search.blame import blame
from verifier.search.campaign import Options, run_campaign
from verifier.search.tensor_strategies import _block

NEW = ("layer-norm-no-mean-term", "cross-entropy-no-onehot", "embedding-assign", "log-softmax-naive",
       "attention-mask-leak", "var-wrong-correction")
_FOUND: dict = {}


def _finding(name: str):
    """The selftest's campaign (500 examples, seed 0, the record's ops), once per module."""
    if name not in _FOUND:
        m = MUTANTS[name]
        r = run_campaign(m.make(), Options(examples=500, seed=0, ops=m.ops, stop_after=1, **m.options))
        _FOUND[name] = r.discrepancies[0] if r.discrepancies else None
    return _FOUND[name]


@pytest.mark.slow
@pytest.mark.parametrize("name", NEW)
def test_new_tensor_mutant_is_found_shrunk_and_blamed(name):
    m, f = MUTANTS[name], _finding(name)
    assert f is not None, f"{name} survived 500 examples"
    assert f.kind in m.kinds, (f.kind, f.message)
    assert f.nodes <= 3, f.expression
    assert m.blamed_right(f.culprit_op, f.blame) is True, (f.culprit_op, f.blame)


@pytest.mark.slow
def test_the_reproducers_show_what_triggers_each_bug():
    # the lost gradient needs a row looked up twice: int[0, 0], say
    found = _finding("embedding-assign")
    indices = [[int(i) for i in text.split(",")] for text in re.findall(r"int\[([\d, ]+)\]", found.expression)]
    assert indices and any(len(set(i)) < len(i) for i in indices), found.expression
    # the leak, a causal mask that masks something; the naive log_softmax, exp's overflow (NaN)
    assert "causal=True" in _finding("attention-mask-leak").expression
    assert _finding("log-softmax-naive").kind == "nonfinite"


@pytest.mark.slow
def test_a_block_with_a_planted_bug_shrinks_and_is_blamed_on_the_op():
    # a block's check takes a second or so: this one shrinks for minutes
    with Checker(MUTANTS["embedding-assign"].make(), None, tensor=True) as checker:
        case = find(_block("float64", BUILTIN, ("rms_norm",)), lambda c: checker.check(c).is_discrepancy,
                    settings=settings(database=None, max_examples=100, deadline=None,
                                      suppress_health_check=list(HealthCheck)))
        verdict = checker.check(case)
        culprit = blame(case, verdict, checker.check)
    assert (culprit.op, culprit.how) == ("embedding", "local-rule"), culprit
    nodes = toposort(case.expr)
    # shrunk: the smallest shapes, and two equal tokens (the row looked up twice)
    assert case.point["E"].shape == (3, 2)
    tokens = iconst_value(next(n for n in nodes if n.op == "embedding").src[1])
    assert len(set(tokens.tolist())) < len(tokens), tokens
    assert all(params_of(n)["causal"] for n in nodes if n.op == "attention")
