"""Unit tests of the API server stand-in's pure parts (no etcd, no network)."""

import base64
import hashlib
import hmac
import json
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from kubesim.apiserver import auth, flags, patch, proto, tables  # noqa: E402
from kubesim.apiserver.controllers import detached_jws  # noqa: E402
from kubesim.apiserver.resources import Registry  # noqa: E402
from kubesim.apiserver.store import APIError, parse_field_selector, parse_label_selector  # noqa: E402


def test_flags():
    opts = flags.parse(["--secure-port", "6443", "--allow-privileged", "--etcd-servers=https://a:2379",
                        "--authorization-mode=Node,RBAC"])
    assert opts["secure-port"] == "6443" and opts["allow-privileged"] == "true"
    assert opts["bind-address"] == "0.0.0.0"
    with pytest.raises(flags.FlagError, match="unknown flag: --nope"):
        flags.parse(["--nope=1"])


def test_strategic_merge_lists_and_directives():
    live = {"spec": {"containers": [{"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}]},
                                    {"name": "b", "image": "b:1"}],
                     "tolerations": [{"operator": "Exists"}]},
            "metadata": {"finalizers": ["f1"]}}
    p = {"spec": {"containers": [{"name": "a", "env": [{"name": "Y", "value": "2"}]},
                                 {"name": "b", "$patch": "delete"}],
                  "tolerations": [{"key": "k", "operator": "Equal"}]},
         "metadata": {"finalizers": ["f2"], "$deleteFromPrimitiveList/finalizers": ["f1"]}}
    out = patch.strategic_merge(live, p)
    assert out["spec"]["containers"] == [{"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"},
                                                                              {"name": "Y", "value": "2"}]}]
    assert out["spec"]["tolerations"] == [{"key": "k", "operator": "Equal"}]  # atomic list
    assert out["metadata"]["finalizers"] == ["f2"]
    out = patch.strategic_merge({"a": {"b": 1, "c": 2}}, {"a": {"$patch": "replace", "d": 3}})
    assert out == {"a": {"d": 3}}
    out = patch.strategic_merge({"status": {"conditions": [{"type": "Ready", "status": "False", "x": 1}]}},
                                {"status": {"conditions": [{"type": "Ready", "status": "True"}]}})
    assert out["status"]["conditions"] == [{"type": "Ready", "status": "True", "x": 1}]


def test_merge_and_json_patch():
    assert patch.merge_patch({"a": 1, "b": {"c": 2}}, {"a": None, "b": {"d": 3}}) == {"b": {"c": 2, "d": 3}}
    doc = {"a": [1, 2], "m": {"k": "v"}}
    out = patch.json_patch(doc, [{"op": "add", "path": "/a/-", "value": 3}, {"op": "remove", "path": "/m/k"},
                                 {"op": "replace", "path": "/a/0", "value": 0},
                                 {"op": "add", "path": "/m/x~1y", "value": 1}])
    assert out == {"a": [0, 2, 3], "m": {"x/y": 1}}
    with pytest.raises(patch.PatchError):
        patch.json_patch(doc, [{"op": "test", "path": "/a/0", "value": 9}])


def test_field_sets_for_apply():
    fs = patch.field_set({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "labels": {"a": "b"}},
                          "data": {"k": "v"}})
    assert fs == {"f:metadata": {"f:labels": {"f:a": {}}}, "f:data": {"f:k": {}}}
    live = {"data": {"k": "v", "old": "1"}}
    patch.remove_fields(live, patch.subtract({"f:data": {"f:k": {}, "f:old": {}}}, {"f:data": {"f:k": {}}}))
    assert live == {"data": {"k": "v"}}


def test_selectors():
    reg = Registry()
    pods = reg.lookup("", "v1", "pods")
    sel = parse_label_selector("app in (a,b),tier!=db,!legacy,env")
    assert sel({"app": "a", "env": "x"}) and not sel({"app": "c", "env": "x"})
    assert not sel({"app": "a", "env": "x", "legacy": "1"}) and not sel({"app": "a"})
    fp = parse_field_selector("spec.nodeName=n1,status.phase!=Failed", pods)
    assert fp({"spec": {"nodeName": "n1"}, "status": {"phase": "Running"}})
    assert not fp({"spec": {"nodeName": "n1"}, "status": {"phase": "Failed"}})
    with pytest.raises(APIError, match="field label not supported: spec.foo"):
        parse_field_selector("spec.foo=1", pods)


def test_rbac_rule_matching():
    u = auth.User("alice", ["g1"])
    a = auth.Attributes("get", u, "configmaps", "", "", "kube-public", "cluster-info")
    assert auth.rule_allows({"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["cluster-info"],
                             "verbs": ["get"]}, a)
    assert not auth.rule_allows({"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["other"],
                                 "verbs": ["get"]}, a)
    s = auth.Attributes("patch", u, "nodes", "", "status", "", "n1")
    assert auth.rule_allows({"apiGroups": [""], "resources": ["nodes/status"], "verbs": ["patch"]}, s)
    assert not auth.rule_allows({"apiGroups": [""], "resources": ["nodes"], "verbs": ["patch"]}, s)
    assert auth.rule_allows({"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}, s)
    n = auth.Attributes("get", u, path="/healthz")
    assert auth.rule_allows({"nonResourceURLs": ["/healthz"], "verbs": ["get"]}, n)
    assert auth.rule_allows({"nonResourceURLs": ["/heal*"], "verbs": ["get"]}, n)
    assert auth.forbidden_message(auth.Attributes("list", u, "secrets", "", "", "kube-system")) == (
        'secrets is forbidden: User "alice" cannot list resource "secrets" in API group "" in the namespace '
        '"kube-system"')


def test_detached_jws():
    content = "apiVersion: v1\nkind: Config\n"
    sig = detached_jws(content, "abcdef", "0123456789abcdef")
    header, empty, mac = sig.split(".")
    assert empty == "" and base64.urlsafe_b64decode(header + "==") == b'{"alg":"HS256","kid":"abcdef"}'
    payload = base64.urlsafe_b64encode(content.encode()).rstrip(b"=").decode()
    want = hmac.new(b"0123456789abcdef", (header + "." + payload).encode(), hashlib.sha256).digest()
    assert base64.urlsafe_b64decode(mac + "=") == want


def _pb_field(num, data):
    out = bytes([num << 3 | 2])
    n = len(data)
    while n >= 0x80:
        out += bytes([n & 0x7F | 0x80])
        n >>= 7
    return out + bytes([n]) + data


def test_protobuf_namespace_body():
    meta = _pb_field(1, b"kf") + _pb_field(11, _pb_field(1, b"a") + _pb_field(2, b"b"))
    raw = _pb_field(1, meta)
    typemeta = _pb_field(1, b"v1") + _pb_field(2, b"Namespace")
    body = proto.MAGIC + _pb_field(1, typemeta) + _pb_field(2, raw)
    assert proto.decode(body) == {"apiVersion": "v1", "kind": "Namespace",
                                  "metadata": {"name": "kf", "labels": {"a": "b"}}}


def test_tables_and_durations():
    assert [tables.human_duration(s) for s in (5, 150, 700, 4000, 30000, 200000, 90 * 86400)] == \
        ["5s", "2m30s", "11m", "66m", "8h", "2d7h", "90d"]
    reg = Registry()
    node = {"metadata": {"name": "n1", "creationTimestamp": "2020-01-01T00:00:00Z",
                         "labels": {"node-role.kubernetes.io/control-plane": ""}},
            "spec": {"unschedulable": True},
            "status": {"conditions": [{"type": "Ready", "status": "True"}], "nodeInfo": {"kubeletVersion": "v1.37.1"}}}
    t = tables.table(reg.lookup("", "v1", "nodes"), [node], 5)
    assert [c["name"] for c in t["columnDefinitions"] if c["priority"] == 0] == ["Name", "Status", "Roles", "Age",
                                                                                "Version"]
    assert t["rows"][0]["cells"][:3] == ["n1", "Ready,SchedulingDisabled", "control-plane"]
    assert json.dumps(t)


@pytest.mark.parametrize("conditions,unschedulable,expected", [
    ([{"type": "Ready", "status": "True"}], False, "Ready"),
    ([{"type": "Ready", "status": "False", "reason": "KubeletNotReady"}], False, "NotReady"),
    # heartbeats stopped: the node lifecycle controller sets Ready=Unknown, kubectl still says NotReady
    ([{"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown"}], False, "NotReady"),
    ([{"type": "Ready", "status": "Unknown"}], True, "NotReady,SchedulingDisabled"),
    ([{"type": "Ready", "status": "False"}], True, "NotReady,SchedulingDisabled"),
    # no Ready condition at all (a Node object the kubelet has not reported on yet)
    ([], False, "Unknown"),
    ([{"type": "MemoryPressure", "status": "False"}], False, "Unknown"),
    ([], True, "Unknown,SchedulingDisabled"),
])
def test_node_status_column_as_kubectl_prints_it(conditions, unschedulable, expected):
    """printNode in kubernetes pkg/printers/internalversion: "Not"+type whenever the Ready
    condition's status is not True, "Unknown" only without one, then SchedulingDisabled."""
    node = {"metadata": {"name": "n1", "creationTimestamp": "2020-01-01T00:00:00Z"},
            "spec": {"unschedulable": True} if unschedulable else {},
            "status": {"conditions": conditions, "nodeInfo": {"osImage": ""}}}
    row = tables.node_row(node)
    assert row[1] == expected
    assert row[2] == "<none>"  # no role labels
    assert row[5:8] == ["<none>", "<none>", "<unknown>"]  # wide: no addresses, empty osImage


def test_field_tree_helpers():
    old = {"metadata": {"labels": {"a": "1"}}, "spec": {"replicas": 1, "template": {"spec": {"containers": [
        {"name": "c", "image": "i:1"}]}}}}
    new = {"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"replicas": 2, "template": {"spec": {"containers": [
        {"name": "c", "image": "i:2"}, {"name": "d", "image": "d"}]}}}}
    ch = patch.changed_fields(old, new)
    assert ch["f:metadata"] == {"f:labels": {"f:b": {}}}
    assert ch["f:spec"]["f:replicas"] == {}
    cs = ch["f:spec"]["f:template"]["f:spec"]["f:containers"]
    assert cs['k:{"name":"c"}'] == {"f:image": {}} and "." in cs['k:{"name":"d"}']
    path = ("f:spec", "f:template", "f:spec", "f:containers", 'k:{"name":"c"}', "f:image")
    assert path in patch.leaf_paths(ch)
    assert patch.value_at(new, path) == "i:2"
    assert patch.path_string(path) == '.spec.template.spec.containers[name="c"].image'
    tree = patch.union({"f:a": {"f:b": {}}}, {"f:a": {"f:c": {}}})
    assert tree == {"f:a": {"f:b": {}, "f:c": {}}}
    patch.remove_path(tree, ("f:a", "f:b"))
    patch.remove_path(tree, ("f:a", "f:c"))
    assert tree == {}
