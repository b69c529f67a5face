"""The layering rules of docs/architecture.md hold: no new import cycle, SQL in an adapter, or settings in a rule."""

import subprocess
import sys

from tests.support import ROOT


def test_no_new_breach_of_the_layering_rules():
    run = subprocess.run([sys.executable, "scripts/check_layers.py"], cwd=ROOT, capture_output=True, text=True)
    new = [line for line in run.stdout.splitlines() if line.startswith("NEW")]
    assert run.returncode == 0 and not new, "new breaches of docs/architecture.md's layering rules:\n" + "\n".join(new)


def test_the_check_finds_a_cycle_sql_in_an_adapter_and_settings_in_a_rule():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import ast

        import check_layers
    finally:
        sys.path.pop(0)
    assert check_layers.cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]], \
        "a three-module import cycle was not found"
    adapter = ast.parse("from sqlalchemy import select\ndef f(session):\n    return session.execute(select(1))\n")
    assert sorted(set(check_layers.sql_calls(adapter))) == [3], "a select() executed in an adapter was not found"
    rule = ast.parse("from config import get_settings\ndef rule():\n    return get_settings().x\n")
    assert list(check_layers.settings_reads(rule)) == [3], "get_settings() in a rule module was not found"
