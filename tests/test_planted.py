"""The tool exists to find wrong derivatives: every planted bug is found, shrunk, blamed."""
import pytest

from verifier.campaign import Options, run_campaign
from verifier.mutants import MUTANTS


@pytest.mark.parametrize("name", list(MUTANTS))
def test_planted_bug_is_found_shrunk_and_blamed(name):
    m = MUTANTS[name]
    result = run_campaign(m.make(), Options(examples=500, seed=0, ops=m.ops))
    assert result.discrepancies, f"{name} survived 500 examples"
    f = result.discrepancies[0]
    assert f.kind in m.kinds
    assert f.nodes <= 4, f.expression
    if m.culprits:
        assert f.culprit_op in m.culprits
    else:
        assert f.blame == "composition" and f.culprit_op is not None


def test_reuse_bug_reproducer_shows_the_reuse():
    f = run_campaign(MUTANTS["overwrite"].make(), Options(examples=300, seed=1)).discrepancies[0]
    assert "shared" in f.message or "share" in f.message
    assert any(f.steps[0].count(v) == 2 for v in f.point)   # e.g. %1 = mul(x, x)


def test_float32_precision_loss_is_one_finding_classified_as_precision():
    r = run_campaign(MUTANTS["float32-grads"].make(), Options(examples=300, seed=0))
    precision = [f for f in r.discrepancies if f.blame == "precision"]
    assert len(precision) == 1
