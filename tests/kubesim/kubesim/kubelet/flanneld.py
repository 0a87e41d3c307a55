"""flanneld's vxlan backend with the kube subnet manager, on the real host network (issue 14).

What flanneld (flannel-io/flannel: main.go, pkg/ip, pkg/backend/vxlan, pkg/subnet/kube) does and this does too:
- the external interface: `--iface` (a name or an address) or the interface of the default route, and its first
  IPv4 address (the node's public IP); no default route / no such interface -> flanneld's errors;
- `flannel.1`: vxlan VNI 1 (`Backend.VNI`), dstport 8472 (`Backend.Port`), local = the public IP, dev = the
  interface, nolearning, MTU = the interface's MTU - 50; an existing device with other settings is deleted and
  created again; the address `<lease subnet>.0/32` on it, link up;
- the node annotations of the kube subnet manager: `flannel.alpha.coreos.com/backend-type: vxlan`,
  `backend-data: {"VNI":1,"VtepMAC":"<mac>"}`, `public-ip`, `kube-subnet-manager: "true"` (written when they differ);
- for every other node with those annotations and a podCIDR (the subnet events): `ip route replace <podCIDR> via
  <podCIDR .0> dev flannel.1 onlink`, `ip neigh replace <podCIDR .0> lladdr <VtepMAC> dev flannel.1 nud permanent`,
  `bridge fdb replace <VtepMAC> dev flannel.1 dst <public-ip> self permanent`; removed when the node goes or its
  lease changes.
On pod teardown the device goes (and with it its routes, neighbours and fdb entries): flanneld itself leaves the
device behind, the stand-in cleans up so that a lab host looks as before.
Not covered: flanneld's iptables rules (FLANNEL-POSTRTG masquerade, FLANNEL-FWD), other backends, IPv6,
`--iface-regex`, `--public-ip`, directRouting.
Skipped when KUBESIM_HOST_ROOT redirects the host paths (a stand-in test on the machine itself, not a node).
"""

import ipaddress
import json
import os
import subprocess

ANN = "flannel.alpha.coreos.com/"
DEVICE = "flannel.1"


def enabled():
    return not os.environ.get("KUBESIM_HOST_ROOT")


def _ip(*args, check=True):
    r = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if check and r.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {r.stderr.strip()}")
    return r


def _ipj(*args):
    out = _ip("-j", *args).stdout.strip()
    return json.loads(out) if out else []


def _bridge(*args):
    return subprocess.run(["bridge", *args], capture_output=True, text=True, check=False)


def flag_value(argv, name):
    for i, a in enumerate(argv):
        if a.startswith(f"--{name}=") or a.startswith(f"-{name}="):
            return a.split("=", 1)[1]
        if a in (f"--{name}", f"-{name}") and i + 1 < len(argv):
            return argv[i + 1]
    return None


def external_interface(argv):
    """(name, IPv4 address, MTU) as flanneld's LookupExtIface picks them; raises RuntimeError with its message."""
    links = {link["ifname"]: link for link in _ipj("link", "show")}
    addrs = {a["ifname"]: [i["local"] for i in a.get("addr_info") or [] if i.get("family") == "inet"]
             for a in _ipj("-4", "addr", "show")}
    iface = flag_value(argv, "iface")
    if iface:
        name = None
        try:
            ipaddress.ip_address(iface)
            name = next((n for n, ips in addrs.items() if iface in ips), None)
        except ValueError:
            name = iface if iface in links else None
        if name is None:
            raise RuntimeError(f"Failed to find interface to use that matches the interfaces and/or regexes "
                               f"provided: error looking up interface {iface}: route ip+net: no such network "
                               "interface")
    else:
        routes = [r for r in _ipj("-4", "route", "show", "default") if r.get("dev")]
        if not routes:
            raise RuntimeError("Failed to find any valid interface to use: failed to get default interface: "
                               "Unable to find default route")
        name = routes[0]["dev"]
    ips = addrs.get(name) or []
    if not ips:
        raise RuntimeError(f"Failed to find interface to use that matches the interfaces and/or regexes provided: "
                           f"failed to find IPv4 address for interface {name}")
    return name, ips[0], int(links[name].get("mtu") or 1500)


class Flanneld:
    def __init__(self, client, node_name, log):
        self.client = client
        self.node_name = node_name
        self.log = log
        self.active = False
        self.peers = {}     # node name -> (podCIDR, gateway, VtepMAC, public IP) installed
        self.vni = 1
        self.port = 8472

    # ------------------------------------------------------------------ start-up
    def interface(self, argv):
        """(ok, error, iface MTU) before the subnet config is read, as flanneld's main does."""
        try:
            self.iface, self.public_ip, mtu = external_interface(argv)
        except RuntimeError as exc:
            return False, str(exc), None
        return True, "", mtu

    def start(self, conf, node, mtu):
        """RegisterNetwork + lease annotations. Returns (ok, error)."""
        backend = conf.get("Backend") or {}
        self.vni = int(backend.get("VNI") or 1)
        self.port = int(backend.get("Port") or 8472)
        lease = ipaddress.ip_network(node["spec"]["podCIDR"], strict=False)
        try:
            mac = self._ensure_device(mtu - 50, lease)
        except RuntimeError as exc:
            return False, f"failed to register network: {exc}"
        self.peers = {}
        self.active = True
        self.log(f'"flanneld: VXLAN device ready" device="{DEVICE}" vni={self.vni} local="{self.public_ip}" '
                 f'iface="{self.iface}" mtu={mtu - 50} lease="{lease}"')
        want = {ANN + "backend-type": "vxlan",
                ANN + "backend-data": json.dumps({"VNI": self.vni, "VtepMAC": mac}, separators=(",", ":")),
                ANN + "kube-subnet-manager": "true",
                ANN + "public-ip": self.public_ip}
        have = (node["metadata"].get("annotations") or {})
        if any(have.get(k) != v for k, v in want.items()):
            try:
                self.client.patch(f"/api/v1/nodes/{self.node_name}", {"metadata": {"annotations": want}})
            except Exception as exc:  # noqa: BLE001 - flanneld logs it and fails the lease
                return False, f"failed to acquire lease: {exc}"
        return True, ""

    def _ensure_device(self, mtu, lease):
        links = [link for link in _ipj("-d", "link", "show") if link.get("ifname") == DEVICE]
        if links:
            info = (links[0].get("linkinfo") or {}).get("info_data") or {}
            if (links[0].get("linkinfo") or {}).get("info_kind") != "vxlan" or info.get("id") != self.vni \
                    or info.get("local") != self.public_ip or info.get("port") != self.port \
                    or info.get("link") != self.iface or info.get("learning"):
                self.log(f'"{DEVICE} already exists with incompatible configuration; recreating device"')
                _ip("link", "del", DEVICE)
                links = []
        if not links:
            _ip("link", "add", DEVICE, "type", "vxlan", "id", str(self.vni), "local", self.public_ip,
                "dev", self.iface, "dstport", str(self.port), "nolearning")
        _ip("link", "set", DEVICE, "mtu", str(mtu))
        addr = f"{lease.network_address}/32"
        for a in _ipj("-4", "addr", "show", "dev", DEVICE):
            for i in a.get("addr_info") or []:
                if f"{i['local']}/{i['prefixlen']}" != addr:
                    _ip("addr", "del", f"{i['local']}/{i['prefixlen']}", "dev", DEVICE)
        _ip("addr", "replace", addr, "dev", DEVICE)
        _ip("link", "set", DEVICE, "up")
        return _ipj("link", "show", DEVICE)[0]["address"]

    # ---------------------------------------------------------------- subnet events
    def sync(self, nodes):
        if not self.active:
            return
        want = {}
        for n in nodes:
            name = n["metadata"]["name"]
            ann = n["metadata"].get("annotations") or {}
            cidr = (n.get("spec") or {}).get("podCIDR")
            if name == self.node_name or not cidr or ann.get(ANN + "backend-type") != "vxlan":
                continue
            try:
                data = json.loads(ann.get(ANN + "backend-data") or "")
                mac, pip = data["VtepMAC"], ann[ANN + "public-ip"]
                net = ipaddress.ip_network(cidr, strict=False)
            except (ValueError, KeyError, TypeError):
                continue
            if net.version != 4:
                continue
            want[name] = (str(net), str(net.network_address), mac, pip)
        for name in list(self.peers):
            if want.get(name) != self.peers[name]:
                self._remove(name, *self.peers.pop(name))
        for name, entry in want.items():
            if name not in self.peers:
                try:
                    self._add(*entry)
                except RuntimeError as exc:
                    self.log(f'"flanneld: failed to add subnet" node="{name}" err="{exc}"')
                    continue
                self.peers[name] = entry
                self.log(f'"flanneld: subnet added" node="{name}" subnet="{entry[0]}" public-ip="{entry[3]}"')

    @staticmethod
    def _add(cidr, gw, mac, pip):
        _ip("neigh", "replace", gw, "lladdr", mac, "dev", DEVICE, "nud", "permanent")
        r = _bridge("fdb", "replace", mac, "dev", DEVICE, "dst", pip, "self", "permanent")
        if r.returncode != 0:
            raise RuntimeError(f"bridge fdb replace: {r.stderr.strip()}")
        _ip("route", "replace", cidr, "via", gw, "dev", DEVICE, "onlink")

    def _remove(self, name, cidr, gw, mac, pip):
        _ip("route", "del", cidr, "via", gw, "dev", DEVICE, "onlink", check=False)
        _ip("neigh", "del", gw, "dev", DEVICE, check=False)
        _bridge("fdb", "del", mac, "dev", DEVICE, "dst", pip, "self")
        self.log(f'"flanneld: subnet removed" node="{name}" subnet="{cidr}"')

    # ------------------------------------------------------------------ teardown
    def stop(self):
        if not self.active:
            return
        self.active = False
        self.peers = {}
        _ip("link", "del", DEVICE, check=False)
        self.log(f'"flanneld: stopped, {DEVICE} removed"')
