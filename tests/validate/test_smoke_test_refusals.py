"""smoke_test.yml refuses HTTP targets that are not nodes of the inventory: the run fails in the play on localhost,
the message names the variable and the bad value, and no host is contacted (unreachable inventory, as in
test_day2_refusals.py)."""

from __future__ import annotations

import re

import pytest

from playbook_runner import run_cases, run_playbook
from test_day2_refusals import inventory

# name -> (extra vars, strings the failure message must contain)
CASES = {
    "target_not_in_inventory": ({"smoke_test_http_targets": ["w1", "nosuch"]},
                                ["smoke_test_http_targets: nosuch not a node of the inventory",
                                 "allowed: hosts of the control_plane and workers groups"]),
    "targets_empty": ({"smoke_test_http_targets": []}, ["smoke_test_http_targets: empty"]),
}


def run_case(name, tmp):
    return run_playbook(tmp, name, "smoke_test.yml", inventory(), CASES[name][0])


@pytest.fixture(scope="module")
def results():
    return run_cases(CASES, run_case)


@pytest.mark.parametrize("name", sorted(CASES))
def test_refused_before_any_host(results, name):
    r = results[name]
    text = r.stdout + r.stderr
    assert r.returncode != 0, text[-3000:]
    assert "UNREACHABLE" not in text, text[-3000:]
    assert re.search(r"fatal: \[localhost\]", text), text[-3000:]
    assert not re.search(r"^(ok|changed|fatal|skipping): \[(cp\d|w\d)\]", text, re.M), text[-3000:]
    msg = " ".join(text.split())
    for want in CASES[name][1]:
        assert want in msg, (want, text[-3000:])
