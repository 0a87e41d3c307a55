"""Preflight checks on the real host (cmd/kubeadm/app/preflight/checks.go).

Each check returns (warnings, errors) as lists of messages; the runner prints warnings (and
ignored errors) as ``\\t[WARNING <name>]: <msg>`` on stderr and raises PreflightError with the
fatal ones, which kubesim.output renders in kubeadm's format.
"""

import errno
import os
import shutil
import socket
import subprocess
import sys

from . import constants as C
from .errors import PreflightError

try:
    from kubesim.kubelet import cri
except ImportError:  # pragma: no cover - the kubelet's CRI client lives in the same package
    cri = None

CGROUP_V1_MSG = ("cgroups v1 support is deprecated and will be removed in a future release. Please migrate to cgroups "
                 "v2. To explicitly enable cgroups v1 support for kubelet v1.35 or newer, you must set the kubelet "
                 "configuration option 'FailCgroupV1' to 'false'. You must also explicitly skip this validation. For "
                 "more information, see https://git.k8s.io/enhancements/keps/sig-node/5573-remove-cgroup-v1")
SWAP_MSG = ("swap is supported for cgroup v2 only. The kubelet must be properly configured to use swap. Please refer "
            "to https://kubernetes.io/docs/concepts/architecture/nodes/#swap-memory, or disable swap on the node")
RUNTIME_CONFIG_MSG = ("You must update your container runtime to a version that supports the CRI method RuntimeConfig. "
                      "For more information, see "
                      "https://git.k8s.io/enhancements/keps/sig-node/4033-group-driver-detection-over-cri")
ROOT = os.environ.get("KUBESIM_ROOT", "")  # tests only: prefix for the host paths the checks read


def _p(path):
    return ROOT + path if ROOT else path


def path_name(kind, path):
    return kind + "-" + path.replace("/", "-")


class Check:
    def __init__(self, name, fn):
        self.name, self.fn = name, fn

    def run(self):
        return self.fn()


def file_available(path):
    def fn():
        return [], (["%s already exists" % path] if os.path.exists(_p(path)) else [])
    return Check(path_name("FileAvailable", path), fn)


def dir_available(path):
    def fn():
        p = _p(path)
        if os.path.isdir(p) and os.listdir(p):
            return [], ["%s is not empty" % path]
        return [], []
    return Check(path_name("DirAvailable", path), fn)


def file_content(path, content):
    def fn():
        try:
            with open(_p(path)) as f:
                data = f.read()
        except OSError:
            return [], ["%s does not exist" % path]
        if data.strip() != content:
            return [], ["%s contents are not set to %s" % (path, content)]
        return [], []
    return Check(path_name("FileContent", path), fn)


def port_open(port):
    def fn():
        for fam, addr in ((socket.AF_INET6, "::"), (socket.AF_INET, "0.0.0.0")):
            try:
                s = socket.socket(fam, socket.SOCK_STREAM)
            except OSError:
                continue
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Go's net.Listen
                if fam == socket.AF_INET6:
                    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
                s.bind((addr, port))
                return [], []
            except OSError as e:
                if e.errno == errno.EADDRINUSE:
                    return [], ["Port %d is in use" % port]
                if fam == socket.AF_INET6:
                    continue
                return [], ["Port %d is in use" % port]
            finally:
                s.close()
        return [], []
    return Check("Port-%d" % port, fn)


# checks_linux.go addExecChecks (conntrack only below 1.32, so never for the versions modelled):
# (executable, mandatory) -- a missing mandatory one is an error, the others are warnings.
EXEC_CHECKS = (("ip", True), ("iptables", True), ("mount", True), ("nsenter", True), ("ebtables", False),
               ("ethtool", False), ("socat", False), ("tc", False), ("touch", False))


def in_path(executable, mandatory):
    """InPathCheck: exec.LookPath in kubeadm's own PATH."""
    def fn():
        if shutil.which(executable) is not None:
            return [], []
        msg = "%s not found in system path" % executable
        return ([], [msg]) if mandatory else ([msg], [])
    return Check(path_name("FileExisting", executable), fn)


def num_cpu(n):
    def fn():
        have = len(os.sched_getaffinity(0))
        if have < n:
            return [], ["the number of available CPUs %d is less than the required %d" % (have, n)]
        return [], []
    return Check("NumCPU", fn)


def mem(mb):
    def fn():
        try:
            with open(_p("/proc/meminfo")) as f:
                for line in f:
                    if line.startswith("MemTotal:"):
                        have = int(line.split()[1]) // 1024
                        if have < mb:
                            return [], ["the system RAM (%d MB) is less than the minimum %d MB" % (have, mb)]
        except OSError:
            pass
        return [], []
    return Check("Mem", fn)


def cri_check(endpoint):
    def fn():
        if cri is None:
            return [], ["container runtime is not running: no CRI client available"]
        try:
            st = cri.status(endpoint, timeout=5)
        except Exception as e:  # noqa: BLE001 - every failure is "not running"
            return [], ["could not connect to the container runtime: %s" % _cri_error(endpoint, e)]
        ready = st.get("RuntimeReady")
        if ready is not None and not ready[0]:
            return [], ["container runtime is not running: runtime is not ready: RuntimeReady=false reason:%s "
                        "message:%s" % (ready[1], ready[2])]
        return [], []
    return Check("CRI", fn)


def _cri_error(endpoint, e):
    path = cri.socket_path(endpoint) if cri else endpoint
    text = str(e)
    if not os.path.exists(path) or isinstance(e, OSError) or "refused" in text or "No such file" in text:
        reason = "no such file or directory" if not os.path.exists(path) else "connection refused"
        return ('validate service connection: validate CRI v1 runtime API for endpoint "%s": rpc error: code = '
                'Unavailable desc = connection error: desc = "transport: Error while dialing: dial unix %s: '
                'connect: %s"' % (endpoint, path, reason))
    return ('validate service connection: validate CRI v1 runtime API for endpoint "%s": rpc error: code = '
            'Unimplemented desc = unknown service runtime.v1.RuntimeService' % endpoint)


def runtime_version(endpoint, version):
    """1.36+: the runtime must report its cgroup driver (CRI RuntimeConfig; containerd >= 2.0)."""
    def fn():
        if cri is None:
            return [], []
        try:
            cri.status(endpoint, timeout=5)
        except Exception:  # noqa: BLE001 - reported by the CRI check
            return [], []
        try:
            cri.cgroup_driver(endpoint, timeout=5)
        except Exception:  # noqa: BLE001
            if C.minor_of(version) >= (1, 36):
                return [], [RUNTIME_CONFIG_MSG]
            return [RUNTIME_CONFIG_MSG], []
        return [], []
    return Check("ContainerRuntimeVersion", fn)


def swap():
    def fn():
        try:
            with open(_p("/proc/swaps")) as f:
                lines = [line for line in f.read().splitlines()[1:] if line.strip()]
        except OSError:
            return [], []
        return ([SWAP_MSG] if lines else []), []
    return Check("Swap", fn)


def cgroups_v2():
    return os.path.exists(_p("/sys/fs/cgroup/cgroup.controllers"))


def system_verification():
    def fn():
        if not cgroups_v2():
            return [], [CGROUP_V1_MSG]
        return [], []
    return Check("SystemVerification", fn)


def kubelet_service():
    def fn():
        try:
            out = subprocess.run(["systemctl", "is-enabled", "kubelet.service"], capture_output=True, text=True,
                                 timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            out = ""
        if out != "enabled":
            return ["kubelet service is not enabled, please run 'systemctl enable kubelet.service'"], []
        return [], []
    return Check("Service-Kubelet", fn)


def hostname(name):
    def fn():
        try:
            socket.getaddrinfo(name, None)
        except OSError:
            return ['hostname "%s" could not be reached' % name], []
        return [], []
    return Check("Hostname", fn)


def common_checks(node_reg, version):
    endpoint = node_reg.get("criSocket", C.DEFAULT_CRI_SOCKET)
    return [cri_check(endpoint), runtime_version(endpoint, version), swap()] + \
        [in_path(exe, mandatory) for exe, mandatory in EXEC_CHECKS] + \
        [system_verification(), hostname(node_reg.get("name") or socket.gethostname().lower()), kubelet_service(),
         port_open(C.KUBELET_PORT)]


def init_checks(init, cluster, version, secondary=False):
    bind_port = int((init.get("localAPIEndpoint") or {}).get("bindPort", C.API_SERVER_PORT))
    # InitNodeChecks: NumCPU and Mem also run for a joining control plane (isSecondaryControlPlane)
    checks = [num_cpu(C.CONTROL_PLANE_NUM_CPU), mem(C.CONTROL_PLANE_MEM)]
    checks += [port_open(bind_port), port_open(C.SCHEDULER_PORT), port_open(C.CONTROLLER_MANAGER_PORT)]
    for comp in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd"):
        checks.append(file_available("%s/%s.yaml" % (C.MANIFESTS_DIR, comp)))
    if not secondary:
        checks.append(file_content("/proc/sys/net/ipv4/ip_forward", "1"))
    etcd = cluster.get("etcd") or {}
    if "external" not in etcd:
        checks += [port_open(C.ETCD_CLIENT_PORT), port_open(C.ETCD_PEER_PORT),
                   dir_available((etcd.get("local") or {}).get("dataDir", "/var/lib/etcd"))]
    if not secondary:
        checks += common_checks(init.get("nodeRegistration", {}), version)
    return checks


def join_checks(join, version):
    checks = [file_available(C.KUBERNETES_DIR + "/" + C.KUBELET_CONF),
              file_available(C.KUBERNETES_DIR + "/" + C.BOOTSTRAP_KUBELET_CONF)]
    checks += common_checks(join.get("nodeRegistration", {}), version)
    if join.get("controlPlane") is None:
        checks.append(file_available(join.get("caCertPath", C.PKI_DIR + "/ca.crt")))
    checks.append(file_content("/proc/sys/net/ipv4/ip_forward", "1"))
    return checks


def run(checks, ignore, out=sys.stderr):
    """Run checks; print warnings; raise PreflightError with the fatal ones."""
    ignore = {i.lower() for i in ignore or []}
    fatal = []
    for c in checks:
        warns, errs = c.run()
        for w in warns:
            out.write("\t[WARNING %s]: %s\n" % (c.name, w))
        for e in errs:
            if "all" in ignore or c.name.lower() in ignore:
                out.write("\t[WARNING %s]: %s\n" % (c.name, e))
            else:
                fatal.append((c.name, e))
    out.flush()
    if fatal:
        raise PreflightError(fatal)


def validate_ignore_list(items):
    """kubeadm: "all" cannot be mixed with specific names."""
    low = [i.lower() for i in items]
    if "all" in low and len(set(low)) > 1:
        return "don't specify individual checks if 'all' is used"
    return None
