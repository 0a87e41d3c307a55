"""Refusals of certificates.yml, etcd_backup.yml, etcd_restore.yml and smoke_test.yml are bad inputs: the run fails
in the play on localhost, the message names the variable (and the bad value), and no host is contacted.

Inventories of unreachable hosts (127.0.0.1 port 1), as in test_validate.py: any contact would show as UNREACHABLE
or as a task result for a node. The runs go in parallel through one module fixture.
"""

from __future__ import annotations

import os
import re
import tempfile

import pytest

from playbook_runner import run_cases, run_playbook

UNREACHABLE_HOST = {"ansible_host": "127.0.0.1", "ansible_port": 1, "ansible_connection": "ssh",
                    "ansible_ssh_common_args": "-o ConnectTimeout=2 -o ConnectionAttempts=1"}


def inventory(control_plane=("cp1",), workers=("w1",)):
    return {"all": {"vars": dict(UNREACHABLE_HOST), "children": {
        "control_plane": {"hosts": {h: {} for h in control_plane}},
        "workers": {"hosts": {h: {} for h in workers}}}}}


SNAPSHOT = os.path.join(tempfile.gettempdir(), "kubeforge-refusal-test-snapshot.db")

# name -> (playbook, extra vars, inventory, strings the failure message must contain)
CASES = {
    "certificates_days_negative": ("certificates.yml", {"certificates_renew_below_days": -1}, inventory(),
                                   ["certificates_renew_below_days", "0 to 3650", "got -1"]),
    "certificates_days_text": ("certificates.yml", {"certificates_renew_below_days": "thirty"}, inventory(),
                               ["certificates_renew_below_days", "got thirty"]),
    "certificates_days_too_many": ("certificates.yml", {"certificates_renew_below_days": 4000}, inventory(),
                                   ["certificates_renew_below_days", "got 4000"]),
    "certificates_renew_not_bool": ("certificates.yml", {"certificates_renew": "maybe"}, inventory(),
                                    ["certificates_renew must be true or false", "got maybe"]),
    "certificates_timeout_zero": ("certificates.yml", {"certificates_static_pod_timeout": 0}, inventory(),
                                  ["certificates_static_pod_timeout", "got 0"]),
    "certificates_no_control_plane": ("certificates.yml", {}, inventory(control_plane=()),
                                      ["control_plane group", "got []"]),
    "backup_keep_zero": ("etcd_backup.yml", {"etcd_backup_keep": 0}, inventory(),
                         ["etcd_backup_keep", "at least 1", "got 0"]),
    "backup_host_not_control_plane": ("etcd_backup.yml", {"etcd_backup_host": "w1"}, inventory(),
                                      ["etcd_backup_host", "got 'w1'"]),
    "restore_without_confirm": ("etcd_restore.yml", {"etcd_restore_snapshot": SNAPSHOT}, inventory(),
                                ["etcd_restore_confirm=true"]),
    "restore_confirm_false": ("etcd_restore.yml", {"etcd_restore_confirm": False, "etcd_restore_snapshot": SNAPSHOT},
                              inventory(), ["etcd_restore_confirm=true"]),
    "restore_without_snapshot": ("etcd_restore.yml", {"etcd_restore_confirm": True}, inventory(),
                                 ["etcd_restore_snapshot must name a snapshot file", "got ''"]),
    "restore_missing_snapshot": ("etcd_restore.yml", {"etcd_restore_confirm": True,
                                                      "etcd_restore_snapshot": "/nonexistent/etcd.db"}, inventory(),
                                 ["etcd_restore_snapshot", "/nonexistent/etcd.db", "does not exist"]),
    "restore_several_control_planes": ("etcd_restore.yml", {"etcd_restore_confirm": True,
                                                            "etcd_restore_snapshot": SNAPSHOT},
                                       inventory(control_plane=("cp1", "cp2", "cp3")),
                                       ["single-member etcd", "control_plane has 3 hosts", "cp1, cp2, cp3"]),
    "smoke_test_target_not_a_node": ("smoke_test.yml", {"smoke_test_http_targets": ["w1", "nosuch"]}, inventory(),
                                     ["smoke_test_http_targets: nosuch not a node of the inventory",
                                      "allowed: hosts of the control_plane and workers groups"]),
    "smoke_test_targets_empty": ("smoke_test.yml", {"smoke_test_http_targets": []}, inventory(),
                                 ["smoke_test_http_targets: empty"]),
}


def run_case(name, tmp):
    playbook, extra, inv, _ = CASES[name]
    return run_playbook(tmp, name, playbook, inv, extra)


@pytest.fixture(scope="module")
def results():
    with open(SNAPSHOT, "wb") as f:
        f.write(b"not a real snapshot: the refusal comes first")
    yield run_cases(CASES, run_case)
    os.unlink(SNAPSHOT)


@pytest.mark.parametrize("name", sorted(CASES))
def test_refused_before_any_host(results, name):
    r = results[name]
    text = r.stdout + r.stderr
    assert r.returncode != 0, text[-3000:]
    assert "UNREACHABLE" not in text, text[-3000:]
    assert re.search(r"fatal: \[localhost\]", text), text[-3000:]
    # no task ran on a node
    assert not re.search(r"^(ok|changed|fatal|skipping): \[(cp\d|w\d)\]", text, re.M), text[-3000:]
    msg = " ".join(text.split())
    for want in CASES[name][3]:
        assert want in msg, (want, text[-3000:])
