"""Refusals of reset.yml that need no host are bad inputs: the run fails in its first play, on the controller, the
message names the variable, and no host is contacted (the member check, which reads each host's CA, is tested on
the lab: tests/lab/tests/test_remove_nodes.py).

Inventories of unreachable hosts (127.0.0.1 port 1), as in test_day2_refusals.py: any contact would show as
UNREACHABLE. The first play runs on the node groups (a --limit skips a localhost play): its checks are asserts
delegated to localhost, shown as "[cp1 -> localhost]". The runs go in parallel through one module fixture.
"""

from __future__ import annotations

import re
import tempfile

import pytest

from playbook_runner import run_cases, run_playbook

UNREACHABLE_HOST = {"ansible_host": "127.0.0.1", "ansible_port": 1, "ansible_connection": "ssh",
                    "ansible_ssh_common_args": "-o ConnectTimeout=2 -o ConnectionAttempts=1"}
INVENTORY = {"all": {"vars": dict(UNREACHABLE_HOST), "children": {
    "control_plane": {"hosts": {"cp1": {}, "cp2": {}}},
    "workers": {"hosts": {"w1": {}, "w2": {}}}}}}
CONFIRMED = {"reset_confirm": True}

# name -> (extra vars, --limit or None, strings the failure message must contain)
CASES = {
    "no_confirm": ({}, None, ["reset_confirm:", "cp1, cp2, w1, w2", "-e reset_confirm=true"]),
    "no_confirm_with_limit": ({}, "w1", ["reset_confirm:", "selected hosts (w1)", "-e reset_confirm=true"]),
    "confirm_false": ({"reset_confirm": False}, "w1", ["reset_confirm:", "-e reset_confirm=true"]),
    "confirm_not_bool": ({"reset_confirm": "sure"}, "w1", ['reset_confirm must be true or false, got "sure"']),
    "no_limit_no_reset_all": (CONFIRMED, None, ["reset_all: without --limit, reset.yml selects every node of the "
                                                "inventory (cp1, cp2, w1, w2)", "--limit <host,...>",
                                                "-e reset_all=true"]),
    "reset_all_false": (dict(CONFIRMED, reset_all=False), None, ["reset_all: without --limit", "-e reset_all=true"]),
    "reset_all_not_bool": (dict(CONFIRMED, reset_all="everything"), None,
                           ['reset_all must be true or false, got "everything"']),
    "any_cluster_not_bool": (dict(CONFIRMED, reset_any_cluster=[1]), "w1",
                             ["reset_any_cluster must be true or false, got [1]"]),
}


def run_case(name, tmp):
    extra, limit, _ = CASES[name]
    return run_playbook(tmp, name, "reset.yml", INVENTORY, extra, limit)


@pytest.fixture(scope="module")
def results():
    yield run_cases(CASES, run_case)


@pytest.mark.parametrize("name", sorted(CASES))
def test_refused_before_any_host(results, name):
    r = results[name]
    text = r.stdout + r.stderr
    assert r.returncode != 0, text[-3000:]
    assert "UNREACHABLE" not in text, text[-3000:]
    # the failure comes from the controller, in the first play
    assert re.search(r"^(fatal|failed): \[(cp|w)\d -> localhost\]", text, re.M), text[-3000:]
    assert "PLAY [Check that the selected hosts are members of this cluster" not in text, text[-3000:]
    # no task ran on a node itself
    assert not re.search(r"^(ok|changed|fatal|skipping): \[(cp\d|w\d)\]", text, re.M), text[-3000:]
    msg = " ".join(text.split())
    for want in CASES[name][2]:
        assert want in msg, (want, text[-3000:])


def test_a_limited_confirmed_run_passes_the_request_checks():
    """The other side: --limit with reset_confirm passes the first play and goes on to read the hosts (here
    unreachable), so the refusals above are not failures of every run."""
    with tempfile.TemporaryDirectory() as tmp:
        CASES["_accepted"] = (CONFIRMED, "w1", [])
        try:
            r = run_case("_accepted", tmp)
        finally:
            del CASES["_accepted"]
    text = r.stdout + r.stderr
    assert "PLAY [Check that the selected hosts are members of this cluster" in text, text[-3000:]
    assert "UNREACHABLE" in text and "[w1]" in text, text[-3000:]
    assert not re.search(r"^fatal: \[(cp|w)\d -> localhost\]", text, re.M), text[-3000:]
