# Benchmark callback for `make bench` (bench/run): not part of the collection build.
# Writes one JSON document per playbook run to $BENCH_CALLBACK_OUT: every task result per host (status, action,
# role, play, start/end/duration) plus the play recap. Enabled only by bench/run through
# ANSIBLE_CALLBACK_PLUGINS=bench/callback_plugins and ANSIBLE_CALLBACKS_ENABLED=kubeforge_bench.
from __future__ import annotations


import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
    name: kubeforge_bench
    type: aggregate
    short_description: per task and host timings and results as JSON (bench/run only)
    description:
      - Writes every task result (host, status, action, duration) and the recap to the file named by BENCH_CALLBACK_OUT.
    requirements:
      - enable in the configuration and set BENCH_CALLBACK_OUT
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "kubeforge_bench"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.out = os.environ.get("BENCH_CALLBACK_OUT")
        self.t0 = time.time()
        self.play = None
        self.tasks = {}      # task uuid -> task record
        self.order = []      # task uuids in start order
        self.running = {}    # (task uuid, host) -> start time
        self.results = []
        self.plays = []

    # -- structure
    def v2_playbook_on_play_start(self, play):
        self.play = play.get_name()
        self.plays.append({"name": self.play, "start": time.time() - self.t0})

    def _task(self, task, handler=False):
        uid = task._uuid
        if uid not in self.tasks:
            role = getattr(task, "_role", None)
            path = task.get_path() or ""
            self.tasks[uid] = {
                "uuid": uid, "name": task.get_name(), "action": task.action, "play": self.play,
                "role": role.get_name() if role else None, "path": path, "handler": handler,
                "start": time.time() - self.t0, "run_once": bool(getattr(task, "run_once", False)),
            }
            self.order.append(uid)
        return self.tasks[uid]

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._task(task)

    def v2_playbook_on_handler_task_start(self, task):
        self._task(task, handler=True)

    def v2_playbook_on_cleanup_task_start(self, task):
        self._task(task)

    def v2_runner_on_start(self, host, task):
        self._task(task)
        self.running[(task._uuid, host.get_name())] = time.time()

    # -- results
    def _result(self, result, status):
        task, host = result._task, result._host.get_name()
        rec = self._task(task)
        end = time.time()
        start = self.running.pop((task._uuid, host), None)
        r = result._result if isinstance(result._result, dict) else {}
        delegated = r.get("_ansible_delegated_vars", {}).get("ansible_host") if isinstance(
            r.get("_ansible_delegated_vars"), dict) else None
        changed = bool(r.get("changed", False)) if status in ("ok", "changed") else False
        if status == "ok" and changed:
            status = "changed"
        self.results.append({
            "task": rec["uuid"], "host": host, "status": status,
            "changed": status == "changed", "start": (start - self.t0) if start else None,
            "end": end - self.t0, "duration": (end - start) if start else None,
            "delegated_to": delegated, "items": len(r["results"]) if isinstance(r.get("results"), list) else None,
        })

    def v2_runner_on_ok(self, result):
        self._result(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._result(result, "ignored" if ignore_errors else "failed")

    def v2_runner_on_skipped(self, result):
        self._result(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._result(result, "unreachable")

    # -- recap
    def v2_playbook_on_stats(self, stats):
        recap = {}
        for h in sorted(stats.processed.keys()):
            s = stats.summarize(h)
            recap[h] = {k: s.get(k, 0) for k in ("ok", "changed", "unreachable", "failures", "skipped", "rescued", "ignored")}
        doc = {"elapsed": time.time() - self.t0, "plays": self.plays,
               "tasks": [self.tasks[u] for u in self.order], "results": self.results, "recap": recap}
        if self.out:
            tmp = self.out + ".tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(doc, f, indent=1)
            os.replace(tmp, self.out)
