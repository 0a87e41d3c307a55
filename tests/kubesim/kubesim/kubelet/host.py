"""Host facts and host paths for the kubelet stand-in.

Test-only overrides (environment, never flags users would see):
  KUBESIM_HOST_ROOT      prefix for host paths the kubelet writes for pods
                         (/opt/cni/bin, /etc/cni/net.d, /run/flannel) and its default paths
  KUBESIM_PROC_MOUNTS    file read instead of /proc/self/mounts (cgroup detection)
  KUBESIM_STATIC_POD_RUNNER=process   run static pods as child processes, not systemd units
  KUBESIM_IMAGES_DIR     image content directory (default kubesim/kubelet/images)
  KUBESIM_PROC_SWAPS     file read instead of /proc/swaps (swap detection)
"""

import ipaddress
import os
import platform
import socket
import subprocess
import uuid


def host_path(path):
    root = os.environ.get("KUBESIM_HOST_ROOT", "")
    if root and path.startswith("/"):
        return os.path.join(root, path.lstrip("/"))
    return path


def lib_dir():
    """The directory holding the kubesim package (PYTHONPATH for static pods)."""
    import kubesim
    return os.path.dirname(os.path.dirname(os.path.abspath(kubesim.__file__)))


def images_dir():
    """Image content the stand-in needs on the host (kubesim/kubelet/images/<image name>/...)."""
    return os.environ.get("KUBESIM_IMAGES_DIR") or os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                                "images")


def kubelet_version():
    """The package's version (the launcher exports KUBESIM_VERSION from <lib>/VERSION)."""
    ver = os.environ.get("KUBESIM_VERSION", "").strip()
    if not ver:
        try:
            with open(os.path.join(lib_dir(), "VERSION"), encoding="utf-8") as fh:
                ver = fh.read().strip()
        except OSError:
            ver = "1.37.1"
    ver = ver.split("-")[0]  # a package version like 1.37.1-1.1
    return ver if ver.startswith("v") else "v" + ver


def version_tuple(ver):
    parts = ver.lstrip("v").split(".")
    return tuple(int("".join(ch for ch in p if ch.isdigit()) or 0) for p in parts[:3])


def cgroup_fs_type():
    """Type of the filesystem mounted on /sys/fs/cgroup (the kubelet statfs()es it)."""
    mounts = os.environ.get("KUBESIM_PROC_MOUNTS", "/proc/self/mounts")
    fstype = None
    try:
        with open(mounts, encoding="utf-8") as fh:
            for line in fh:
                parts = line.split()
                if len(parts) >= 3 and parts[1] == "/sys/fs/cgroup":
                    fstype = parts[2]  # the last mount on the path wins
    except OSError:
        return None
    return fstype


def is_cgroup2_unified():
    return cgroup_fs_type() == "cgroup2"


def swap_on():
    """pkg/kubelet/util/swap IsSwapOn: /proc/swaps has a line besides its header."""
    try:
        with open(os.environ.get("KUBESIM_PROC_SWAPS", "/proc/swaps"), encoding="utf-8") as fh:
            lines = [line for line in fh.read().splitlines() if line.strip()]
    except FileNotFoundError:
        return False  # no /proc/swaps: a kernel without swap support
    return len(lines) > 1


def interface_addresses():
    """Every address on the host's interfaces (Go's net.InterfaceAddrs), read from the kernel:
    the local (/32 host LOCAL) entries of /proc/net/fib_trie and /proc/net/if_inet6."""
    addrs = set()
    try:
        with open("/proc/net/fib_trie", encoding="utf-8") as fh:
            last = None
            for line in fh:
                parts = line.split()
                if len(parts) >= 2 and parts[0] in ("|--", "+--"):
                    last = parts[1]
                elif last and "/32 host LOCAL" in line:
                    addrs.add(ipaddress.ip_address(last))
    except (OSError, ValueError):
        pass
    try:
        with open("/proc/net/if_inet6", encoding="utf-8") as fh:
            for line in fh:
                raw = line.split()[0]
                addrs.add(ipaddress.ip_address(":".join(raw[i:i + 4] for i in range(0, 32, 4))))
    except (OSError, ValueError, IndexError):
        pass
    return sorted(addrs, key=lambda a: (a.version, int(a)))


def validate_node_ip(node_ip):
    """pkg/kubelet/kubelet_node_status.go validateNodeIP: None when valid, else the error text."""
    try:
        ip = ipaddress.ip_address(node_ip)
    except ValueError:
        return "nodeIP must be a valid IP address"
    if ip.is_loopback:
        return "nodeIP can't be loopback address"
    if ip.is_multicast:
        return "nodeIP can't be a multicast address"
    if ip.is_link_local:
        return "nodeIP can't be a link-local unicast address"
    if ip.is_unspecified:
        return "nodeIP can't be an all zeros address"
    if ip in interface_addresses():
        return None
    return 'node IP: "%s" not found in the host\'s network interfaces' % ip


def hostname():
    return socket.gethostname().lower()


def _read(path, default=""):
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read().strip()
    except OSError:
        return default


def default_route_ip(version=4):
    """Source address towards the default gateway (no packet is sent)."""
    try:
        with open("/proc/net/route", encoding="utf-8") as fh:
            rows = [l.split() for l in fh.readlines()[1:]]
    except OSError:
        rows = []
    for row in rows:
        if len(row) > 2 and row[1] == "00000000":
            gw = socket.inet_ntoa(int(row[2], 16).to_bytes(4, "little"))
            try:
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.connect((gw if gw != "0.0.0.0" else "192.0.2.1", 9))
                ip = s.getsockname()[0]
                s.close()
                return ip
            except OSError:
                continue
    return None


def node_ip(name):
    """Like the kubelet without --node-ip: the hostname's address, else the default route's."""
    try:
        for info in socket.getaddrinfo(name, None, socket.AF_INET):
            ip = info[4][0]
            if not ip.startswith("127."):
                return ip
    except OSError:
        pass
    ip = default_route_ip()
    if ip:
        return ip
    try:
        out = subprocess.run(["ip", "-o", "-4", "addr", "show", "scope", "global"],
                             capture_output=True, text=True, timeout=5).stdout
        for line in out.splitlines():
            parts = line.split()
            if "inet" in parts:
                return parts[parts.index("inet") + 1].split("/")[0]
    except (OSError, subprocess.SubprocessError):
        pass
    return "127.0.0.1"


def capacity():
    cpus = os.cpu_count() or 1
    mem_kb = 0
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    try:
        st = os.statvfs("/var/lib")
        disk_kb = st.f_blocks * st.f_frsize // 1024
    except OSError:
        disk_kb = 0
    return {"cpu": str(cpus), "memory": f"{mem_kb}Ki", "ephemeral-storage": f"{disk_kb}Ki",
            "hugepages-1Gi": "0", "hugepages-2Mi": "0", "pods": "110"}


def os_image():
    for line in _read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip('"')
    return "Linux"


def node_info(kubelet_ver, runtime_version):
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    machine_id = _read("/etc/machine-id") or uuid.uuid4().hex
    return {
        "machineID": machine_id,
        "systemUUID": _read("/sys/class/dmi/id/product_uuid") or str(uuid.UUID(machine_id[:32].ljust(32, "0"))),
        "bootID": _read("/proc/sys/kernel/random/boot_id"),
        "kernelVersion": platform.release(),
        "osImage": os_image(),
        "containerRuntimeVersion": runtime_version,
        "kubeletVersion": kubelet_ver,
        "operatingSystem": "linux",
        "architecture": arch,
    }


def arch():
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
