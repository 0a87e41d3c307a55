"""site.yml --check on the scenario's converged cluster (reused, not rebuilt): no failure, changed=0 everywhere."""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from .common import ROOT

RECAP = re.compile(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def test_check_mode_on_the_converged_cluster_changes_nothing():
    inventory = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "inventory"
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1", ANSIBLE_STDOUT_CALLBACK="default")
    r = subprocess.run([str(ROOT / ".venv" / "bin" / "ansible-playbook"), "-i", str(inventory), "--check",
                        str(ROOT / "playbooks" / "site.yml")],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800, check=False)
    tail = r.stdout[-6000:] + r.stderr[-3000:]
    assert r.returncode == 0, tail
    recap = {m.group(1): tuple(int(x) for x in m.groups()[1:]) for m in RECAP.finditer(r.stdout)}
    assert recap, tail
    bad = {h: v for h, v in recap.items() if v[1] or v[2] or v[3]}
    assert not bad, f"changed/unreachable/failed in --check on the converged cluster: {bad}\n{tail}"
