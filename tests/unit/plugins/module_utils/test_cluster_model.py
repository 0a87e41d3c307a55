# -*- coding: utf-8 -*-
"""Unit tests of the cluster model (plugins/module_utils/cluster_model.py), incl. property tests of the
address arithmetic and the cases of the load balancer validate tasks."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.kubeforge.kubeadm.plugins.module_utils import cluster_model as cm

DEFAULTS = {"kubernetes_pod_subnet": "10.244.0.0/16", "kubernetes_service_subnet": "10.96.0.0/12"}


def model(control_planes=("cp1",), workers=("w1",), loadbalancers=(), hostvars=None, **settings):
    groups = {"all": [], "control_plane": list(control_planes), "workers": list(workers)}
    if loadbalancers is not None:
        groups["loadbalancers"] = list(loadbalancers)
    hosts = {h: {} for h in list(control_planes) + list(workers) + list(loadbalancers or ())}
    for host, values in (hostvars or {}).items():
        hosts.setdefault(host, {}).update(values)
    base = dict(DEFAULTS, defaults=DEFAULTS)
    base.update(settings)
    return cm.cluster_model(groups, hosts, base)


def ha(control_planes=3, loadbalancers=2, net="10.20.30", **settings):
    """The inventory of tests/loadbalancer/test_loadbalancer_validate.py."""
    cps = ["cp%d" % (i + 1) for i in range(control_planes)]
    lbs = ["lb%d" % (i + 1) for i in range(loadbalancers)]
    hv = {h: {"ansible_host": "%s.%d" % (net, 10 + i)} for i, h in enumerate(cps)}
    hv.update({h: {"ansible_host": "%s.%d" % (net, 50 + i)} for i, h in enumerate(lbs)})
    hv["w1"] = {"ansible_host": "%s.90" % net}
    settings.setdefault("loadbalancer_colocated", False)
    return model(cps, ["w1"], lbs, hv, **settings)


GOOD = {"loadbalancer_vip": "10.20.30.5", "kubernetes_control_plane_endpoint": "10.20.30.5:6443"}


# --------------------------------------------------------------------------- address rule
@pytest.mark.parametrize(
    "host_vars, expected",
    [
        ({"kubernetes_node_address": "192.0.2.9", "ansible_host": "192.0.2.1",
          "ansible_facts": {"default_ipv4": {"address": "192.0.2.2"}}}, ("192.0.2.9", "kubernetes_node_address")),
        ({"kubernetes_node_address": "", "ansible_host": "192.0.2.1",
          "ansible_facts": {"default_ipv4": {"address": "192.0.2.2"}}}, ("192.0.2.2", "default_ipv4")),
        ({"ansible_host": "192.0.2.1", "ansible_facts": {}}, ("192.0.2.1", "ansible_host")),
        ({}, ("node7", "inventory_hostname")),
    ],
)
def test_node_address_rule(host_vars, expected):
    assert cm.node_address("node7", host_vars) == expected


def test_loadbalancer_address_prefers_its_own_setting():
    assert cm.loadbalancer_address("lb1", {"loadbalancer_address": "192.0.2.7", "kubernetes_node_address": "192.0.2.8"}) == (
        "192.0.2.7", "loadbalancer_address")
    assert cm.loadbalancer_address("lb1", {"kubernetes_node_address": "192.0.2.8"})[0] == "192.0.2.8"


def test_unrenderable_variable_counts_as_unset():
    class Exploding(dict):
        def get(self, key, default=None):
            if key == "kubernetes_node_address":
                raise RuntimeError("undefined variable")
            return super().get(key, default)

    assert cm.node_address("cp1", Exploding(ansible_host="192.0.2.4")) == ("192.0.2.4", "ansible_host")


# --------------------------------------------------------------------------- endpoint and membership
def test_default_endpoint_is_first_control_plane_on_bind_port():
    result = model(hostvars={"cp1": {"kubernetes_node_address": "fd00::11"}}, kubernetes_service_subnet="fd00:96::/112",
                   kubernetes_pod_subnet="fd00:244::/56", control_plane_bind_port=7443)
    assert result["endpoint"]["text"] == "[fd00::11]:7443"
    assert result["endpoint"]["source"] == "first_control_plane"
    assert result["endpoint"]["load_balanced"] is False
    assert result["problems"] == []


def test_explicit_endpoint_parsed_and_load_balanced():
    result = ha(**GOOD)
    assert result["problems"] == [] and result["loadbalancer"]["problems"] == []
    assert result["endpoint"]["host"] == "10.20.30.5" and result["endpoint"]["port"] == 6443
    assert result["endpoint"]["load_balanced"] is True
    assert result["loadbalancer"]["keepalived"] is True
    assert result["membership"] == {"init": "cp1", "control_plane_joins": ["cp2", "cp3"], "worker_joins": ["w1"]}


def test_addresses_of_every_inventory_host():
    groups = {"all": ["cp1", "w1", "lb1", "bastion"], "control_plane": ["cp1"], "workers": ["w1"], "loadbalancers": ["lb1"]}
    hv = {"cp1": {"ansible_facts": {"default_ipv4": {"address": "192.0.2.1"}}}, "w1": {"kubernetes_node_address": "192.0.2.2"},
          "lb1": {"ansible_host": "192.0.2.3", "loadbalancer_address": "192.0.2.30"}, "bastion": {}}
    result = cm.cluster_model(groups, hv, dict(DEFAULTS))
    # loadbalancer_address is the load balancer's own (VRRP) address, not its node address.
    assert result["addresses"] == {"cp1": "192.0.2.1", "w1": "192.0.2.2", "lb1": "192.0.2.3", "bastion": "bastion"}


def test_missing_control_plane_group():
    result = cm.cluster_model({"workers": ["w1"]}, {"w1": {}}, dict(DEFAULTS, defaults=DEFAULTS))
    assert "control_plane is missing" in result["problems"][0]


# --------------------------------------------------------------------------- new bad inputs (issue 13)
def test_node_address_inside_pod_subnet():
    result = model(hostvars={"w1": {"kubernetes_node_address": "10.244.3.4"}})
    assert any("kubernetes_node_address '10.244.3.4' of w1 is inside kubernetes_pod_subnet '10.244.0.0/16'" in p
               for p in result["problems"])


def test_node_address_inside_service_subnet():
    result = model(hostvars={"cp1": {"kubernetes_node_address": "10.96.0.10"}})
    assert any("inside kubernetes_service_subnet '10.96.0.0/12'" in p for p in result["problems"])


def test_duplicate_node_address_also_across_spellings():
    result = model(workers=("w1", "w2"), hostvars={"w1": {"kubernetes_node_address": "fd00::5"},
                                                   "w2": {"kubernetes_node_address": "fd00:0::5"}})
    assert any("kubernetes_node_address 'fd00::5' is set on more than one host (w1, w2)" in p for p in result["problems"])


def test_host_in_both_groups_needs_the_opt_in():
    refused = model(workers=("cp1", "w1"))
    assert any("cp1 is in both control_plane and workers" in p and "kubernetes_schedule_on_control_plane: true" in p
               for p in refused["problems"])
    allowed = model(workers=("cp1", "w1"), kubernetes_schedule_on_control_plane=True)
    assert allowed["problems"] == []
    assert allowed["membership"]["worker_joins"] == ["w1"]
    assert allowed["nodes"]["cp1"]["worker"] and allowed["nodes"]["cp1"]["control_plane"]


@pytest.mark.parametrize("count, warned", [(1, False), (2, True), (3, False), (4, True)])
def test_even_number_of_control_planes_warns(count, warned):
    result = model(["cp%d" % i for i in range(count)], kubernetes_control_plane_endpoint="api.example.com:6443")
    assert bool(result["warnings"]) is warned
    assert result["problems"] == []


@pytest.mark.parametrize(
    "pod_subnet, nodes, extra_args, expected",
    [
        ("10.244.0.0/25", 2, [], "smaller than the size of node subnet with mask 24"),
        ("10.0.0.0/7", 2, [], "difference is greater than 16"),
        ("10.244.0.0/23", 3, [], "is too small for 3 nodes: it holds 2 node CIDRs of /24"),
        ("10.244.0.0/23", 3, [{"name": "node-cidr-mask-size", "value": "25"}], None),
        ("10.244.0.0/24", 2, [{"name": "node-cidr-mask-size-ipv4", "value": "26"}], None),
        ("10.244.0.0/16", 2, [], None),
    ],
)
def test_pod_subnet_node_mask(pod_subnet, nodes, extra_args, expected):
    result = model(workers=["w%d" % i for i in range(nodes - 1)], kubernetes_pod_subnet=pod_subnet,
                   control_plane_controller_manager_extra_args=extra_args)
    mask_problems = [p for p in result["problems"] if "node CIDR" in p or "node subnet" in p or "node-mask" in p]
    if expected is None:
        assert mask_problems == []
    else:
        assert len(mask_problems) == 1 and expected in mask_problems[0]
        assert "kubernetes_pod_subnet '%s'" % pod_subnet in mask_problems[0]


def test_endpoint_port_nobody_serves():
    result = model(hostvars={"cp1": {"kubernetes_node_address": "192.0.2.11"}},
                   kubernetes_control_plane_endpoint="192.0.2.11:7443")
    assert any("points at control plane cp1 on port 7443" in p and "control_plane_bind_port 6443" in p
               for p in result["problems"])
    # The bind port, or an external load balancer (not a node of the inventory): nothing to say.
    assert model(hostvars={"cp1": {"kubernetes_node_address": "192.0.2.11"}},
                 kubernetes_control_plane_endpoint="192.0.2.11:6443")["problems"] == []
    assert model(kubernetes_control_plane_endpoint="api.example.com:7443")["problems"] == []


# --------------------------------------------------------------------------- existing validate-play checks
@pytest.mark.parametrize(
    "settings, expected",
    [
        ({"kubernetes_pod_subnet": "10.244.0.0/33"}, "kubernetes_pod_subnet '10.244.0.0/33' is not a valid network"),
        ({"kubernetes_pod_subnet": "10.244.1.0/16"}, "host bits set"),
        ({"kubernetes_pod_subnet": "10.96.0.0/16"}, "overlap: they must be disjoint"),
        ({"kubernetes_pod_subnet": "fd00:10:244::/56"}, "must be of the same IP family"),
        ({"kubernetes_service_subnet": "10.0.0.0/8", "kubernetes_pod_subnet": "172.16.0.0/16"}, "at most /12"),
        ({"kubernetes_service_subnet": "10.96.0.0/29"}, "is too small: kubeadm needs at least 10 addresses"),
        ({"kubernetes_control_plane_endpoint": "k8s.example.com"}, "'k8s.example.com' is not host:port: no port"),
        ({"kubernetes_control_plane_endpoint": "fd00::10:6443"}, "[fd00::10:6443]:6443"),
    ],
)
def test_cluster_wide_problems(settings, expected):
    assert any(expected in p for p in model(**settings)["problems"]), model(**settings)["problems"]


def test_ha_without_endpoint():
    result = model(("cp1", "cp2", "cp3"))
    assert "kubernetes_control_plane_endpoint is empty but control_plane has 3 hosts (cp1, cp2, cp3)" in result["problems"][0]


def test_node_address_not_an_ip():
    result = model(hostvars={"w1": {"kubernetes_node_address": "10.0.0.300"}})
    assert any("kubernetes_node_address '10.0.0.300' of w1 is not an IP address" in p for p in result["problems"])


# --------------------------------------------------------------------------- load balancer (validate.yml cases)
LB_CASES = [
    ("dedicated-pair-ok", {}, GOOD, None),
    ("single-control-plane-no-lb-ok", {"control_planes": 1, "loadbalancers": 0}, {}, None),
    ("external-lb-ok", {"loadbalancers": 0}, {"kubernetes_control_plane_endpoint": "api.example.com:6443"}, None),
    ("colocated-ok", {"loadbalancers": 0},
     {"loadbalancer_colocated": True, "loadbalancer_vip": "10.20.30.5", "kubernetes_control_plane_endpoint": "10.20.30.5:8443"},
     None),
    ("haproxy-only-single-lb-ok", {"loadbalancers": 1}, {"kubernetes_control_plane_endpoint": "10.20.30.50:6443"}, None),
    ("ha-without-endpoint", {"loadbalancers": 0}, {}, "kubernetes_control_plane_endpoint is empty but control_plane has 3 hosts"),
    ("lb-without-endpoint", {}, {"loadbalancer_vip": "10.20.30.5"},
     "kubernetes_control_plane_endpoint is empty but a load balancer is configured on lb1, lb2: set it to"
     " <loadbalancer_vip>:<loadbalancer_port> (10.20.30.5:6443)."),
    ("keepalived-needs-two", {"loadbalancers": 1}, GOOD, "needs at least 2 load balancers; the loadbalancers group has 1 (lb1)"),
    ("vip-outside-network", {}, {"loadbalancer_vip": "10.20.31.5", "kubernetes_control_plane_endpoint": "10.20.31.5:6443"},
     "loadbalancer_vip=10.20.31.5 is outside 10.20.31.0/24 (loadbalancer_vip_prefix), the network of lb1 (address 10.20.30.50)"),
    ("vip-outside-with-prefix", {}, dict(GOOD, loadbalancer_vip_prefix=28), "loadbalancer_vip=10.20.30.5 is outside 10.20.30.0/28"),
    ("vip-is-a-host", {}, {"loadbalancer_vip": "10.20.30.50", "kubernetes_control_plane_endpoint": "10.20.30.50:6443"},
     "loadbalancer_vip=10.20.30.50 is the address of lb1"),
    ("vip-broadcast", {}, {"loadbalancer_vip": "10.20.30.255", "kubernetes_control_plane_endpoint": "10.20.30.255:6443"},
     "is the network or broadcast address of 10.20.30.0/24"),
    ("vip-not-ipv4", {}, {"loadbalancer_vip": "vip.example.com", "kubernetes_control_plane_endpoint": "vip.example.com:6443"},
     "loadbalancer_vip=vip.example.com is not an IPv4 address"),
    ("bad-prefix", {}, dict(GOOD, loadbalancer_vip_prefix=33), "loadbalancer_vip_prefix=33 is not a prefix length"),
    ("endpoint-host-not-vip", {}, dict(GOOD, kubernetes_control_plane_endpoint="10.20.30.6:6443"),
     "kubernetes_control_plane_endpoint=10.20.30.6:6443 has host 10.20.30.6 but loadbalancer_vip=10.20.30.5"),
    ("endpoint-port-not-frontend", {}, dict(GOOD, kubernetes_control_plane_endpoint="10.20.30.5:8443"),
     "uses port 8443 but the load balancer listens on loadbalancer_port=6443"),
    ("colocated-endpoint-on-6443", {"loadbalancers": 0},
     {"loadbalancer_colocated": True, "loadbalancer_vip": "10.20.30.5", "kubernetes_control_plane_endpoint": "10.20.30.5:6443"},
     "uses port 6443 but the load balancer listens on loadbalancer_port=8443"),
    ("colocated-port-clash", {"loadbalancers": 0},
     {"loadbalancer_colocated": True, "loadbalancer_port": 6443, "loadbalancer_vip": "10.20.30.5",
      "kubernetes_control_plane_endpoint": "10.20.30.5:6443"},
     "loadbalancer_port=6443 equals loadbalancer_backend_port=6443 with loadbalancer_colocated=true"),
    ("endpoint-malformed", {}, dict(GOOD, kubernetes_control_plane_endpoint="10.20.30.5"),
     "kubernetes_control_plane_endpoint=10.20.30.5 is not host:port"),
    ("router-id-range", {}, dict(GOOD, loadbalancer_virtual_router_id=300), "loadbalancer_virtual_router_id=300 is not within 1-255"),
    ("auth-pass-too-long", {}, dict(GOOD, loadbalancer_vrrp_auth_pass="longer-than-8"),
     "loadbalancer_vrrp_auth_pass has 13 characters"),
]


@pytest.mark.parametrize("inv, settings, expected", [c[1:] for c in LB_CASES], ids=[c[0] for c in LB_CASES])
def test_loadbalancer_problems(inv, settings, expected):
    settings = dict(settings)
    # loadbalancer_port is an inventory value of the load balancers (the first one's wins), as in the play.
    port = settings.pop("loadbalancer_port", None)
    result = ha(**dict(inv, **settings))
    if port is not None:
        result = cm.cluster_model(
            {"control_plane": ["cp1", "cp2", "cp3"], "workers": ["w1"], "loadbalancers": []},
            {"cp1": {"ansible_host": "10.20.30.10", "loadbalancer_port": port}, "cp2": {}, "cp3": {}, "w1": {}},
            dict(DEFAULTS, **settings))
    problems = result["loadbalancer"]["problems"]
    if expected is None:
        assert problems == []
    else:
        assert any(expected in p for p in problems), problems
    assert all("longer-than-8" not in p for p in problems)


def test_colocated_taken_from_the_first_backend_when_not_given():
    groups = {"control_plane": ["cp1", "cp2"], "workers": [], "loadbalancers": []}
    hv = {"cp1": {"loadbalancer_colocated": True, "ansible_host": "10.0.0.1"}, "cp2": {"ansible_host": "10.0.0.2"}}
    result = cm.cluster_model(groups, hv, dict(DEFAULTS, kubernetes_control_plane_endpoint="10.0.0.5:8443",
                                               loadbalancer_vip="10.0.0.5"))
    assert result["loadbalancer"]["colocated"] and result["loadbalancer"]["hosts"] == ["cp1", "cp2"]
    assert result["endpoint"]["load_balanced"] and result["loadbalancer"]["problems"] == []


# --------------------------------------------------------------------------- property tests of the arithmetic
ipv4_ints = st.integers(min_value=0, max_value=2 ** 32 - 1)
prefixes = st.integers(min_value=8, max_value=30)


def dotted(value):
    return str(ipaddress.IPv4Address(value))


@given(ipv4_ints, prefixes)
def test_network_contains_address_and_matches_integer_arithmetic(value, prefix):
    """The former Jinja arithmetic: network = address // size * size."""
    size = 2 ** (32 - prefix)
    network = cm.ipv4_network(dotted(value), prefix)
    assert network == "%s/%d" % (dotted(value // size * size), prefix)
    assert cm.address_in_network(dotted(value), network)
    assert cm.ipv4_to_int(dotted(value)) == value


@given(ipv4_ints, prefixes)
def test_network_or_broadcast_is_first_or_last(value, prefix):
    size = 2 ** (32 - prefix)
    assert cm.ipv4_is_network_or_broadcast(dotted(value), prefix) == (value % size in (0, size - 1))


@given(ipv4_ints, ipv4_ints, prefixes)
def test_same_network_is_symmetric_and_matches_integer_division(first, second, prefix):
    size = 2 ** (32 - prefix)
    same = cm.ipv4_same_network(dotted(first), dotted(second), prefix)
    assert same == cm.ipv4_same_network(dotted(second), dotted(first), prefix)
    assert same == (first // size == second // size)


@given(ipv4_ints, prefixes)
def test_vip_problems_agree_with_the_arithmetic(value, prefix):
    vip = dotted(value)
    size = 2 ** (32 - prefix)
    neighbour = dotted(value ^ 1)
    outsider = dotted((value + size) % 2 ** 32)
    problems = cm.vip_problems(vip, prefix, [{"host": "lb1", "address": vip}, {"host": "lb2", "address": neighbour},
                                             {"host": "lb3", "address": outsider}, {"host": "lb4", "address": "lb4.example"}])
    assert any("is the address of lb1" in p for p in problems)
    assert not any("lb2" in p for p in problems)
    assert any("the network of lb3" in p for p in problems)
    assert not any("lb4" in p for p in problems)
    assert any("network or broadcast" in p for p in problems) == (value % size in (0, size - 1))


@given(st.integers(min_value=0, max_value=32), st.integers(min_value=0, max_value=32))
def test_pod_subnet_capacity_follows_kubeadm(prefix, mask):
    count, error = cm.pod_subnet_node_capacity("0.0.0.0/%d" % prefix, mask)
    if prefix > mask or mask - prefix > 16:
        assert count == 0 and error
    else:
        assert count == 2 ** (mask - prefix) and error == ""


@given(st.ip_addresses(), st.integers(min_value=1, max_value=65535))
def test_format_endpoint_round_trips(address, port):
    info = cm.endpoint_info(cm.format_endpoint(str(address), port))
    assert info["valid"] and info["port"] == port
    assert ipaddress.ip_address(info["host"]) == address


@given(ipv4_ints, st.integers(min_value=0, max_value=32), ipv4_ints)
def test_address_in_network_matches_ipaddress(net_value, prefix, value):
    network = str(ipaddress.IPv4Network("%s/%d" % (dotted(net_value), prefix), strict=False))
    assert cm.address_in_network(dotted(value), network) == (ipaddress.IPv4Address(value) in ipaddress.IPv4Network(network))
    assert cm.networks_overlap(network, "%s/32" % dotted(value)) == cm.address_in_network(dotted(value), network)


# --------------------------------------------------------------------------- membership (join_secrets)
def node_state(host, control_plane=False, kubelet_conf=True, address=None, name=None, missing=()):
    return {"control_plane_node_state": {
        "host": host, "name": name or host, "address": address or "10.0.0.%d" % (len(host) + 1),
        "control_plane": control_plane, "kubelet_conf": kubelet_conf, "manifests_missing": list(missing)}}


def etcd_api(members, healthy, registered, **extra):
    """The registered uri results join_secrets feeds the filter: the member list and one /health answer each."""
    api = {"registered_nodes": registered,
           "etcd_list": {"changed": False, "json": {"header": {}, "members": members}},
           "etcd_health": {"changed": False, "results": [
               {"status": 200, "content": '{"health":"%s","reason":""}' % ("true" if m["ID"] in healthy else "false"),
                "item": m} for m in members if "clientURLs" in m]}}
    api.update(extra)
    return api


def member(member_id, address):
    host = "[%s]" % address if ":" in address else address
    return {"ID": member_id, "name": address, "peerURLs": ["https://%s:2380" % host], "clientURLs": ["https://%s:2379" % host]}


def test_membership_sorts_workers_by_kubelet_conf_and_node():
    hostvars = {"w1": node_state("w1"), "w2": node_state("w2", kubelet_conf=False), "w3": node_state("w3"),
                "w4": node_state("w4", kubelet_conf=False), "w5": {}}
    result = cm.membership(["w1", "w2", "w3", "w4", "w5", "w6"], hostvars, {"registered_nodes": ["cp1", "w1", "w4"]})
    assert result["hosts"] == {"w1": "joined", "w2": "pending", "w3": "only_local", "w4": "only_api", "w5": "stateless",
                               "w6": "stateless"}
    assert (result["joined"], result["pending"], result["stateless"]) == (["w1"], ["w2"], ["w5", "w6"])
    assert [s["host"] for s in result["only_local"]] == ["w3"] and [s["host"] for s in result["only_api"]] == ["w4"]
    assert result["claimed"] == [] and result["half_joined"] == [] and not result["control_plane_pending"]
    assert result["registered_nodes"] == ["cp1", "w1", "w4"]
    assert result["messages"] == {"half_joined": "", "inconsistent": (
        "Some nodes are half joined; repair them and run site.yml again:\n"
        '- w3: /etc/kubernetes/kubelet.conf exists but the API has no Node "w3"\n'
        "  (joined another cluster, or its Node object was deleted). Reset it:\n"
        "  ansible-playbook -i <inventory> reset.yml --limit w3 -e reset_confirm=true\n"
        '- w4: the API lists Node "w4" but the host has no /etc/kubernetes/kubelet.conf\n'
        "  (reset or reinstalled). Delete the stale Node object, then reset the host:\n"
        "  kubectl delete node w4\n"
        "  ansible-playbook -i <inventory> reset.yml --limit w4 -e reset_confirm=true\n")}


def test_membership_without_the_api_everything_without_kubelet_conf_is_pending():
    hostvars = {"cp2": node_state("cp2", control_plane=True, kubelet_conf=False), "w1": node_state("w1", kubelet_conf=False)}
    result = cm.membership(["cp2", "w1"], hostvars)
    assert result["pending"] == ["cp2", "w1"] and result["control_plane_pending"]
    assert not cm.membership(["w1"], hostvars)["control_plane_pending"]


def test_membership_node_name_not_host_name():
    hostvars = {"w1": node_state("w1", name="w1.example.test")}
    assert cm.membership(["w1"], hostvars, {"registered_nodes": ["w1"]})["hosts"] == {"w1": "only_local"}
    assert cm.membership(["w1"], hostvars, {"registered_nodes": ["w1.example.test"]})["hosts"] == {"w1": "joined"}


def test_membership_control_plane_healthy_member_is_joined():
    hostvars = {"cp2": node_state("cp2", control_plane=True, address="10.0.0.2")}
    members = [member("11", "10.0.0.1"), member("12", "10.0.0.2")]
    result = cm.membership(["cp2"], hostvars, etcd_api(members, ["11", "12"], ["cp1", "cp2"]))
    assert result["hosts"] == {"cp2": "joined"} and result["joined"] == ["cp2"]
    assert [s["host"] for s in result["claimed"]] == ["cp2"] and result["messages"]["half_joined"] == ""


def test_membership_half_joined_control_planes():
    hostvars = {"cp2": node_state("cp2", control_plane=True, address="10.0.0.2", missing=["etcd", "kube-apiserver"]),
                "cp3": node_state("cp3", control_plane=True, address="fd00::3", name="node-cp3"),
                "cp4": node_state("cp4", control_plane=True, address="10.0.0.4"),
                "w1": node_state("w1")}
    members = [member("11", "10.0.0.1"), member("12297829382473034410", "fd00::3"),
               {"ID": 4096, "name": "", "peerURLs": ["https://10.0.0.2:2380"]}]  # a learner: no client URL yet
    api = etcd_api(members, ["11"], ["cp1", "cp2", "node-cp3", "cp4", "w1"], repair_host="cp1", etcdctl="etcdctl --x")
    result = cm.membership(["cp2", "cp3", "cp4", "w1"], hostvars, api)
    assert result["hosts"] == {"cp2": "half_joined", "cp3": "half_joined", "cp4": "half_joined", "w1": "joined"}
    assert result["joined"] == ["w1"] and result["messages"]["inconsistent"] == ""
    assert result["half_joined"] == [
        {"host": "cp2", "name": "cp2", "member_id": "1000",
         "problems": ["static pod manifests missing: etcd, kube-apiserver", "etcd member 1000 is not healthy"]},
        {"host": "cp3", "name": "node-cp3", "member_id": "aaaaaaaaaaaaaaaa",
         "problems": ["etcd member aaaaaaaaaaaaaaaa is not healthy"]},
        {"host": "cp4", "name": "cp4", "member_id": None, "problems": ["no etcd member with peer URL https://10.0.0.4:2380"]}]
    assert result["messages"]["half_joined"] == (
        "Some control planes are half joined (a control-plane join that failed after kubelet.conf was written); nothing\n"
        "else joins until they are repaired. Repair each one, then run the playbook again:\n"
        '- cp2 (Node "cp2"): static pod manifests missing: etcd, kube-apiserver; etcd member 1000 is not healthy.\n'
        "  1. Reset the node (it also removes its etcd member through cp1):\n"
        "     ansible-playbook -i <inventory> reset.yml --limit cp2 -e reset_confirm=true\n"
        "  2. If etcd still lists its member 1000 afterwards, remove it on cp1:\n"
        "     etcdctl --x member remove 1000\n"
        '- cp3 (Node "node-cp3"): etcd member aaaaaaaaaaaaaaaa is not healthy.\n'
        "  1. Reset the node (it also removes its etcd member through cp1):\n"
        "     ansible-playbook -i <inventory> reset.yml --limit cp3 -e reset_confirm=true\n"
        "  2. If etcd still lists its member aaaaaaaaaaaaaaaa afterwards, remove it on cp1:\n"
        "     etcdctl --x member remove aaaaaaaaaaaaaaaa\n"
        '- cp4 (Node "cp4"): no etcd member with peer URL https://10.0.0.4:2380.\n'
        "  1. Reset the node (it also removes its etcd member through cp1):\n"
        "     ansible-playbook -i <inventory> reset.yml --limit cp4 -e reset_confirm=true\n"
        "  2. etcd lists no member for it: no etcd member to remove.\n")


def test_membership_etcd_not_listed_checks_only_the_manifests():
    hostvars = {"cp2": node_state("cp2", control_plane=True, missing=["etcd"]), "cp3": node_state("cp3", control_plane=True)}
    api = {"registered_nodes": ["cp2", "cp3"], "etcd_list": {"changed": False, "skipped": True},
           "etcd_health": {"changed": False, "skipped": True, "results": []}}
    result = cm.membership(["cp2", "cp3"], hostvars, api)
    assert result["hosts"] == {"cp2": "half_joined", "cp3": "joined"}
    assert result["half_joined"] == [{"host": "cp2", "name": "cp2", "member_id": None,
                                      "problems": ["static pod manifests missing: etcd"]}]


@pytest.mark.parametrize("answer", [
    {"status": 200, "content": '{"health":"false"}'},
    {"status": 503, "content": '{"health":"true"}'},
    {"status": -1, "msg": "Status code was -1 and not [200]: Request failed"},
    {"status": 200, "content": "not json"},
    {"status": 200, "content": '["true"]'},
    {"skipped": True},
])
def test_membership_member_unhealthy_unless_health_says_true(answer):
    hostvars = {"cp2": node_state("cp2", control_plane=True, address="10.0.0.2")}
    members = [member("12", "10.0.0.2")]
    api = {"registered_nodes": ["cp2"], "etcd_list": {"json": {"members": members}},
           "etcd_health": {"results": [dict(answer, item=members[0])]}}
    assert cm.membership(["cp2"], hostvars, api)["half_joined"][0]["problems"] == ["etcd member c is not healthy"]
    healthy = dict(api, etcd_health={"results": [{"status": 200, "content": '{"health": true}', "item": members[0]}]})
    assert cm.membership(["cp2"], hostvars, healthy)["hosts"] == {"cp2": "joined"}


@given(st.integers(min_value=0, max_value=2 ** 64 - 1))
def test_etcd_member_hex_as_etcdctl_prints_it(member_id):
    assert int(cm.etcd_member_hex(str(member_id)), 16) == member_id == int(cm.etcd_member_hex(member_id), 16)


@pytest.mark.parametrize("address, url", [("10.0.0.2", "https://10.0.0.2:2380"), ("fd00::2", "https://[fd00::2]:2380")])
def test_etcd_peer_url(address, url):
    assert cm.etcd_peer_url(address) == url
