# -*- coding: utf-8 -*-
"""The join path's structure (issue 13/15): read from the YAML, no host involved.

- every play that joins control planes stops at the first failure (any_errors_fatal), in site.yml and add_nodes.yml;
- one task file runs `kubeadm join` for workers and control planes (roles/kubernetes/tasks/join.yml);
- its JoinConfiguration sits at a fixed path under /run in a 0700 directory, is 0600, never diffed or logged, and
  is removed before the join (left over from an interrupted run) and after it (always).
"""

from __future__ import annotations

import pathlib

import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]
JOIN = REPO / "roles" / "kubernetes" / "tasks" / "join.yml"


def load(path):
    with open(path) as handle:
        return yaml.safe_load(handle)


def walk(tasks):
    for task in tasks or []:
        yield task
        for key in ("block", "rescue", "always"):
            yield from walk(task.get(key))


def includes_role_task(play, tasks_from):
    for task in walk(play.get("tasks")):
        include = task.get("ansible.builtin.include_role") or {}
        if include.get("name") == "kubeforge.kubeadm.control_plane" and include.get("tasks_from") == tasks_from:
            return True
    return False


def test_control_plane_join_plays_stop_at_the_first_failure():
    found = {}
    for name in ("site.yml", "add_nodes.yml"):
        plays = [p for p in load(REPO / "playbooks" / name) if includes_role_task(p, "join")]
        assert len(plays) == 1, (name, plays)
        found[name] = plays[0]
    for name, play in found.items():
        assert play.get("any_errors_fatal") is True, "%s: play %r lacks any_errors_fatal: true" % (name, play["name"])


def test_one_task_file_runs_kubeadm_join():
    runners = []
    for path in sorted((REPO / "roles").glob("*/tasks/*.yml")):
        for task in walk(load(path)):
            command = task.get("ansible.builtin.command")
            argv = command.get("argv") or [] if isinstance(command, dict) else str(command or "").split()
            if len(argv) > 1 and argv[1] == "join":
                runners.append(str(path.relative_to(REPO)))
    assert runners == ["roles/kubernetes/tasks/join.yml"]
    for role in ("control_plane", "worker"):
        text = "".join(p.read_text() for p in (REPO / "roles" / role / "tasks").glob("*.yml"))
        assert "tasks_from: join\n" in text and "name: kubeforge.kubeadm.kubernetes" in text, role


def test_join_configuration_is_private_and_removed_before_and_after():
    constants = load(REPO / "roles" / "kubernetes" / "vars" / "main.yml")
    assert constants["kubernetes_join_config_dir"].startswith("/run/")
    block = next(t for t in load(JOIN) if "block" in t)
    tasks = block["block"]
    first = tasks[0]["ansible.builtin.file"]
    assert first == {"path": "{{ kubernetes_join_config_path }}", "state": "absent"}
    directory = next(t["ansible.builtin.file"] for t in tasks
                     if (t.get("ansible.builtin.file") or {}).get("state") == "directory")
    assert directory["path"] == "{{ kubernetes_join_config_dir }}" and directory["mode"] == "0700"
    render = next(t for t in tasks if "ansible.builtin.template" in t)
    assert render["ansible.builtin.template"]["dest"] == "{{ kubernetes_join_config_path }}"
    assert render["ansible.builtin.template"]["mode"] == "0600"
    assert render["diff"] is False and render["no_log"] is True
    run = next(t for t in tasks if "ansible.builtin.command" in t)
    assert run["no_log"] is True
    assert "--config={{ kubernetes_join_config_path }}" in run["ansible.builtin.command"]["argv"]
    cleanup = block["always"][0]["ansible.builtin.file"]
    assert cleanup == {"path": "{{ kubernetes_join_config_path }}", "state": "absent"}
    assert "when" not in block["always"][0]
