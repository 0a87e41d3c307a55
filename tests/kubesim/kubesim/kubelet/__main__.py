"""python3 -m kubesim.kubelet <kubelet flags>   (installed as /usr/bin/kubelet by the package)

Start-up order follows the real kubelet: parse flags -> load and validate --config ->
TLS bootstrap / client -> CRI (version, cgroup driver) -> register node -> sync loop.
Fatal errors are logged as klog's `"command failed" err="..."` and exit 1 (systemd restarts us).
"""

import datetime
import os
import signal
import sys
import time

import yaml

from ..controllers import flags as F
from . import agent, bootstrap, cri, host

SPEC = {
    # klog / component-base
    "v": F.INT, "vmodule": F.STR, "logging-format": F.STR, "log-flush-frequency": F.DURATION,
    "log-text-info-buffer-size": F.STR, "log-text-split-stream": F.BOOL,
    "log-json-info-buffer-size": F.STR, "log-json-split-stream": F.BOOL,
    "feature-gates": F.MAP, "help": F.BOOL, "version": F.OPTSTR,
    # from kubeadm's drop-in and kubeadm-flags.env
    "bootstrap-kubeconfig": F.STR, "kubeconfig": F.STR, "config": F.STR, "config-dir": F.STR,
    "container-runtime-endpoint": F.STR, "image-service-endpoint": F.STR,
    "node-ip": F.STR, "hostname-override": F.STR, "node-labels": F.MAP,
    "register-with-taints": F.LIST, "register-node": F.BOOL, "register-schedulable": F.BOOL,
    "cloud-provider": F.STR, "cloud-config": F.STR, "provider-id": F.STR,
    # paths and misc (still real kubelet flags in 1.36/1.37, mostly deprecated in favour of --config)
    "root-dir": F.STR, "cert-dir": F.STR, "lock-file": F.STR, "exit-on-lock-contention": F.BOOL,
    "seccomp-default": F.BOOL, "runtime-cgroups": F.STR, "kubelet-cgroups": F.STR,
    "address": F.STR, "port": F.INT, "read-only-port": F.INT, "healthz-port": F.INT,
    "healthz-bind-address": F.STR, "anonymous-auth": F.BOOL, "authentication-token-webhook": F.BOOL,
    "authorization-mode": F.STR, "client-ca-file": F.STR, "tls-cert-file": F.STR,
    "tls-private-key-file": F.STR, "tls-cipher-suites": F.LIST, "tls-min-version": F.STR,
    "rotate-certificates": F.BOOL, "rotate-server-certificates": F.BOOL,
    "cgroup-driver": F.STR, "cgroup-root": F.STR, "cgroups-per-qos": F.BOOL,
    "cluster-dns": F.LIST, "cluster-domain": F.STR, "resolv-conf": F.STR,
    "fail-swap-on": F.BOOL, "fail-cgroupv1": F.BOOL, "max-pods": F.INT, "pod-cidr": F.STR,
    "pod-manifest-path": F.STR, "file-check-frequency": F.DURATION, "sync-frequency": F.DURATION,
    "node-status-update-frequency": F.DURATION, "runtime-request-timeout": F.DURATION,
    "eviction-hard": F.MAP, "eviction-soft": F.MAP, "kube-reserved": F.MAP, "system-reserved": F.MAP,
    "enforce-node-allocatable": F.LIST, "container-log-max-size": F.STR,
    "container-log-max-files": F.INT, "serialize-image-pulls": F.BOOL, "volume-plugin-dir": F.STR,
    "image-gc-high-threshold": F.INT, "image-gc-low-threshold": F.INT, "max-open-files": F.INT,
    "kube-api-qps": F.INT, "kube-api-burst": F.INT, "kube-api-content-type": F.STR,
    "node-status-max-images": F.INT, "protect-kernel-defaults": F.BOOL,
    "minimum-container-ttl-duration": F.DURATION, "maximum-dead-containers": F.INT,
    "maximum-dead-containers-per-container": F.INT,
    "local-storage-capacity-isolation": F.BOOL,
    "allowed-unsafe-sysctls": F.LIST, "topology-manager-policy": F.STR, "cpu-manager-policy": F.STR,
    "memory-manager-policy": F.STR, "reserved-cpus": F.STR, "system-reserved-cgroup": F.STR,
    "kube-reserved-cgroup": F.STR, "hairpin-mode": F.STR, "oom-score-adj": F.INT,
    "make-iptables-util-chains": F.BOOL,
}
# Removed flags the real kubelet 1.35+ no longer knows (so it refuses them):
#   --pod-infra-container-image (removed in 1.35, kubernetes/kubernetes#133779),
#   --container-runtime, --network-plugin, --cni-bin-dir, --cni-conf-dir (dockershim, 1.24),
#   --experimental-*, --cloud-provider=aws|gce legacy values are not checked.

KUBELET_CONFIG_KIND = ("kubelet.config.k8s.io/v1beta1", "KubeletConfiguration")

_start = None


def klog(level, where, msg):
    now = datetime.datetime.now()
    sys.stderr.write(f"{level}{now.strftime('%m%d %H:%M:%S.%f')} {os.getpid():7d} {where}] {msg}\n")
    sys.stderr.flush()


def fail(err):
    klog("E", "run.go:72", '"command failed" err="' + str(err).replace('"', '\\"') + '"')
    return 1


def info(msg):
    klog("I", "kubelet.go:0", msg)


def load_config(path):
    try:
        with open(path, encoding="utf-8") as fh:
            raw = fh.read()
    except FileNotFoundError:
        raise ValueError(f"failed to load kubelet config file, path: {path}, error: failed to load "
                         f"Kubelet config file {path}, error failed to read kubelet config file "
                         f"\"{path}\", error: open {path}: no such file or directory") from None
    except OSError as exc:
        raise ValueError(f"failed to load kubelet config file, path: {path}, error: {exc}") from None
    try:
        cfg = yaml.safe_load(raw) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"failed to load kubelet config file, path: {path}, error: failed to decode: {exc}") from None
    if not isinstance(cfg, dict) or (cfg.get("apiVersion"), cfg.get("kind")) != KUBELET_CONFIG_KIND:
        raise ValueError(f"failed to load kubelet config file, path: {path}, error: failed to decode, "
                         f"error: no kind \"{cfg.get('kind') if isinstance(cfg, dict) else ''}\" is registered "
                         f"for version \"{cfg.get('apiVersion') if isinstance(cfg, dict) else ''}\" in scheme")
    return cfg


ALLOWED_NODE_LABELS = {
    "beta.kubernetes.io/arch", "beta.kubernetes.io/instance-type", "beta.kubernetes.io/os",
    "failure-domain.beta.kubernetes.io/region", "failure-domain.beta.kubernetes.io/zone",
    "kubernetes.io/arch", "kubernetes.io/hostname", "kubernetes.io/os", "node.kubernetes.io/instance-type",
    "topology.kubernetes.io/region", "topology.kubernetes.io/zone",
}


def node_label_allowed(key):
    """The kubelet's --node-labels restriction on the kubernetes.io / k8s.io namespaces."""
    prefix = key.split("/", 1)[0] if "/" in key else ""
    namespaced = prefix == "kubernetes.io" or prefix.endswith(".kubernetes.io") or \
        prefix == "k8s.io" or prefix.endswith(".k8s.io")
    if not namespaced or key in ALLOWED_NODE_LABELS:
        return True
    return prefix in ("kubelet.kubernetes.io", "node.kubernetes.io") or \
        prefix.endswith((".kubelet.kubernetes.io", ".node.kubernetes.io"))


def swap_refusal(config):
    """pkg/kubelet/cm/container_manager_linux.go NewContainerManager: failSwapOn defaults to true."""
    fail_swap_on = config.get("failSwapOn")
    if fail_swap_on is None:
        fail_swap_on = True
    if fail_swap_on and host.swap_on():
        return "running with swap on is not supported, please disable swap or set --fail-swap-on flag to false"
    return None


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    try:
        opts, positional = F.parse_flags(argv, SPEC)
    except F.FlagError as exc:
        return fail(f"failed to parse kubelet flag: {exc}")
    if opts.get("help"):
        sys.stdout.write("The kubelet is the primary \"node agent\" that runs on each node.\n\nUsage:\n  kubelet [flags]\n")
        return 0
    if "version" in opts:
        sys.stdout.write(f"Kubernetes {host.kubelet_version()}\n")
        return 0
    if positional:
        return fail(f"unknown command {positional[0]!r}")
    version = host.kubelet_version()
    labels = opts.get("node-labels") or {}
    bad = sorted(k for k in labels if not node_label_allowed(k))
    if bad:
        return fail("failed to validate kubelet flags: unknown 'kubernetes.io' or 'k8s.io' labels specified "
                    f"with --node-labels: [{' '.join(bad)}]\n--node-labels in the 'kubernetes.io' namespace "
                    "must begin with an allowed prefix (kubelet.kubernetes.io, node.kubernetes.io) or be in "
                    "the specifically allowed set (beta.kubernetes.io/arch, beta.kubernetes.io/instance-type, "
                    "beta.kubernetes.io/os, failure-domain.beta.kubernetes.io/region, "
                    "failure-domain.beta.kubernetes.io/zone, kubernetes.io/arch, kubernetes.io/hostname, "
                    "kubernetes.io/os, node.kubernetes.io/instance-type, topology.kubernetes.io/region, "
                    "topology.kubernetes.io/zone)")

    # ---- config file (kubeadm writes it during init/join; before that we crash-loop)
    config = {}
    if opts.get("config"):
        try:
            config = load_config(opts["config"])
        except ValueError as exc:
            return fail(str(exc))
    flag_map = {"pod-manifest-path": "staticPodPath", "fail-cgroupv1": "failCgroupV1",
                "cgroup-driver": "cgroupDriver", "healthz-port": "healthzPort",
                "healthz-bind-address": "healthzBindAddress", "port": "port",
                "node-status-update-frequency": "nodeStatusUpdateFrequency", "fail-swap-on": "failSwapOn"}
    for flag, field in flag_map.items():
        if flag in opts:
            config[field] = opts[flag]

    # ---- validation: cgroup v1 (KEP-5573: failCgroupV1 defaults to true from 1.35)
    fail_v1 = config.get("failCgroupV1")
    if fail_v1 is None:
        fail_v1 = host.version_tuple(version) >= (1, 35)
    cgroup_v2 = host.is_cgroup2_unified()
    if fail_v1 and not cgroup_v2:
        return fail("failed to validate kubelet configuration, error: kubelet is configured to not run "
                    "on a host using cgroup v1. cgroup v1 support is unsupported and will be removed "
                    "in a future release, path: &TypeMeta{Kind:,APIVersion:,}")
    if not cgroup_v2:
        klog("W", "server.go:650", '"cgroup v1 detected. cgroup v1 support is unsupported and will be '
             'removed in a future release. Please migrate to cgroup v2. More information at '
             'https://git.k8s.io/enhancements/keps/sig-node/5573-cgroup-v1-unsupported"')

    node_name = (opts.get("hostname-override") or host.hostname()).lower()
    root_dir = opts.get("root-dir") or "/var/lib/kubelet"
    cert_dir = opts.get("cert-dir") or os.path.join(root_dir, "pki")
    kubeconfig = opts.get("kubeconfig")
    endpoint = opts.get("container-runtime-endpoint") or config.get("containerRuntimeEndpoint") \
        or "unix:///run/containerd/containerd.sock"

    # ---- client: existing kubeconfig, or TLS bootstrap
    if kubeconfig and not bootstrap.kubeconfig_client_cert_valid(kubeconfig) and opts.get("bootstrap-kubeconfig"):
        try:
            bootstrap.bootstrap(opts["bootstrap-kubeconfig"], kubeconfig, cert_dir, node_name, info)
        except bootstrap.BootstrapError as exc:
            return fail(f"failed to run Kubelet: {exc}")
        except Exception as exc:  # API unreachable etc.: exit and let systemd restart us
            return fail(f"failed to run Kubelet: unable to load bootstrap kubeconfig: {exc}")
    if not kubeconfig or not os.path.exists(kubeconfig):
        return fail("failed to run Kubelet: no kubeconfig: standalone mode is not modelled by the stand-in")

    # ---- container runtime (the REAL containerd over its CRI socket)
    try:
        rv = cri.version(endpoint, timeout=10)
    except cri.CRIError as exc:
        return fail(f"failed to run Kubelet: validate service connection: validate CRI v1 runtime API "
                    f"for endpoint \"{endpoint}\": rpc error: code = Unavailable desc = {exc}")
    runtime_version = f"{rv['runtime_name']}://{rv['runtime_version']}"
    try:
        driver = cri.cgroup_driver(endpoint, timeout=10)
    except cri.CRIError as exc:
        driver = None
        if host.version_tuple(version) >= (1, 36):
            return fail(f"failed to run Kubelet: failed to get cgroup driver from the container runtime "
                        f"({runtime_version}): the runtime does not implement the CRI RuntimeConfig call "
                        f"({exc}); kubelet {version} requires a CRI implementation that reports its "
                        f"cgroup driver (containerd 2.0 or later)")
        klog("W", "kubelet.go:0", '"CRI implementation should be updated to support RuntimeConfig. '
             'Falling back to using cgroupDriver from kubelet config."')
    info(f'"Container runtime initialized" containerRuntime="{rv["runtime_name"]}" '
         f'version="{rv["runtime_version"]}" apiVersion="{rv["runtime_api_version"]}" cgroupDriver="{driver}"')

    # ---- container manager (after the CRI's cgroup driver, as in cmd/kubelet/app/server.go run())
    err = swap_refusal(config)
    if err:
        return fail(f"failed to run Kubelet: {err}")

    # ---- serve /healthz (kubeadm waits on http://127.0.0.1:10248/healthz)
    try:
        agent.start_healthz(config.get("healthzBindAddress") or "127.0.0.1",
                            int(config.get("healthzPort", 10248) or 0))
    except OSError as exc:
        return fail(f"failed to run Kubelet: failed to listen on healthz port: {exc}")

    taints = []
    for t in opts.get("register-with-taints") or []:
        kv, _, effect = t.partition(":")
        key, _, value = kv.partition("=")
        taint = {"key": key, "effect": effect}
        if value:
            taint["value"] = value
        taints.append(taint)
    taints += config.get("registerWithTaints") or []
    explicit_ip = (opts.get("node-ip") or "").split(",")[0]
    if explicit_ip in ("0.0.0.0", "::"):
        explicit_ip = ""  # kubelet: the unspecified address means "detect"
    node_ip = explicit_ip or host.node_ip(node_name)
    kubelet = agent.Kubelet(
        client=agent.make_client(kubeconfig), node_name=node_name, node_ip=node_ip, config=config,
        runtime_endpoint=endpoint, runtime_version=runtime_version, root_dir=root_dir, log=info,
        version=version, node_labels=labels, register_taints=taints, kubeconfig=kubeconfig,
        cert_dir=cert_dir, node_ip_explicit=bool(explicit_ip), cgroup_driver=driver,
        log_error=lambda msg: klog("E", "kubelet_node_status.go:0", msg))
    info(f'"Starting kubelet main sync loop" node="{node_name}" version="{version}" nodeIP="{node_ip}"')

    def stop(*_):
        kubelet.runner.shutdown_children()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    while True:
        start = time.monotonic()
        try:
            kubelet.step()
        except Exception as exc:  # keep the node agent alive, as the real kubelet does
            klog("E", "kubelet.go:0", f'"Sync loop error" err="{exc!r}"')
        time.sleep(max(0.2, 2.0 - (time.monotonic() - start)))


if __name__ == "__main__":
    sys.exit(main())
