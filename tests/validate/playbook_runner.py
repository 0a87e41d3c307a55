"""Runs one of the collection's playbooks against a throwaway inventory and extra-vars file, as the refusal tests
do (tests/validate/test_*_refusals.py): nothing is reachable, so any task that runs on a node shows as UNREACHABLE."""
from __future__ import annotations

import concurrent.futures
import os
import subprocess
import sys
import tempfile

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ANSIBLE_PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")


def run_playbook(tmp: str, name: str, playbook: str, inventory: dict, extra_vars: dict, limit: str | None = None):
    """ansible-playbook <playbook> with `inventory` and `extra_vars` written under `tmp` as <name>.yml/<name>-vars.yml."""
    inv_path = os.path.join(tmp, name + ".yml")
    with open(inv_path, "w") as f:
        yaml.safe_dump(inventory, f)
    vars_path = os.path.join(tmp, name + "-vars.yml")
    with open(vars_path, "w") as f:
        yaml.safe_dump(extra_vars, f)
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_HOST_KEY_CHECKING="False")
    argv = [ANSIBLE_PLAYBOOK, "-i", inv_path, "-e", "@" + vars_path, os.path.join(REPO, playbook)]
    argv += ["--limit", limit] if limit else []
    return subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=180)


def run_cases(names, run_case, workers: int = 4) -> dict:
    """{name: run_case(name, tmp)} for every name, `workers` playbooks at a time, in one temporary directory."""
    with tempfile.TemporaryDirectory() as tmp, concurrent.futures.ThreadPoolExecutor(workers) as pool:
        futures = {name: pool.submit(run_case, name, tmp) for name in names}
        return {name: fut.result() for name, fut in futures.items()}
