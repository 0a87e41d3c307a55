# -*- coding: utf-8 -*-
"""Bad inputs found by the cluster model (plugins/module_utils/cluster_model.py) in the validate play, before any
host is contacted: node addresses in the pod or service network, duplicate node addresses, a host in both groups,
a pod subnet too small for the nodes, an endpoint port nothing serves; and the even-control-plane warning.

Same harness as test_validate.py (unreachable hosts; site.yml for bad cases, playbooks/validate.yml for good ones).
"""

from __future__ import annotations

import concurrent.futures
import re
import tempfile

import pytest
from test_validate import NODES, POOL, SITE, VALIDATE, _collections_path, _plays, _run, inventory

VALIDATE_PLAY = "Validate the inventory and variables (no host is contacted)"

BAD_CASES = {
    "node_address_in_pod_subnet": (
        inventory(host_vars={"w1": {"kubernetes_node_address": "10.244.3.4"}}),
        ["kubernetes_node_address '10.244.3.4' of w1", "inside kubernetes_pod_subnet '10.244.0.0/16'", "outside the pod"],
    ),
    "node_address_in_service_subnet": (
        inventory(host_vars={"cp1": {"kubernetes_node_address": "10.96.0.10"}}),
        ["kubernetes_node_address '10.96.0.10' of cp1", "inside kubernetes_service_subnet '10.96.0.0/12'"],
    ),
    "node_address_duplicate": (
        inventory(host_vars={"cp1": {"kubernetes_node_address": "192.0.2.10"}, "w1": {"kubernetes_node_address": "192.0.2.10"}}),
        ["kubernetes_node_address '192.0.2.10' is set on more than one host (cp1, w1)", "an address of its own"],
    ),
    "host_in_control_plane_and_workers": (
        inventory(groups={"control_plane": ["cp1"], "workers": ["cp1", "w1"]}),
        ["cp1 is in both control_plane and workers", "kubernetes_schedule_on_control_plane: true"],
    ),
    "pod_subnet_smaller_than_node_cidr": (
        inventory({"kubernetes_pod_subnet": "10.244.0.0/25"}),
        ["kubernetes_pod_subnet '10.244.0.0/25'", "node CIDR mask size 24", "prefix from /8 to /24"],
    ),
    "pod_subnet_too_few_node_cidrs": (
        inventory({"kubernetes_pod_subnet": "10.244.0.0/23"}, workers=("w1", "w2")),
        ["kubernetes_pod_subnet '10.244.0.0/23' is too small for 3 nodes", "2 node CIDRs of /24", "at most /22"],
    ),
    "endpoint_port_nobody_serves": (
        inventory({"kubernetes_control_plane_endpoint": "192.0.2.11:7443"},
                  host_vars={"cp1": {"kubernetes_node_address": "192.0.2.11"}}),
        ["kubernetes_control_plane_endpoint '192.0.2.11:7443'", "control plane cp1 on port 7443",
         "control_plane_bind_port 6443"],
    ),
}

GOOD_CASES = {
    "control_plane_also_worker_when_allowed": (
        inventory({"kubernetes_schedule_on_control_plane": True}, groups={"control_plane": ["cp1"], "workers": ["cp1", "w1"]}),
        [],
    ),
    "even_control_planes_warn": (
        inventory({"kubernetes_control_plane_endpoint": "api.example.com:6443"}, control_plane=("cp1", "cp2")),
        ["WARNING: control_plane has 2 hosts (cp1, cp2)", "use an odd number"],
    ),
    "endpoint_on_bind_port": (
        inventory({"kubernetes_control_plane_endpoint": "192.0.2.11:6443"},
                  host_vars={"cp1": {"kubernetes_node_address": "192.0.2.11"}}),
        [],
    ),
}


@pytest.fixture(scope="module")
def runs():
    with tempfile.TemporaryDirectory(prefix="kubeforge-validate-model-") as workdir:
        collections = _collections_path(workdir + "/collections")
        jobs = {name: (inv, SITE) for name, (inv, _expected) in BAD_CASES.items()}
        jobs.update({"good_" + name: (inv, VALIDATE) for name, (inv, _expected) in GOOD_CASES.items()})
        with concurrent.futures.ThreadPoolExecutor(max_workers=POOL) as pool:
            futures = {name: pool.submit(_run, workdir, collections, name, inv, playbook)
                       for name, (inv, playbook) in jobs.items()}
            yield {name: future.result() for name, future in futures.items()}


@pytest.mark.parametrize("name", sorted(BAD_CASES))
def test_bad_input_refused_before_any_host(runs, name):
    rc, output = runs[name]
    assert rc != 0, output
    assert _plays(output) == [VALIDATE_PLAY], output
    assert "UNREACHABLE" not in output, output
    for node in NODES:
        assert not re.search(r"^(ok|changed|fatal|failed|skipping): \[%s\]" % node, output, re.MULTILINE), output
    message = output[output.index("fatal: [localhost]"):]
    for text in BAD_CASES[name][1]:
        assert text in message, "%r not in the failure message:\n%s" % (text, message)


@pytest.mark.parametrize("name", sorted(GOOD_CASES))
def test_good_inventory_passes(runs, name):
    rc, output = runs["good_" + name]
    assert rc == 0, output
    assert "Inventory valid" in output, output
    for text in GOOD_CASES[name][1]:
        assert text in output, output
    if not GOOD_CASES[name][1]:
        assert "WARNING: control_plane" not in output, output
