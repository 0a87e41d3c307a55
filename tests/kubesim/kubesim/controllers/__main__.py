"""python3 -m kubesim.controllers <kube-controller-manager flags>"""

import json
import sys
import time

from . import certificates, component
from . import flags as F
from .manager import ControllerManager, enabled_controllers, unknown_controllers

SPEC = component.flag_spec({
    "allocate-node-cidrs": F.BOOL, "cluster-cidr": F.STR, "cluster-name": F.STR,
    "node-cidr-mask-size": F.INT, "node-cidr-mask-size-ipv4": F.INT, "node-cidr-mask-size-ipv6": F.INT,
    "service-cluster-ip-range": F.STR, "controllers": F.LIST, "root-ca-file": F.STR,
    "service-account-private-key-file": F.STR, "use-service-account-credentials": F.BOOL,
    "cluster-signing-cert-file": F.STR, "cluster-signing-key-file": F.STR,
    "cluster-signing-duration": F.DURATION,
    "cluster-signing-kubelet-serving-cert-file": F.STR, "cluster-signing-kubelet-serving-key-file": F.STR,
    "cluster-signing-kubelet-client-cert-file": F.STR, "cluster-signing-kubelet-client-key-file": F.STR,
    "cluster-signing-kube-apiserver-client-cert-file": F.STR,
    "cluster-signing-kube-apiserver-client-key-file": F.STR,
    "cluster-signing-legacy-unknown-cert-file": F.STR, "cluster-signing-legacy-unknown-key-file": F.STR,
    "node-monitor-grace-period": F.DURATION, "node-monitor-period": F.DURATION,
    "node-startup-grace-period": F.DURATION, "node-eviction-rate": F.FLOAT,
    "secondary-node-eviction-rate": F.FLOAT, "unhealthy-zone-threshold": F.FLOAT,
    "large-cluster-size-threshold": F.INT, "terminated-pod-gc-threshold": F.INT,
    "configure-cloud-routes": F.BOOL, "cloud-provider": F.STR,
    "cloud-config": F.STR, "external-cloud-volume-plugin": F.STR,
    "concurrent-deployment-syncs": F.INT, "concurrent-replicaset-syncs": F.INT,
    "concurrent-daemonset-syncs": F.INT, "concurrent-gc-syncs": F.INT,
    "concurrent-namespace-syncs": F.INT, "concurrent-service-syncs": F.INT,
    "concurrent-serviceaccount-token-syncs": F.INT, "concurrent-endpoint-syncs": F.INT,
    "enable-garbage-collector": F.BOOL, "horizontal-pod-autoscaler-sync-period": F.DURATION,
    "min-resync-period": F.DURATION, "controller-start-interval": F.DURATION,
    "disable-attach-detach-reconcile-sync": F.BOOL, "flex-volume-plugin-dir": F.STR,
    "pv-recycler-pod-template-filepath-hostpath": F.STR, "enable-hostpath-provisioner": F.BOOL,
    "show-hidden-metrics-for-version": F.STR, "allow-metric-labels": F.LIST,
    "disabled-metrics": F.LIST, "emulated-version": F.LIST,
})

NAME = "kube-controller-manager"


def check_controllers(opts):
    """KubeControllerManagerOptions.Validate's --controllers check (canonical names and aliases);
    every error is reported, as utilerrors.NewAggregate prints them."""
    bad = unknown_controllers(opts.get("controllers"))
    if not bad:
        return None
    errs = [f'"{name}" is not in the list of known controllers' for name in bad]
    text = errs[0] if len(errs) == 1 else "[" + ", ".join(errs) + "]"
    # component-base cli.Run after the logs are initialised: klog.ErrorS(err, "command failed")
    sys.stderr.write(f'E{time.strftime("%m%d %H:%M:%S")}.000000       1 run.go:72] "command failed" '
                     f'err={json.dumps(text)}\n')
    return 1


def main(argv=None):
    opts = component.start(NAME, argv, SPEC, check=check_controllers)
    if isinstance(opts, int):
        return opts
    client = component.connect(NAME, opts, opts.get("kubeconfig"), 10257)
    if isinstance(client, int):
        return client
    cidrs = [c for c in (opts.get("cluster-cidr") or "").split(",") if c]
    mask_v4 = opts.get("node-cidr-mask-size-ipv4") or opts.get("node-cidr-mask-size")
    mask_v6 = opts.get("node-cidr-mask-size-ipv6") or (
        opts.get("node-cidr-mask-size") if cidrs and all(":" in c for c in cidrs) else None)
    if opts.get("allocate-node-cidrs") and not cidrs:
        sys.stderr.write('E "Controller: Invalid --cluster-cidr, mask size of cluster CIDR must be less '
                         'than or equal to --node-cidr-mask-size configured for CIDR family"\n')
        return 1
    try:
        manager = _manager(client, opts, cidrs, mask_v4, mask_v6)
    except certificates.SignerError as exc:  # the controller fails to start: the process exits
        sys.stderr.write(f'E{time.strftime("%m%d %H:%M:%S")}.000000       1 controllermanager.go:800] '
                         f'"Error starting controller" err={json.dumps(str(exc))} '
                         f'controller="certificatesigningrequest-signing-controller"\n')
        return 1
    period = min(1.0, opts.get("leader-elect-retry-period", 2.0))
    return component.run(lambda: manager.run_forever(period=period))


def _manager(client, opts, cidrs, mask_v4, mask_v6):
    controllers = opts.get("controllers")
    signing_files = certificates.signer_files(opts) if "csrsigning" in enabled_controllers(controllers) else None
    return ControllerManager(
        client, cluster_cidrs=cidrs, allocate_node_cidrs=bool(opts.get("allocate-node-cidrs")),
        mask_v4=mask_v4, mask_v6=mask_v6,
        node_monitor_grace_period=opts.get("node-monitor-grace-period", 50.0),
        controllers=controllers, root_ca_file=opts.get("root-ca-file"),
        leader_elect=opts.get("leader-elect", True),
        lease_duration=opts.get("leader-elect-lease-duration", 15.0),
        signing_files=signing_files,
        signing_duration=opts.get("cluster-signing-duration") or certificates.DEFAULT_DURATION)


if __name__ == "__main__":
    sys.exit(main())
