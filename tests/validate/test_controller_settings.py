# -*- coding: utf-8 -*-
"""Controller-side settings of ansible.cfg: SSH host keys are checked and the fact cache is private.

The lab (tests/lab/labcore.py) relaxes host key checking in its own generated inventory, for its throwaway
containers only; Molecule connects with community.docker.docker (no SSH, no host keys) and its own ansible.cfg.
No host is contacted: SSH goes to 127.0.0.1 port 1 (refused at once) and only its command line is inspected.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent.parent
ANSIBLE = Path(sys.executable).parent / "ansible"
CFG = REPO / "ansible.cfg"
UNREACHABLE = {"ansible_host": "127.0.0.1", "ansible_port": 1, "ansible_connection": "ssh"}


def _env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_CONFIG=str(CFG), ANSIBLE_FORCE_COLOR="0", **extra)
    return env


def _ssh_command_line(tmp_path: Path, host_vars: dict) -> str:
    """The ssh command Ansible builds for a host with these variables (the connection is refused)."""
    inv = tmp_path / "hosts.yml"
    inv.write_text(yaml.safe_dump({"all": {"hosts": {"node1": dict(UNREACHABLE, **host_vars)}}}))
    r = subprocess.run([str(ANSIBLE), "-i", str(inv), "node1", "-m", "ansible.builtin.ping", "-vvvv"],
                       cwd=REPO, env=_env(ANSIBLE_CACHE_PLUGIN_CONNECTION=str(tmp_path / "facts")),
                       capture_output=True, text=True, timeout=120, check=False)
    out = r.stdout + r.stderr
    assert r.returncode != 0 and "UNREACHABLE" in out, out
    execs = re.findall(r"SSH: EXEC (ssh .*)", out)
    assert execs, out
    return execs[0]


def test_ansible_cfg_checks_ssh_host_keys(tmp_path):
    line = _ssh_command_line(tmp_path, {})
    # With host_key_checking = False, Ansible adds "-o StrictHostKeyChecking=no" to every ssh command.
    assert "StrictHostKeyChecking=no" not in line, line
    assert "UserKnownHostsFile=/dev/null" not in line, line


def test_lab_inventory_relaxes_host_key_checking_for_its_own_hosts(tmp_path, monkeypatch):
    sys.path.insert(0, str(REPO / "tests" / "lab"))
    import labcore  # noqa: PLC0415 (the lab harness, imported only by this test)

    monkeypatch.setattr(labcore, "LAB_STATE", tmp_path / "state")
    lab = labcore.Lab("kf-sec-hostkeys", subnet="172.30.190.0/24", control_planes=1, workers=0)
    lab._inventory()
    hosts = yaml.safe_load((labcore.inventory_dir(lab.name) / "hosts.yml").read_text())
    lab_vars = {k: v for k, v in hosts["all"]["vars"].items() if k.startswith("ansible_ssh_common_args")}
    line = _ssh_command_line(tmp_path, lab_vars)
    assert "StrictHostKeyChecking=no" in line and "UserKnownHostsFile=/dev/null" in line, line


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_fact_cache_is_private(tmp_path):
    facts = tmp_path / "facts"
    for existing in (False, True):
        if existing:  # a cache directory left by an older jsonfile cache is tightened
            facts.chmod(0o755)
            for f in facts.iterdir():
                f.unlink()
        r = subprocess.run([str(ANSIBLE), "localhost", "-c", "local", "-m", "ansible.builtin.setup",
                            "-a", "gather_subset=min"], cwd=REPO, capture_output=True, text=True, timeout=120,
                           env=_env(ANSIBLE_CACHE_PLUGIN_CONNECTION=str(facts)), check=False)
        assert r.returncode == 0, r.stdout + r.stderr
        files = list(facts.iterdir())
        assert files, "no fact cache file was written"
        assert _mode(facts) == 0o700, oct(_mode(facts))
        for f in files:
            assert _mode(f) == 0o600, f"{f.name}: {oct(_mode(f))}"
