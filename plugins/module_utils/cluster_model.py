# -*- coding: utf-8 -*-
# Copyright: kubeforge maintainers
# Apache License 2.0 (see LICENSE)
"""The cluster model: every fact about the cluster's shape, worked out once from the inventory.

Pure functions (Python standard library only, no I/O, no Ansible imports): they take the inventory's
groups, a hostvars-like mapping (host name -> mapping of that host's variables) and the cluster-wide
settings, and return plain data. The filter ``kubeforge.kubeadm.cluster_model`` (plugins/filter/cluster.py)
exposes :func:`cluster_model`; the validate play reads its problems, the roles read node addresses and
the control-plane endpoint from it (docs/internals.md draws the data flow). :func:`membership` sorts the hosts
that may join by what they and the API say (filter ``kubeforge.kubeadm.join_membership``, control_plane join_secrets).

One rule gives each host's address (the rule the roles used before the model existed):
``kubernetes_node_address``, else the host's default IPv4 address (facts, when gathered), else
``ansible_host``, else the inventory name. Load balancers first look at ``loadbalancer_address``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import json
import re

_DNS_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
# The dotted-quad form the load balancer checks always accepted (no leading zeros, no shorthand).
_IPV4_DOTTED = re.compile(r"^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$")
_DIGITS = re.compile(r"^[0-9]+$")
# host:port as the load balancer checks read it (brackets optional around the host).
_LB_ENDPOINT = re.compile(r"^\[?([^\[\]]+?)\]?:([0-9]+)$")

# kubeadm: the API server's default port, and the node CIDR mask sizes kube-controller-manager uses when
# --node-cidr-mask-size(-ipv4|-ipv6) is not given (cmd/kubeadm/app/constants: PodSubnetNodeMaskMaxDiff).
API_SERVER_DEFAULT_PORT = 6443
NODE_CIDR_MASK_DEFAULT = {4: 24, 6: 64}
POD_SUBNET_NODE_MASK_MAX_DIFF = 16
SERVICE_SUBNET_MAX_BITS = 20
SERVICE_SUBNET_MIN_ADDRESSES = 10
POD_SUBNET_MIN_ADDRESSES = 14


# --------------------------------------------------------------------------- address arithmetic
def _text(value):
    if isinstance(value, bool) or not isinstance(value, str):
        return None
    return value.strip()


def network_info(value):
    """Describe an IP network given as CIDR (or a single address); never raises."""
    info = {
        "valid": False,
        "error": "",
        "version": None,
        "network": None,
        "prefixlen": None,
        "num_addresses": 0,
        "is_address": False,
    }
    text = _text(value)
    if not text:
        info["error"] = "not a non-empty string"
        return info
    try:
        net = ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        if "has host bits set" in str(exc):
            info["error"] = "host bits set (the network address is %s)" % ipaddress.ip_network(text, strict=False)
        else:
            info["error"] = "not an IPv4 or IPv6 network in CIDR notation"
        return info
    info.update(
        valid=True,
        version=net.version,
        network=str(net),
        prefixlen=net.prefixlen,
        num_addresses=net.num_addresses,
        is_address="/" not in text,
    )
    return info


def networks_overlap(first, second):
    """True when two valid networks of the same family share at least one address."""
    one = network_info(first)
    two = network_info(second)
    if not (one["valid"] and two["valid"]) or one["version"] != two["version"]:
        return False
    return ipaddress.ip_network(one["network"]).overlaps(ipaddress.ip_network(two["network"]))


def ip_address(value):
    """The address as an ipaddress object, or None when ``value`` is not a single IP address."""
    text = _text(value)
    if not text:
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def address_in_network(address, network):
    """True when ``address`` (text) lies inside ``network`` (CIDR text); False when either is invalid."""
    addr = ip_address(address)
    info = network_info(network)
    if addr is None or not info["valid"] or addr.version != info["version"]:
        return False
    return addr in ipaddress.ip_network(info["network"])


def host_type(host):
    """``ipv4``, ``ipv6`` or ``dns`` for an endpoint host, None when it is neither."""
    addr = ip_address(host)
    if addr is not None:
        return "ipv%d" % addr.version
    name = host[:-1] if host.endswith(".") else host
    if 0 < len(name) <= 253 and all(_DNS_LABEL.match(label) for label in name.split(".")):
        if not re.match(r"^[0-9.]+$", name):
            return "dns"
    return None


def endpoint_info(value, default_port=None):
    """Parse host:port (IPv6 in brackets); default_port applies when the port is omitted. Never raises."""
    info = {"valid": False, "error": "", "host": None, "port": None, "host_type": None}
    text = _text(value)
    if not text:
        info["error"] = "not a non-empty string"
        return info
    if "://" in text or "/" in text:
        info["error"] = "a URL or path, not host:port"
        return info
    if text.startswith("["):
        match = re.match(r"^\[([^\]]+)\](?::(.*))?$", text)
        if not match:
            info["error"] = "unbalanced brackets around an IPv6 address"
            return info
        host, port = match.group(1), match.group(2)
        if host_type(host) != "ipv6":
            info["error"] = "%s in brackets is not an IPv6 address" % host
            return info
    elif text.count(":") > 1:
        info["error"] = "an IPv6 address must be written in brackets, e.g. [%s]:6443" % text
        return info
    else:
        host, _sep, port = text.partition(":")
        if not _sep:
            port = None
        elif port == "":
            info["error"] = "empty port after ':'"
            return info
    kind = host_type(host)
    if kind is None:
        info["error"] = "%s is neither an IP address nor a DNS name" % host
        return info
    if port is None:
        if default_port is None:
            info["error"] = "no port (expected host:port)"
            return info
        port = default_port
    try:
        port_number = int(str(port), 10)
    except ValueError:
        port_number = None
    if port_number is None or not 1 <= port_number <= 65535 or not str(port).isdigit():
        info["error"] = "port %s is not a number from 1 to 65535" % port
        return info
    info.update(valid=True, host=host, port=port_number, host_type=kind)
    return info


def format_endpoint(host, port):
    """host:port, with an IPv6 host in brackets."""
    return ("[%s]" % host if ":" in str(host) else str(host)) + ":" + str(port)


def ipv4_to_int(address):
    """Dotted quad -> integer (the address must be a valid IPv4 address)."""
    return int(ipaddress.IPv4Address(address))


def ipv4_network(address, prefix):
    """The IPv4 network (CIDR text) of ``address`` with prefix length ``prefix``."""
    return str(ipaddress.IPv4Network("%s/%d" % (address, int(prefix)), strict=False))


def ipv4_is_network_or_broadcast(address, prefix):
    """True when ``address`` is the first or last address of its /prefix network."""
    net = ipaddress.IPv4Network("%s/%d" % (address, int(prefix)), strict=False)
    addr = ipaddress.IPv4Address(address)
    return addr in (net.network_address, net.broadcast_address)


def ipv4_same_network(first, second, prefix):
    """True when both IPv4 addresses are inside the same /prefix network."""
    return ipv4_network(first, prefix) == ipv4_network(second, prefix)


def pod_subnet_node_capacity(pod_subnet, node_mask=None):
    """How many node CIDRs kube-controller-manager can carve out of the pod subnet, and why not if none.

    Follows kubeadm's ValidatePodSubnetNodeMask (cmd/kubeadm/app/apis/kubeadm/validation): the node mask
    must not be shorter than the pod subnet's prefix, and may be at most 16 bits longer.
    Returns ``(count, error)``; count is 0 when error is set.
    """
    info = network_info(pod_subnet)
    if not info["valid"]:
        return 0, info["error"]
    mask = NODE_CIDR_MASK_DEFAULT[info["version"]] if node_mask is None else int(node_mask)
    prefix = info["prefixlen"]
    if prefix > mask:
        return 0, "the size of pod subnet with mask %s is smaller than the size of node subnet with mask %s" % (prefix, mask)
    if mask - prefix > POD_SUBNET_NODE_MASK_MAX_DIFF:
        return 0, "pod subnet mask (%s) and node-mask (%s) difference is greater than %s" % (
            prefix, mask, POD_SUBNET_NODE_MASK_MAX_DIFF)
    return 2 ** (mask - prefix), ""


def _word_after(words, key):
    """The word after the first ``key`` in ``words`` ('' when there is none)."""
    if key not in words:
        return ""
    index = words.index(key) + 1
    return words[index] if index < len(words) else ""


def connected_route(lines):
    """The most specific directly connected route (no gateway) among ``ip -o route`` lines.

    Returns ``{prefix, dev, src}``; prefix -1 and empty dev/src when no line is a connected route. A
    ``default`` route counts as /0, an address without a prefix as /32 (IPv4); the first of equal routes wins.
    """
    best = {"prefix": -1, "dev": "", "src": ""}
    for line in lines or []:
        line = str(line)
        if " via " in line or " dev " not in line:
            continue
        words = line.split()
        if words[0] == "default":
            prefix = 0
        else:
            try:
                prefix = int((words[0].split("/") + ["32"])[1])
            except ValueError:
                continue
        if prefix > best["prefix"]:
            best = {"prefix": prefix, "dev": _word_after(words, "dev"), "src": _word_after(words, "src")}
    return best


# --------------------------------------------------------------------------- inventory reading
def _get(mapping, key, default=None):
    try:
        value = mapping.get(key, default) if mapping is not None else default
    except Exception:  # pylint: disable=broad-except
        # A variable whose template cannot be rendered on the controller counts as not set.
        return default
    return default if value is None else value


def _truthy(value):
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on", "y", "t")


def _host_vars(hostvars, host):
    try:
        return hostvars[host]
    except KeyError:
        return {}


def _group(groups, name):
    return list(_get(groups, name, []) or [])


def node_address(host, host_vars):
    """(address, source) of one host by the collection's single rule (module docstring)."""
    explicit = str(_get(host_vars, "kubernetes_node_address", "") or "").strip()
    if explicit:
        return explicit, "kubernetes_node_address"
    facts = _get(host_vars, "ansible_facts", {}) or {}
    default_ipv4 = _get(facts, "default_ipv4", {}) or {}
    gathered = str(_get(default_ipv4, "address", "") or "")
    if gathered:
        return gathered, "default_ipv4"
    ansible_host = str(_get(host_vars, "ansible_host", "") or "")
    if ansible_host:
        return ansible_host, "ansible_host"
    return host, "inventory_hostname"


def loadbalancer_address(host, host_vars):
    """(address, source) of a load balancer: loadbalancer_address first, else the node address rule."""
    explicit = str(_get(host_vars, "loadbalancer_address", "") or "").strip()
    if explicit:
        return explicit, "loadbalancer_address"
    return node_address(host, host_vars)


def _node_mask(extra_args, version):
    """--node-cidr-mask-size(-ipv4|-ipv6) from control_plane_controller_manager_extra_args, else None."""
    found = {}
    for arg in extra_args or []:
        try:
            found[str(arg["name"])] = arg["value"]
        except (KeyError, TypeError):
            continue
    for name in ("node-cidr-mask-size-ipv%d" % version, "node-cidr-mask-size"):
        value = str(found.get(name, "")).strip()
        if _DIGITS.match(value):
            return int(value)
    return None


# --------------------------------------------------------------------------- load balancer
def loadbalancer_settings(groups, hostvars, settings):
    """The load balancer topology and settings (first load balancer's hostvars over ``settings``)."""
    backend_group = str(_get(settings, "loadbalancer_backend_group", "control_plane") or "control_plane")
    backends = _group(groups, backend_group)
    if "loadbalancer_colocated" in settings:
        colocated = _truthy(settings["loadbalancer_colocated"])
    else:
        colocated = bool(backends) and _truthy(_get(_host_vars(hostvars, backends[0]), "loadbalancer_colocated", False))
    hosts = backends if colocated else _group(groups, "loadbalancers")
    first = _host_vars(hostvars, hosts[0]) if hosts else {}

    def pick(name, default):
        value = _get(first, name, None)
        return _get(settings, name, default) if value is None else value

    # Same default as roles/loadbalancer/defaults/main.yml: the frontend moves off 6443 when colocated.
    port_value = _get(first, "loadbalancer_port", None)
    port = str(port_value if port_value is not None else (8443 if colocated else 6443))
    addresses = []
    for host in hosts:
        address, _source = loadbalancer_address(host, _host_vars(hostvars, host))
        addresses.append({"host": host, "address": address})
    return {
        "hosts": hosts,
        "control_planes": backends,
        "colocated": colocated,
        "vip": str(pick("loadbalancer_vip", "")),
        "vip_prefix": pick("loadbalancer_vip_prefix", 24),
        "port": port,
        "backend_port": str(pick("loadbalancer_backend_port", 6443)),
        "virtual_router_id": str(pick("loadbalancer_virtual_router_id", 51)),
        "vrrp_auth_pass_length": len(str(pick("loadbalancer_vrrp_auth_pass", ""))),
        "addresses": addresses,
    }


def vip_problems(vip, prefix, addresses):
    """Problems of a keepalived VIP against the load balancers' addresses ({host, address} items).

    ``vip`` must already be a dotted-quad IPv4 address and ``prefix`` a prefix length from 8 to 30.
    """
    problems = []
    network = ipv4_network(vip, prefix)
    if ipv4_is_network_or_broadcast(vip, prefix):
        problems.append("loadbalancer_vip=%s is the network or broadcast address of %s: choose a free host address"
                        " of that network." % (vip, network))
    for item in addresses:
        host, address = item["host"], item["address"]
        if not _IPV4_DOTTED.match(str(address)):
            continue
        if ipv4_to_int(address) == ipv4_to_int(vip):
            problems.append("loadbalancer_vip=%s is the address of %s: the virtual IP must be a free address of the"
                            " load balancers' network." % (vip, host))
        elif not ipv4_same_network(address, vip, prefix):
            problems.append("loadbalancer_vip=%s is outside %s (loadbalancer_vip_prefix), the network of %s (address %s):"
                            " keepalived moves the VIP only inside the load balancers' own network; choose a free address"
                            " there or correct loadbalancer_vip_prefix." % (vip, network, host, address))
    return problems


def loadbalancer_problems(lb, control_planes, endpoint):
    """Every problem of the highly available shape (the messages of roles/loadbalancer/tasks/validate.yml)."""
    problems = []
    lbs, vip, port = lb["hosts"], lb["vip"], lb["port"]
    match = _LB_ENDPOINT.match(endpoint) if endpoint else None
    if len(control_planes) > 1 and not endpoint:
        problems.append(
            "kubernetes_control_plane_endpoint is empty but control_plane has %d hosts (%s): with more than one control"
            " plane it must be host:port of a load balancer in front of all API servers (the keepalived VIP, a DNS name"
            " or an external load balancer)." % (len(control_planes), ", ".join(control_planes)))
    if lbs and not endpoint:
        problems.append(
            "kubernetes_control_plane_endpoint is empty but a load balancer is configured on %s: set it to"
            " <loadbalancer_vip>:<loadbalancer_port> (%s:%s)." % (", ".join(lbs), vip or "<vip>", port))
    if endpoint and not match:
        problems.append("kubernetes_control_plane_endpoint=%s is not host:port (IPv6 literal in brackets)." % endpoint)
    if lbs:
        if lb["colocated"] and port == lb["backend_port"]:
            problems.append(
                "loadbalancer_port=%s equals loadbalancer_backend_port=%s with loadbalancer_colocated=true: kube-apiserver"
                " already listens there on the control planes; use another port such as 8443." % (port, lb["backend_port"]))
        if not _DIGITS.match(port) or not 1 <= int(port) <= 65535:
            problems.append("loadbalancer_port=%s is not a TCP port (1-65535)." % port)
        if match and match.group(2) != port:
            problems.append(
                "kubernetes_control_plane_endpoint=%s uses port %s but the load balancer listens on loadbalancer_port=%s:"
                " the endpoint port must be the frontend port." % (endpoint, match.group(2), port))
    if lbs and vip:
        prefix = str(lb["vip_prefix"])
        if len(lbs) < 2:
            problems.append(
                "loadbalancer_vip=%s asks for keepalived, which needs at least 2 load balancers; the %s group has %d (%s)."
                " Add a second one, or leave loadbalancer_vip empty for haproxy only."
                % (vip, "control_plane" if lb["colocated"] else "loadbalancers", len(lbs), ", ".join(lbs)))
        if not _IPV4_DOTTED.match(vip):
            problems.append("loadbalancer_vip=%s is not an IPv4 address (keepalived manages an IPv4 VIP)." % vip)
        elif not _DIGITS.match(prefix) or not 8 <= int(prefix) <= 30:
            problems.append("loadbalancer_vip_prefix=%s is not a prefix length between 8 and 30 (the prefix of the load"
                            " balancers' network)." % prefix)
        else:
            problems.extend(vip_problems(vip, int(prefix), lb["addresses"]))
        if match and match.group(1) != vip:
            problems.append(
                "kubernetes_control_plane_endpoint=%s has host %s but loadbalancer_vip=%s: the endpoint host must be the"
                " virtual IP keepalived manages." % (endpoint, match.group(1), vip))
        vrid = lb["virtual_router_id"]
        if not _DIGITS.match(vrid) or not 1 <= int(vrid) <= 255:
            problems.append("loadbalancer_virtual_router_id=%s is not within 1-255." % vrid)
        if lb["vrrp_auth_pass_length"] > 8:
            problems.append("loadbalancer_vrrp_auth_pass has %d characters: VRRPv2 PASS authentication takes at most 8."
                            % lb["vrrp_auth_pass_length"])
    return problems


# --------------------------------------------------------------------------- the model
def _network_problems(pod_subnet, service_subnet, defaults):
    problems = []
    infos = {}
    for name, value in (("kubernetes_pod_subnet", pod_subnet), ("kubernetes_service_subnet", service_subnet)):
        info = network_info(value)
        infos[name] = info
        if not info["valid"] or info["is_address"]:
            problems.append("%s '%s' is not a valid network: %s; expected a CIDR such as %s"
                            % (name, value, info["error"], defaults.get(name, "")))
    pod, svc = infos["kubernetes_pod_subnet"], infos["kubernetes_service_subnet"]
    if not (pod["valid"] and svc["valid"]) or pod["is_address"] or svc["is_address"]:
        return problems, False
    if networks_overlap(pod_subnet, service_subnet):
        problems.append("kubernetes_pod_subnet '%s' and kubernetes_service_subnet '%s' overlap: they must be disjoint"
                        " networks" % (pod["network"], svc["network"]))
    if pod["version"] != svc["version"]:
        problems.append("kubernetes_pod_subnet '%s' (IPv%s) and kubernetes_service_subnet '%s' (IPv%s) must be of the"
                        " same IP family" % (pod["network"], pod["version"], svc["network"], svc["version"]))
    if svc["num_addresses"] > 2 ** SERVICE_SUBNET_MAX_BITS:
        problems.append("kubernetes_service_subnet '%s' is too large for kubeadm: at most /%d is allowed"
                        % (svc["network"], (32 if svc["version"] == 4 else 128) - SERVICE_SUBNET_MAX_BITS))
    if svc["num_addresses"] < SERVICE_SUBNET_MIN_ADDRESSES:
        problems.append("kubernetes_service_subnet '%s' is too small: kubeadm needs at least %d addresses"
                        % (svc["network"], SERVICE_SUBNET_MIN_ADDRESSES))
    if pod["num_addresses"] < POD_SUBNET_MIN_ADDRESSES:
        problems.append("kubernetes_pod_subnet '%s' is too small: kubeadm needs at least %d addresses"
                        % (pod["network"], POD_SUBNET_MIN_ADDRESSES))
    return problems, True


def cluster_model(groups, hostvars, settings=None):
    """Compute the cluster model once from the inventory.

    ``groups``: group name -> host names (Ansible's ``groups``). ``hostvars``: host name -> that host's variables
    (Ansible's ``hostvars``). ``settings``: the cluster-wide values as the caller sees them: kubernetes_pod_subnet,
    kubernetes_service_subnet, kubernetes_control_plane_endpoint, kubernetes_schedule_on_control_plane,
    control_plane_bind_port, control_plane_controller_manager_extra_args, the loadbalancer_* settings, and
    ``defaults`` (the kubernetes role's defaults, for the messages).
    """
    settings = dict(settings or {})
    defaults = settings.get("defaults") or {}
    problems = []
    warnings = []

    control_planes = _group(groups, "control_plane")
    workers = _group(groups, "workers")
    schedule_on_control_plane = _truthy(settings.get("kubernetes_schedule_on_control_plane", False))
    both = [host for host in workers if host in control_planes]
    cluster_hosts = control_planes + [host for host in workers if host not in control_planes]

    nodes = {}
    for host in cluster_hosts:
        address, source = node_address(host, _host_vars(hostvars, host))
        nodes[host] = {
            "name": host,
            "address": address,
            "address_source": source,
            "control_plane": host in control_planes,
            "worker": host in workers,
        }

    bind_port = settings.get("control_plane_bind_port", API_SERVER_DEFAULT_PORT)
    bind_port = int(bind_port) if _DIGITS.match(str(bind_port)) else API_SERVER_DEFAULT_PORT
    first = control_planes[0] if control_planes else None

    # The endpoint every node and client uses.
    endpoint_text = str(settings.get("kubernetes_control_plane_endpoint", "") or "")
    endpoint = {"text": endpoint_text, "valid": False, "host": None, "port": None, "host_type": None,
                "source": "kubernetes_control_plane_endpoint", "load_balanced": False, "error": ""}
    if endpoint_text:
        info = endpoint_info(endpoint_text)
        endpoint.update(valid=info["valid"], host=info["host"], port=info["port"], host_type=info["host_type"],
                        error=info["error"])
    elif first is not None:
        first_address = nodes[first]["address"]
        endpoint.update(text=format_endpoint(first_address, bind_port), valid=True, host=first_address, port=bind_port,
                        host_type=host_type(first_address), source="first_control_plane")
    if not control_planes:
        problems.append(
            "The inventory group control_plane is %s: at least one host must be in control_plane (its first host runs"
            " kubeadm init); workers is optional." % ("empty" if "control_plane" in groups else "missing"))

    lb = loadbalancer_settings(groups, hostvars, settings)
    lb_problems = loadbalancer_problems(lb, control_planes, endpoint_text)
    if endpoint["valid"] and lb["hosts"] and str(endpoint["port"]) == lb["port"]:
        endpoint["load_balanced"] = True

    # Endpoint checks of the validate play.
    if not endpoint_text and len(control_planes) > 1:
        problems.append(
            "kubernetes_control_plane_endpoint is empty but control_plane has %d hosts (%s): set it to host:port of a VIP"
            " or DNS name in front of every API server" % (len(control_planes), ", ".join(control_planes)))
    if endpoint_text and not endpoint["valid"]:
        problems.append(
            "kubernetes_control_plane_endpoint '%s' is not host:port: %s; allowed: DNS name, IPv4 address or [IPv6"
            " address], a colon and a port 1-65535, e.g. k8s.example.com:6443 or [fd00::10]:6443"
            % (endpoint_text, endpoint["error"]))
    # Without a load balancer of the inventory, an endpoint naming a control plane reaches its API server directly.
    if endpoint_text and endpoint["valid"] and not lb["hosts"]:
        served_by = [host for host in control_planes if endpoint["host"] in (host, nodes[host]["address"])]
        if served_by and endpoint["port"] != bind_port:
            problems.append(
                "kubernetes_control_plane_endpoint '%s' points at control plane %s on port %s, but no load balancer of the"
                " inventory listens there and kube-apiserver listens on control_plane_bind_port %s; allowed: port %s, or a"
                " load balancer (loadbalancers group or loadbalancer_colocated) whose loadbalancer_port is %s"
                % (endpoint_text, served_by[0], endpoint["port"], bind_port, bind_port, endpoint["port"]))

    # Node addresses: IP addresses, unique, outside the pod and service networks.
    net_problems, networks_valid = _network_problems(
        settings.get("kubernetes_pod_subnet", defaults.get("kubernetes_pod_subnet", "")),
        settings.get("kubernetes_service_subnet", defaults.get("kubernetes_service_subnet", "")),
        defaults)
    problems.extend(net_problems)
    owners = {}
    for host in cluster_hosts:
        node = nodes[host]
        if node["address_source"] != "kubernetes_node_address":
            continue
        address = node["address"]
        info = network_info(address)
        if not (info["valid"] and info["is_address"]):
            problems.append("kubernetes_node_address '%s' of %s is not an IP address; allowed: an IPv4 or IPv6 address of"
                            " the host, or empty for its default IPv4 address" % (address, host))
            continue
        owners.setdefault(str(ip_address(address)), []).append(host)
        if networks_valid:
            for name in ("kubernetes_pod_subnet", "kubernetes_service_subnet"):
                if address_in_network(address, settings.get(name)):
                    problems.append(
                        "kubernetes_node_address '%s' of %s is inside %s '%s': node addresses must be outside the pod and"
                        " service networks; change the address or the subnet" % (address, host, name, settings.get(name)))
    for address, hosts in owners.items():
        if len(hosts) > 1:
            problems.append("kubernetes_node_address '%s' is set on more than one host (%s): every node needs an address"
                            " of its own" % (address, ", ".join(hosts)))

    # Pod subnet against the nodes (kubeadm's ValidatePodSubnetNodeMask, and one node CIDR per node).
    if networks_valid:
        pod_subnet = settings.get("kubernetes_pod_subnet")
        version = network_info(pod_subnet)["version"]
        node_mask = _node_mask(settings.get("control_plane_controller_manager_extra_args"), version)
        capacity, error = pod_subnet_node_capacity(pod_subnet, node_mask)
        mask = NODE_CIDR_MASK_DEFAULT[version] if node_mask is None else node_mask
        if error:
            problems.append("kubernetes_pod_subnet '%s' does not fit the node CIDR mask size %d: %s (kubeadm); allowed: a"
                            " prefix from /%d to /%d, or set node-cidr-mask-size in control_plane_controller_manager_extra_args"
                            % (pod_subnet, mask, error, max(mask - POD_SUBNET_NODE_MASK_MAX_DIFF, 0), mask))
        elif capacity < len(cluster_hosts):
            problems.append("kubernetes_pod_subnet '%s' is too small for %d nodes: it holds %d node CIDRs of /%d; allowed:"
                            " a shorter prefix (at most /%d) or a longer node-cidr-mask-size"
                            % (pod_subnet, len(cluster_hosts), capacity, mask,
                               mask - (len(cluster_hosts) - 1).bit_length()))

    # Membership.
    if both and not schedule_on_control_plane:
        problems.append(
            "%s %s in both control_plane and workers: a control plane is not joined a second time as a worker; remove %s"
            " from workers, or set kubernetes_schedule_on_control_plane: true to run workloads on the control planes"
            % (", ".join(both), "is" if len(both) == 1 else "are", "it" if len(both) == 1 else "them"))
    if control_planes and len(control_planes) % 2 == 0:
        warnings.append(
            "control_plane has %d hosts (%s): etcd needs a majority of %d, so %d control planes survive no more failures"
            " than %d; use an odd number (1, 3 or 5)" % (
                len(control_planes), ", ".join(control_planes), len(control_planes) // 2 + 1, len(control_planes),
                len(control_planes) - 1))

    # Every inventory host's address by the same rule (load balancers and hosts outside the cluster groups too).
    addresses = dict((host, node_address(host, _host_vars(hostvars, host))[0]) for host in _group(groups, "all"))
    addresses.update((host, node["address"]) for host, node in nodes.items())

    return {
        "nodes": nodes,
        "addresses": addresses,
        "control_planes": control_planes,
        "workers": [host for host in workers if host not in control_planes],
        "schedule_on_control_plane": schedule_on_control_plane,
        "endpoint": endpoint,
        "loadbalancer": {
            "hosts": lb["hosts"],
            "colocated": lb["colocated"],
            "vip": lb["vip"],
            "port": lb["port"],
            "keepalived": bool(lb["hosts"]) and bool(lb["vip"]),
            "addresses": lb["addresses"],
            "problems": lb_problems,
        },
        "membership": {
            "init": first,
            "control_plane_joins": control_planes[1:],
            "worker_joins": [host for host in workers if host not in control_planes],
        },
        "problems": problems,
        "warnings": warnings,
    }


# --------------------------------------------------------------------------- membership (join_secrets)
ETCD_PEER_PORT = 2380
_RESET = "ansible-playbook -i <inventory> reset.yml --limit %s -e reset_confirm=true"


def etcd_peer_url(address):
    """The peer URL kubeadm gives the stacked etcd member of a control plane at ``address``."""
    address = str(address)
    return "https://%s:%d" % ("[%s]" % address if ":" in address else address, ETCD_PEER_PORT)


def etcd_member_hex(member_id):
    """etcd's member ID (a number, or the decimal text etcd's JSON gateway gives) as etcdctl prints it."""
    return "%x" % int(member_id)


def _skipped(result):
    return not result or _truthy(_get(result, "skipped", False))


def etcd_members(list_result):
    """The members of etcd's /v3/cluster/member/list answer (a registered uri result), None when it was not asked."""
    if _skipped(list_result):
        return None
    answer = _get(list_result, "json", {}) or {}
    return list(_get(answer, "members", []) or []) if hasattr(answer, "get") else []


def healthy_etcd_members(health_result):
    """IDs of the members whose /health answered 200 with health "true" (a registered uri loop result)."""
    healthy = []
    for result in _get(health_result, "results", []) or []:
        if _get(result, "status", 0) != 200:
            continue
        # etcd answers /health as text/plain: the JSON is in the content.
        try:
            answer = json.loads(_get(result, "content", "") or "{}")
        except ValueError:
            continue
        if isinstance(answer, dict) and str(_get(answer, "health", "")).lower() == "true":
            healthy.append(_get(_get(result, "item", {}), "ID"))
    return healthy


def _half_joined(state, members, healthy):
    """{host, name, problems, member_id} of a claimed control plane, or None when it is fully joined."""
    peer = etcd_peer_url(state.get("address", ""))
    member = None
    for candidate in members or []:
        if peer in (_get(candidate, "peerURLs", []) or []):
            member = candidate
            break
    problems = []
    missing = list(state.get("manifests_missing") or [])
    if missing:
        problems.append("static pod manifests missing: " + ", ".join(missing))
    if members is not None and member is None:
        problems.append("no etcd member with peer URL " + peer)
    elif member is not None and _get(member, "ID") not in healthy:
        problems.append("etcd member %s is not healthy" % etcd_member_hex(_get(member, "ID")))
    if not problems:
        return None
    return {"host": state["host"], "name": state["name"], "problems": problems,
            "member_id": etcd_member_hex(_get(member, "ID")) if member is not None else None}


def half_joined_message(half_joined, repair_host, etcdctl):
    """How to repair half-joined control planes (the first control plane ``repair_host`` removes etcd members)."""
    lines = ["Some control planes are half joined (a control-plane join that failed after kubelet.conf was written);"
             " nothing", "else joins until they are repaired. Repair each one, then run the playbook again:"]
    for item in half_joined:
        lines += ['- %s (Node "%s"): %s.' % (item["host"], item["name"], "; ".join(item["problems"])),
                  "  1. Reset the node (it also removes its etcd member through %s):" % repair_host,
                  "     " + _RESET % item["host"]]
        if item["member_id"]:
            lines += ["  2. If etcd still lists its member %s afterwards, remove it on %s:" % (item["member_id"], repair_host),
                      "     %s member remove %s" % (etcdctl, item["member_id"])]
        else:
            lines.append("  2. etcd lists no member for it: no etcd member to remove.")
    return "\n".join(lines) + "\n"


def inconsistent_message(only_local, only_api):
    """How to repair nodes that exist only on the host (kubelet.conf) or only in the API (Node object)."""
    lines = ["Some nodes are half joined; repair them and run site.yml again:"]
    for state in only_local:
        lines += ['- %s: /etc/kubernetes/kubelet.conf exists but the API has no Node "%s"' % (state["host"], state["name"]),
                  "  (joined another cluster, or its Node object was deleted). Reset it:",
                  "  " + _RESET % state["host"]]
    for state in only_api:
        lines += ['- %s: the API lists Node "%s" but the host has no /etc/kubernetes/kubelet.conf' % (state["host"], state["name"]),
                  "  (reset or reinstalled). Delete the stale Node object, then reset the host:",
                  "  kubectl delete node %s" % state["name"],
                  "  " + _RESET % state["host"]]
    return "\n".join(lines) + "\n"


def _node_state(hostvars, host):
    try:
        if host not in hostvars:
            return None
    except TypeError:
        return None
    state = _get(_host_vars(hostvars, host), "control_plane_node_state", None)
    return dict(state) if hasattr(state, "get") else None


def membership(candidates, hostvars, api=None):
    """Sort the hosts that may join by what they say (``control_plane_node_state`` of node_state.yml, in hostvars)
    and what the API says.

    ``api`` (each key optional): ``registered_nodes`` (the Node names the API lists; unknown = none), ``etcd_list``
    and ``etcd_health`` (the registered uri results of join_secrets' etcd member list and health checks; not listed =
    no etcd check), ``repair_host`` and ``etcdctl`` (for the repair message: the first control plane, the etcdctl
    command line that reaches etcd there).

    A host is ``stateless`` (no node state: failed or unreachable earlier), ``pending`` (no kubelet.conf, no Node:
    it has to join), ``joined``, ``half_joined`` (a control plane with kubelet.conf and a Node but a static pod
    manifest missing, or its etcd member missing or unhealthy), ``only_local`` (kubelet.conf but no Node) or
    ``only_api`` (a Node but no kubelet.conf). Returns the lists (host names; ``only_local``, ``only_api`` and
    ``claimed`` hold the node states, ``half_joined`` {host, name, problems, member_id}), ``hosts`` (host -> its
    status), ``control_plane_pending`` and the two repair ``messages`` ('' when there is nothing to repair).
    """
    api = dict(api or {})
    registered = [str(name) for name in (api.get("registered_nodes") or [])]
    members = etcd_members(api.get("etcd_list"))
    healthy = healthy_etcd_members(api.get("etcd_health"))
    result = {"registered_nodes": registered, "stateless": [], "pending": [], "joined": [], "half_joined": [],
              "only_local": [], "only_api": [], "claimed": [], "hosts": {}, "control_plane_pending": False}
    for host in candidates or []:
        state = _node_state(hostvars, host)
        if state is None:
            result["stateless"].append(host)
            result["hosts"][host] = "stateless"
            continue
        local = _truthy(state.get("kubelet_conf", False))
        listed = str(state.get("name")) in registered
        if not local and not listed:
            status = "pending"
            result["control_plane_pending"] = result["control_plane_pending"] or _truthy(state.get("control_plane", False))
        elif local and not listed:
            status = "only_local"
        elif listed and not local:
            status = "only_api"
        else:
            status = "joined"
            if _truthy(state.get("control_plane", False)):
                result["claimed"].append(state)
                broken = _half_joined(state, members, healthy)
                if broken is not None:
                    status = "half_joined"
                    result["half_joined"].append(broken)
        result["hosts"][host] = status
        if status in ("only_local", "only_api"):
            result[status].append(state)
        elif status != "half_joined":
            result[status].append(host)
    result["messages"] = {
        "half_joined": half_joined_message(result["half_joined"], api.get("repair_host", ""), api.get("etcdctl", ""))
        if result["half_joined"] else "",
        "inconsistent": inconsistent_message(result["only_local"], result["only_api"])
        if result["only_local"] or result["only_api"] else "",
    }
    return result
