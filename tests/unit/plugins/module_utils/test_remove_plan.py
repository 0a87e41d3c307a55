# -*- coding: utf-8 -*-
"""Unit tests for remove_nodes.yml's plan (plugins/module_utils/remove_plan.py, filter remove_plan)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


from ansible_collections.kubeforge.kubeadm.plugins.module_utils.remove_plan import healthy_members, peer_host, remove_plan

MEMBERS = [
    {"ID": "11", "name": "cp1", "peerURLs": ["https://10.0.0.11:2380"], "clientURLs": ["https://10.0.0.11:2379"]},
    {"ID": "12", "name": "cp2", "peerURLs": ["https://10.0.0.12:2380"]},
    {"ID": "13", "name": "", "peerURLs": ["https://10.0.0.13:2380"]},
]
NODES = {"items": [{"metadata": {"name": "cp1"}}, {"metadata": {"name": "cp2"}}, {"metadata": {"name": "w1"}}]}
ANSWERED = {"remove_probe": {"changed": False}, "remove_probe_state": {"results": [{"stat": {"exists": False}}, {"stat": {"exists": True}}]}}


def _health(*ids, status=200, health="true"):
    return [{"status": status, "content": '{"health":"%s","reason":""}' % health, "item": {"ID": i}} for i in ids]


def test_healthy_members():
    results = _health("11") + _health("12", health="false") + _health("13", status=503) + [
        {"status": 200, "content": "", "item": {"ID": "14"}}, {"status": 200, "content": "not json", "item": {"ID": "15"}},
        {"status": 200, "content": '{"health": true}', "item": {"ID": "16"}}]
    assert healthy_members(results) == ["11", "16"]


def test_peer_host():
    assert peer_host({"peerURLs": ["https://[fd00::5]:2380"]}) == "fd00::5"
    assert peer_host({"peerURLs": []}) == ""
    assert peer_host({}) == ""


def test_control_plane_and_worker():
    hostvars = {
        "cp2": dict(ANSWERED, ansible_facts={"nodename": "CP2"}),
        "w1": {"remove_probe": {}, "ansible_facts": {"nodename": "w1"}},
    }
    plan = remove_plan(["cp2", "w1"], hostvars, NODES, MEMBERS, _health("11", "12", "13"), {"cp2": "10.0.0.12", "w1": "10.0.0.21"})
    cp2, w1 = plan["nodes"]
    assert cp2 == {"host": "cp2", "name": "cp2", "reachable": True, "is_node": True, "members": ["12"],
                   "kubeadm_state": True, "work": True, "unhealthy_member": False}
    assert w1["members"] == [] and w1["work"] and not w1["kubeadm_state"]
    assert plan["etcd"] == {"removed": ["cp2"], "left": ["13", "cp1"], "healthy_left": ["13", "cp1"]}


def test_member_found_by_peer_address_and_unreachable_host():
    # A dead node: no probe answer, no nodename fact; its member is found through the model's address.
    hostvars = {"cp3": {"remove_probe": {"failed": True, "unreachable": True}}}
    plan = remove_plan(["cp3"], hostvars, NODES, MEMBERS, _health("11", "12"), {"cp3": "10.0.0.13"})
    node = plan["nodes"][0]
    assert node["name"] == "cp3" and not node["reachable"] and not node["kubeadm_state"]
    assert node["members"] == ["13"] and node["work"] and node["unhealthy_member"]
    assert plan["etcd"] == {"removed": ["13"], "left": ["cp1", "cp2"], "healthy_left": ["cp1", "cp2"]}


def test_not_a_member_has_no_work():
    hostvars = {"w9": dict(ANSWERED, ansible_facts={"nodename": "w9"},
                           remove_probe_state={"results": [{"stat": {"exists": False}}]})}
    plan = remove_plan(["w9"], hostvars, NODES, [], [], {"w9": "10.0.0.99"})
    assert plan["nodes"][0]["work"] is False
    assert plan["etcd"] == {"removed": [], "left": [], "healthy_left": []}


def test_members_of_a_host_without_work_are_not_removed():
    # Unreachable host of the inventory whose address is unknown to etcd and that is no Node: nothing to remove.
    plan = remove_plan(["x"], {"x": {}}, {"items": []}, MEMBERS, _health("11", "12"), {})
    assert plan["nodes"][0]["work"] is False
    assert plan["etcd"]["left"] == ["13", "cp1", "cp2"] and plan["etcd"]["healthy_left"] == ["cp1", "cp2"]


def test_peer_host_forms():
    assert peer_host({"peerURLs": ["https://Node-1.Example:2380/x"]}) == "node-1.example"
    assert peer_host({"peerURLs": ["https://user@10.0.0.1"]}) == "10.0.0.1"
    assert peer_host({"peerURLs": ["10.0.0.1:2380"]}) == ""
