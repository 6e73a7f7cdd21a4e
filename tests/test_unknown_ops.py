"""Ops an engine declares that adverify has no record of are said out loud, once per
campaign — a warning through the API, one line on stderr from the command line — never
dropped in silence: their derivatives go unchecked, and the warning says how to have them
checked (custom_ops)."""
import os
import subprocess
import sys
import textwrap
import warnings

import pytest

from verifier.search.campaign import Options, UnknownOpsWarning, run_campaign
from verifier.engines.builtin import BuiltinEngine


class WithMish(BuiltinEngine):
    name = "with-mish"

    def __init__(self):
        super().__init__()
        self.ops = {**self.ops, "mish": lambda x: x, "swish": lambda x: x}


def test_the_api_warns_once_naming_the_unknown_ops_and_how_to_declare_them():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run_campaign(WithMish(), Options(examples=5, seed=0, ops=("add", "mul")))
    mine = [w for w in caught if issubclass(w.category, UnknownOpsWarning)]
    assert len(mine) == 1
    text = str(mine[0].message)
    assert "mish, swish" in text and "not checked" in text
    assert "custom_ops" in text and "docs/custom-ops.md" in text and "adverify ops" in text


def test_an_engine_with_only_known_ops_is_not_warned_about():
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnknownOpsWarning)
        run_campaign(BuiltinEngine(), Options(examples=3, seed=0, ops=("add",)))


@pytest.mark.parametrize("more", [[], ["--workers", "2"]])
def test_the_command_line_says_it_in_one_line(tmp_path, more):
    (tmp_path / "eng.py").write_text(textwrap.dedent('''
        from verifier.engines.builtin import BuiltinEngine

        class Eng(BuiltinEngine):
            name = "with-mish"
            def __init__(self):
                super().__init__()
                self.ops = {**self.ops, "mish": lambda x: x}
    '''))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run = subprocess.run([sys.executable, "-m", "verifier", "campaign", "--engine", "./eng.py:Eng", "--examples", "6",
                          "--ops", "add,mul", "--seed", "0", "--out", "rep", "--quiet", *more],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    lines = [line for line in run.stderr.splitlines() if "mish" in line]
    assert len(lines) == 1 and lines[0].startswith("adverify: warning: "), run.stderr
    assert "Traceback" not in run.stderr and "warnings.warn" not in run.stderr
