"""What the kubelet stand-in does for the pods bound to its node that it does not run through the CRI
(ordinary pods: runtime.py).

- CNI DaemonSet pods (flannel): the init containers' host install step is performed
  (`cp SRC DST` with SRC/DST resolved through the pod's volumes: configMap keys, hostPath
  directories, or the image's content under <lib>/images/<image>/), then flanneld's start-up
  check is applied: the node's podCIDR must be assigned and contained in net-conf.json
  `Network` (flannel's kube subnet manager), else the container crash-loops with flanneld's
  error. On success /run/flannel/subnet.env is written as flanneld writes it, and on a real node
  (flanneld.py) flannel.1 and the other nodes' routes are made for real.
- kube-proxy, coredns: reported Running (modelled: no container); while kube-proxy's pod is on a real node, the
  kubelet writes kube-proxy's iptables rules (kubeproxy.py); CoreDNS serves nothing. Pods that are not
  on the host network need the runtime's NetworkReady (else they stay ContainerCreating).
- anything else: runs through the container runtime (runtime.py).
"""

import datetime
import ipaddress
import json
import os
import shutil

from . import host

MODELLED_RUNNING = {"kube-proxy", "coredns"}
CNI_IMAGES = {"flannel"}


def now_str():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def image_name(image):
    ref = (image or "").split("@")[0]
    return ref.rsplit("/", 1)[-1].split(":")[0]


class PodContext:
    """Resolves container paths through the pod's volumes."""

    def __init__(self, pod, get_configmap):
        self.pod = pod
        self.get_configmap = get_configmap
        self.volumes = {v["name"]: v for v in (pod.get("spec") or {}).get("volumes") or []}

    def _mount_for(self, container, path):
        best = None
        for m in container.get("volumeMounts") or []:
            mp = m.get("mountPath", "").rstrip("/") or "/"
            if path == mp or path.startswith(mp.rstrip("/") + "/"):
                if best is None or len(mp) > len(best.get("mountPath", "").rstrip("/")):
                    best = m
        return best

    def read(self, container, path):
        """Bytes of a file as the container would see it; raises FileNotFoundError."""
        m = self._mount_for(container, path)
        if m is not None:
            vol = self.volumes.get(m["name"]) or {}
            rest = path[len(m["mountPath"].rstrip("/")):].lstrip("/")
            if m.get("subPath"):
                rest = os.path.join(m["subPath"], rest) if rest else m["subPath"]
            if "configMap" in vol:
                cm = self.get_configmap(self.pod["metadata"]["namespace"], vol["configMap"]["name"])
                if cm is None:
                    raise FileNotFoundError(path)
                key = rest
                for item in vol["configMap"].get("items") or []:
                    if item.get("path") == rest:
                        key = item["key"]
                data = (cm.get("data") or {}).get(key)
                if data is None:
                    raise FileNotFoundError(path)
                return data.encode()
            if "hostPath" in vol:
                with open(host.host_path(os.path.join(vol["hostPath"]["path"], rest)), "rb") as fh:
                    return fh.read()
            raise FileNotFoundError(path)
        src = os.path.join(host.images_dir(), image_name(container.get("image")), path.lstrip("/"))
        with open(src, "rb") as fh:
            return fh.read()

    def host_target(self, container, path):
        """Host path for a container path on a hostPath mount, else None."""
        m = self._mount_for(container, path)
        if m is None:
            return None
        vol = self.volumes.get(m["name"]) or {}
        if "hostPath" not in vol:
            return None
        rest = path[len(m["mountPath"].rstrip("/")):].lstrip("/")
        return host.host_path(os.path.join(vol["hostPath"]["path"], rest))


def run_init_container(ctx, container):
    """Perform an init container's host effect. Returns (exit code, message)."""
    argv = list(container.get("command") or []) + list(container.get("args") or [])
    if not argv:
        return 0, ""
    prog = os.path.basename(argv[0])
    if prog != "cp":
        return 0, ""  # nothing on the host to model
    paths = [a for a in argv[1:] if not a.startswith("-")]
    if len(paths) != 2:
        return 1, "cp: missing destination file operand"
    src, dst = paths
    try:
        data = ctx.read(container, src)
    except FileNotFoundError:
        return 1, f"cp: can't stat '{src}': No such file or directory"
    except OSError as exc:
        return 1, f"cp: can't open '{src}': {exc.strerror}"
    target = ctx.host_target(container, dst)
    if target is None:
        return 0, ""  # written inside the container only
    os.makedirs(os.path.dirname(target), exist_ok=True)
    tmp = target + ".kubesim-tmp"
    with open(tmp, "wb") as fh:
        fh.write(data)
    mode = 0o755 if data[:4] == b"\x7fELF" or data[:2] == b"#!" else 0o644
    os.chmod(tmp, mode)
    os.replace(tmp, target)
    return 0, ""


def flanneld_check(ctx, container, node, iface_mtu=1500, conf_out=None):
    """flanneld --kube-subnet-mgr start-up. Returns (ok, error message, subnet.env text); the parsed net-conf.json
    goes into conf_out (a dict) when given. The MTU is the external interface's less the backend's overhead."""
    argv = list(container.get("command") or []) + list(container.get("args") or [])
    conf_path = "/etc/kube-flannel/net-conf.json"
    for i, a in enumerate(argv):
        if a.startswith("--net-config-path="):
            conf_path = a.split("=", 1)[1]
        elif a == "--net-config-path" and i + 1 < len(argv):
            conf_path = argv[i + 1]
    node_name = node["metadata"]["name"]
    try:
        conf = json.loads(ctx.read(container, conf_path))
    except FileNotFoundError:
        return False, f"Failed to create SubnetManager: error parsing subnet config: open {conf_path}: no such file or directory", None
    except ValueError as exc:
        return False, f"Failed to create SubnetManager: error parsing subnet config: {exc}", None
    network = conf.get("Network")
    if not network:
        return False, "Failed to create SubnetManager: error parsing subnet config: please define a correct Network parameter in the flannel config", None
    try:
        net = ipaddress.ip_network(network, strict=False)
    except ValueError:
        return False, f'Failed to create SubnetManager: error parsing subnet config: invalid CIDR address: {network}', None
    cidr = (node.get("spec") or {}).get("podCIDR")
    if not cidr:
        return False, f'Error registering network: failed to acquire lease: node "{node_name}" pod cidr not assigned', None
    pod_net = ipaddress.ip_network(cidr, strict=False)
    if pod_net.version != net.version or not pod_net.subnet_of(net):
        return False, (f'Error registering network: failed to acquire lease: subnet "{network}" specified '
                       f'in the flannel net config doesn\'t contain "{cidr}" PodCIDR of the "{node_name}" node'), None
    backend = ((conf.get("Backend") or {}).get("Type") or "vxlan").lower()
    mtu = iface_mtu - (50 if backend == "vxlan" else 0)
    if conf_out is not None:
        conf_out.update(conf)
    first = ipaddress.ip_address(int(pod_net.network_address) + 1)
    env = (f"FLANNEL_NETWORK={network}\nFLANNEL_SUBNET={first}/{pod_net.prefixlen}\n"
           f"FLANNEL_MTU={mtu}\nFLANNEL_IPMASQ=true\n")
    return True, "", env


def backoff_seconds(restarts):
    return min(300, 10 * (2 ** max(0, restarts - 1)))


def write_subnet_env(ctx, container, text):
    target = ctx.host_target(container, "/run/flannel/subnet.env")
    if target is None:
        target = host.host_path("/run/flannel/subnet.env")
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target, "w", encoding="utf-8") as fh:
        fh.write(text)


def remove_tree_quiet(path):
    shutil.rmtree(path, ignore_errors=True)
