# -*- coding: utf-8 -*-
"""Package, repository and download tasks survive transient failures and a held dpkg lock (no host needed).

Static part: every apt/dnf/package/get_url/deb822_repository task of the roles retries (bounded retries/until on
its own registered result) and every apt task waits for the dpkg lock (lock_timeout); each Debian package file
waits for the dpkg lock, with a message, before its install. Behaviour part: the lock probe of
roles/kubernetes/tasks/dpkg_lock.yml is run against a file locked the way dpkg locks it (fcntl), and then released.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent.parent
RETRIED = {"ansible.builtin.apt", "ansible.builtin.dnf", "ansible.builtin.package", "ansible.builtin.get_url",
           "ansible.builtin.deb822_repository"}
DPKG_LOCK = REPO / "roles" / "kubernetes" / "tasks" / "dpkg_lock.yml"
LOCK_WAITS = ["roles/prereqs/tasks/packages-Debian.yml", "roles/kube_packages/tasks/packages-Debian.yml",
              "roles/loadbalancer/tasks/packages-Debian.yml", "roles/container_runtime/tasks/install-distro.yml",
              "roles/container_runtime/tasks/install-docker.yml"]


def _tasks(items):
    for task in items or []:
        yield task
        for key in ("block", "rescue", "always"):
            yield from _tasks(task.get(key))


def _package_tasks():
    found = []
    for path in sorted(REPO.glob("roles/*/tasks/*.yml")):
        for task in _tasks(yaml.safe_load(path.read_text())):
            module = next((m for m in RETRIED if m in task), None)
            if module:
                found.append((f"{path.relative_to(REPO)}: {task.get('name')}", module, task))
    return found


PACKAGE_TASKS = _package_tasks()


def test_the_package_tasks_are_found():
    modules = {module for _, module, _ in PACKAGE_TASKS}
    assert modules == RETRIED, modules
    assert len(PACKAGE_TASKS) >= 15, [name for name, _, _ in PACKAGE_TASKS]


@pytest.mark.parametrize("name,module,task", PACKAGE_TASKS, ids=[t[0] for t in PACKAGE_TASKS])
def test_task_retries_transient_failures(name, module, task):
    register = task.get("register")
    assert register, f"{name}: no register for until"
    assert task.get("until") == f"{register} is succeeded", f"{name}: until {task.get('until')!r}"
    assert 1 <= int(task.get("retries", 0)) <= 5 and int(task.get("delay", 0)) > 0, name
    if module == "ansible.builtin.apt":
        assert task[module].get("lock_timeout") == "{{ kubernetes_package_lock_timeout }}", name


@pytest.mark.parametrize("path", LOCK_WAITS)
def test_dpkg_lock_is_waited_for_before_the_install(path):
    tasks = list(_tasks(yaml.safe_load((REPO / path).read_text())))
    waits = [i for i, t in enumerate(tasks) if t.get("ansible.builtin.include_role", {}).get("tasks_from") == "dpkg_lock"]
    installs = [i for i, t in enumerate(tasks) if {"ansible.builtin.apt", "ansible.builtin.package"} & t.keys()]
    assert waits and installs and waits[0] < installs[0], path


def _probe(lock_path: Path) -> subprocess.CompletedProcess:
    task = yaml.safe_load(DPKG_LOCK.read_text())[0]
    script = task["ansible.builtin.command"]["argv"][2].replace("/var/lib/dpkg/lock-frontend", str(lock_path))
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=False)


def test_dpkg_lock_probe_waits_while_held_and_passes_once_released(tmp_path):
    lock = tmp_path / "lock-frontend"
    assert _probe(lock).returncode == 0  # free (and created, as dpkg would)
    # Held by another process with an fcntl lock, as dpkg holds it.
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, os, sys, time\n"
        f"fd = os.open({str(lock)!r}, os.O_RDWR)\n"
        "fcntl.lockf(fd, fcntl.LOCK_EX)\nprint('held', flush=True)\ntime.sleep(60)\n")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        held = _probe(lock)
        assert held.returncode != 0
        assert f"{lock} is held by another apt or dpkg run" in held.stderr, held.stderr
    finally:
        holder.kill()
        holder.wait()
    assert _probe(lock).returncode == 0
    # The task retries the probe for up to kubernetes_package_lock_timeout seconds.
    task = yaml.safe_load(DPKG_LOCK.read_text())[0]
    assert task["until"] == "kubernetes_dpkg_lock.rc == 0" and task["delay"] == 5
    assert "kubernetes_package_lock_timeout" in task["retries"]
