"""python3 -m kubesim.scheduler <kube-scheduler flags>"""

import sys

import yaml

from ..controllers import component
from ..controllers import flags as F
from .core import Scheduler

SPEC = component.flag_spec({
    "config": F.STR, "write-config-to": F.STR, "pod-max-in-unschedulable-pods-duration": F.DURATION,
    "show-hidden-metrics-for-version": F.STR, "allow-metric-labels": F.LIST, "disabled-metrics": F.LIST,
    "emulated-version": F.LIST, "lock-object-name": F.STR, "lock-object-namespace": F.STR,
})

NAME = "kube-scheduler"


def main(argv=None):
    opts = component.start(NAME, argv, SPEC)
    if isinstance(opts, int):
        return opts
    kubeconfig = opts.get("kubeconfig")
    names = ["default-scheduler"]
    leader_elect = opts.get("leader-elect", True)
    if opts.get("config"):
        with open(opts["config"], encoding="utf-8") as fh:
            cfg = yaml.safe_load(fh) or {}
        kubeconfig = kubeconfig or (cfg.get("clientConnection") or {}).get("kubeconfig")
        profiles = cfg.get("profiles") or []
        names = [p.get("schedulerName") or "default-scheduler" for p in profiles] or names
        leader_elect = (cfg.get("leaderElection") or {}).get("leaderElect", leader_elect)
    client = component.connect(NAME, opts, kubeconfig, 10259)
    if isinstance(client, int):
        return client
    sched = Scheduler(client, names, leader_elect=leader_elect,
                      lease_duration=opts.get("leader-elect-lease-duration", 15.0))
    return component.run(sched.run_forever)


if __name__ == "__main__":
    sys.exit(main())
