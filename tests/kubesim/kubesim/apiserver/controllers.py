"""Background loops of the API server process: the etcd compactor, the CRD refresh and the
namespace finalizer (in a real cluster the last one is kube-controller-manager's namespace
controller, see tests/kubesim/README.md).

The bootstrap signer, token cleaner and CSR approver/signer are NOT here: they run in the
kube-controller-manager stand-in (kubesim/controllers/bootstrap.py and certificates.py) and only
when its --controllers enables them, as in a real cluster. ``detached_jws`` is re-exported for the
tests that import it from here.

All loops only write with compare-and-swap, so several API servers (HA) can run them at once."""

import os
import sys
import threading
import time

from ..controllers.bootstrap import detached_jws  # noqa: F401 (re-export)
from .store import APIError


def parse_duration(text):
    """Go duration subset: 300ms, 5m, 1h30m, 10s; 0 disables."""
    import re
    total = 0.0
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    for num, unit in re.findall(r"([0-9.]+)(ms|s|m|h)", text):
        total += float(num) * units[unit]
    return total


def log(msg):
    sys.stderr.write("%s kubesim-apiserver: %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


class Controllers:
    def __init__(self, api, interval=1.0):
        self.api = api
        self.interval = interval
        self.stop = threading.Event()
        self.compaction_interval = parse_duration(api.opts.get("etcd-compaction-interval") or "5m")
        self.next_compaction = time.monotonic() + self.compaction_interval
        self.last_revision = 0
        if self.compaction_interval <= 0:
            self.next_compaction = float("inf")

    def start(self):
        t = threading.Thread(target=self.run, name="controllers", daemon=True)
        t.start()
        return t

    def compaction(self):
        """kube-apiserver's etcd compactor: every interval, compact to the revision seen one interval
        ago, so watches may resume from anything younger than one interval."""
        now_t = time.monotonic()
        if now_t < self.next_compaction:
            return
        self.next_compaction = now_t + self.compaction_interval
        _, rev = self.api.etcd.get("/registry/health")
        if self.last_revision:
            try:
                self.api.etcd.compact(self.last_revision)
            except Exception:
                pass  # another API server compacted already
        self.last_revision = rev

    def run(self):
        while not self.stop.is_set():
            for fn in (self.crd_pass, self.namespace_pass, self.compaction):
                try:
                    fn()
                except Exception as e:  # keep the loop alive (etcd down, ...)
                    if os.environ.get("KUBESIM_APISERVER_DEBUG"):
                        log("controller %s: %r" % (fn.__name__, e))
            self.stop.wait(self.interval)

    def crd_pass(self):
        self.api.refresh_crds()

    def namespace_pass(self):
        """The namespace controller: a Terminating namespace loses its contents, then goes."""
        from . import admission
        api = self.api
        res = api.res("", "namespaces")
        for ns in api.store.list(res)[0]:
            meta = ns["metadata"]
            if not meta.get("deletionTimestamp"):
                continue
            admission.delete_namespace_contents(api, meta["name"])
            try:
                api.store.delete(res, "", meta["name"], meta["resourceVersion"])
            except APIError:
                pass
