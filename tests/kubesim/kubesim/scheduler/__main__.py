"""python3 -m kubesim.scheduler <kube-scheduler flags>"""

import logging
import sys

import yaml

from ..apiclient import Client
from ..controllers import flags as F
from ..controllers import serving
from .core import Scheduler

SPEC = dict(F.COMMON)
SPEC.update(F.LEADER)
SPEC.update(F.SECURE_SERVING)
SPEC.update(F.AUTH_DELEGATION)
SPEC.update(F.CLIENT)
SPEC.update({
    "config": F.STR, "write-config-to": F.STR, "pod-max-in-unschedulable-pods-duration": F.DURATION,
    "show-hidden-metrics-for-version": F.STR, "allow-metric-labels": F.LIST, "disabled-metrics": F.LIST,
    "emulated-version": F.LIST, "lock-object-name": F.STR, "lock-object-namespace": F.STR,
})

USAGE = "Usage:\n  kube-scheduler [flags]\n"


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    try:
        opts, positional = F.parse_flags(argv, SPEC)
    except F.FlagError as exc:
        sys.stderr.write(f"Error: {exc}\n{USAGE}")
        return 1
    if "version" in opts:
        from ..kubelet.host import kubelet_version
        sys.stdout.write(f"Kubernetes {kubelet_version()}\n")
        return 0
    if opts.get("help"):
        sys.stdout.write(USAGE)
        return 0
    if positional:
        sys.stderr.write(f'Error: unknown command "{positional[0]}" for "kube-scheduler"\n')
        return 1
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(levelname).1s%(asctime)s %(name)s] %(message)s",
                        datefmt="%m%d %H:%M:%S")
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
    if not kubeconfig:
        sys.stderr.write("Error: --kubeconfig is required (in-cluster configuration is not modelled)\n")
        return 1
    try:
        serving.serve("kube-scheduler", opts.get("bind-address"), opts.get("secure-port", 10259),
                      opts.get("tls-cert-file"), opts.get("tls-private-key-file"))
    except OSError as exc:
        addr = f"{opts.get('bind-address') or '0.0.0.0'}:{opts.get('secure-port', 10259)}"
        sys.stderr.write(f"Error: failed to create listener: failed to listen on {addr}: listen tcp {addr}: "
                         f"bind: {(exc.strerror or str(exc)).lower()}\n")
        return 1
    try:
        client = Client.from_kubeconfig(kubeconfig, user_agent="kube-scheduler/kubesim")
    except FileNotFoundError:
        sys.stderr.write(f"Error: invalid configuration: stat {kubeconfig}: no such file or directory\n")
        return 1
    except (ValueError, KeyError, OSError) as exc:
        sys.stderr.write(f"Error: invalid configuration: {exc}\n")
        return 1
    sched = Scheduler(client, names, leader_elect=leader_elect,
                      lease_duration=opts.get("leader-elect-lease-duration", 15.0))
    try:
        sched.run_forever()
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
