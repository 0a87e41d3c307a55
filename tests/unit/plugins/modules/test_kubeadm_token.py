# -*- coding: utf-8 -*-
"""Run the kubeadm_token module for real (a subprocess, as Ansible runs it) against a fake kubeadm on PATH."""

import base64
import datetime
import json
import os
import shutil
import stat
import subprocess
import sys

import pytest

import ansible
import ansible_collections.kubeforge.kubeadm.plugins.modules.kubeadm_token as module_under_test
from ansible_collections.kubeforge.kubeadm.plugins.module_utils import kubeadm

HERE = os.path.dirname(os.path.abspath(__file__))
FAKE = os.path.join(HERE, "fake_kubeadm.py")
EC_CA = os.path.join(HERE, "..", "module_utils", "fixtures", "ca-ec-p256.pem")
H1 = "sha256:71257ccd57b9c01017529ce5b2f95543f8ab1eeea5a0138437c2fcaba399160f"
DESCRIPTION = "kubeforge.kubeadm join token"
GROUP = "system:bootstrappers:kubeadm:default-node-token"
KEY = "7fcb39eb353636d414ec2598d3f20f2d3be13c6938de34e489cf81fac925cba4"
UTC = datetime.timezone.utc


def _tree_root():
    path = os.path.abspath(module_under_test.__file__)
    for _level in range(6):  # modules, plugins, kubeadm, kubeforge, ansible_collections
        path = os.path.dirname(path)
    return path


def real_kubectl():
    """The kubectl the kubeconfig is really parsed with: the one beside this Python (the venv), else on PATH."""
    beside = os.path.join(os.path.dirname(sys.executable), "kubectl")
    found = beside if os.access(beside, os.X_OK) else shutil.which("kubectl")
    if not found:
        pytest.fail("these tests parse kubeconfigs with the real kubectl: put kubectl on PATH (the dev venv has it)")
    return found


def admin_kubeconfig(ca_pem, server):
    """An admin.conf laid out exactly as kubeadm writes it."""
    ca = base64.b64encode(ca_pem.encode()).decode()
    return ("apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: %s\n    server: %s\n"
            "  name: kubernetes\ncontexts:\n- context:\n    cluster: kubernetes\n    user: kubernetes-admin\n"
            "  name: kubernetes-admin@kubernetes\ncurrent-context: kubernetes-admin@kubernetes\nkind: Config\n"
            "preferences: {}\nusers:\n- name: kubernetes-admin\n  user:\n    client-certificate-data: %s\n"
            "    client-key-data: %s\n" % (ca, server, ca, ca))


class Cluster:
    """A temp dir with a fake kubeadm first on PATH, its state, and an admin kubeconfig.

    ``reader`` says what the host offers to parse the kubeconfig: ``kubectl`` (a spy that logs its
    arguments and runs the real kubectl), ``pyyaml`` (no kubectl anywhere on PATH) or ``none`` (no
    kubectl and an ``import yaml`` that fails); ``hide_pyyaml()`` hides PyYAML from the module's Python.
    """

    def __init__(self, tmp_path, ca_pem, server="https://192.168.56.10:6443", reader="kubectl", kubeconfig_text=None):
        self.tmp = tmp_path
        self.state_dir = tmp_path / "state"
        self.state_dir.mkdir()
        bindir = tmp_path / "bin"
        bindir.mkdir()
        wrapper = bindir / "kubeadm"
        wrapper.write_text('#!/bin/sh\nexec "%s" "%s" "$@"\n' % (sys.executable, FAKE))
        wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        self.kubectl_log = tmp_path / "kubectl-calls.txt"
        self.kubeconfig = tmp_path / "admin.conf"
        self.kubeconfig.write_text(kubeconfig_text if kubeconfig_text is not None else admin_kubeconfig(ca_pem, server))
        self.env = dict(os.environ)
        if reader == "kubectl":
            spy = bindir / "kubectl"
            spy.write_text("#!/bin/sh\nprintf '%%s\\037' \"$@\" >> '%s'\necho >> '%s'\nexec '%s' \"$@\"\n"
                           % (self.kubectl_log, self.kubectl_log, real_kubectl()))
            spy.chmod(wrapper.stat().st_mode)
            self.env["PATH"] = str(bindir) + os.pathsep + self.env.get("PATH", "/usr/bin:/bin")
        else:
            self.env["PATH"] = str(bindir)  # kubectl is nowhere to be found
        self.env["FAKE_KUBEADM_STATE"] = str(self.state_dir)
        self.env["PYTHONPATH"] = os.pathsep.join(
            [_tree_root(), os.path.dirname(os.path.dirname(os.path.abspath(ansible.__file__)))])
        if reader == "none":
            self.hide_pyyaml()
        self.runs = 0

    def hide_pyyaml(self):
        """Make ``import yaml`` fail in the module's Python, as on a host without PyYAML."""
        hidden = self.tmp / "no-pyyaml" / "yaml"
        hidden.mkdir(parents=True)
        (hidden / "__init__.py").write_text('raise ImportError("No module named \'yaml\' (hidden by the test)")\n')
        self.env["PYTHONPATH"] = str(hidden.parent) + os.pathsep + self.env["PYTHONPATH"]

    def kubectl_calls(self):
        if not self.kubectl_log.exists():
            return []
        return [line.split("\037")[:-1] for line in self.kubectl_log.read_text().splitlines()]

    # state of the fake kubeadm
    def state(self):
        path = self.state_dir / "state.json"
        if not path.exists():
            return {"tokens": [], "uploads": [], "fail": {}}
        return json.loads(path.read_text())

    def set_state(self, state):
        (self.state_dir / "state.json").write_text(json.dumps(state))

    def add_token(self, token, expires_in=None, description=DESCRIPTION, usages=("authentication", "signing"),
                  groups=(GROUP,)):
        state = self.state()
        expires = None
        if expires_in is not None:
            expires = (datetime.datetime.now(UTC) + datetime.timedelta(seconds=expires_in)).strftime("%Y-%m-%dT%H:%M:%SZ")
        state["tokens"].append({"token": token, "description": description, "expires": expires,
                                "usages": list(usages), "groups": list(groups)})
        self.set_state(state)

    def fail(self, subcommand, message):
        state = self.state()
        state.setdefault("fail", {})[subcommand] = message
        self.set_state(state)

    def calls(self):
        path = self.state_dir / "calls.json"
        return json.loads(path.read_text()) if path.exists() else []

    def mutating_calls(self):
        return [c for c in self.calls() if c[:2] in (["token", "create"], ["token", "delete"])
                or c[:3] == ["init", "phase", "upload-certs"]]

    def run(self, check_mode=False, **args):
        args.setdefault("kubeconfig", str(self.kubeconfig))
        if check_mode:
            args["_ansible_check_mode"] = True
        self.runs += 1
        args_file = self.tmp / ("args-%d.json" % self.runs)
        args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
        proc = subprocess.run(
            [sys.executable, "-m", module_under_test.__name__, str(args_file)],
            env=self.env, cwd=str(self.tmp), capture_output=True, text=True, timeout=60, check=False)
        assert proc.stdout.strip(), "module printed nothing; stderr: %s" % proc.stderr
        result = json.loads(proc.stdout)
        result["_rc"] = proc.returncode
        result["_raw"] = proc.stdout + proc.stderr
        return result


@pytest.fixture
def ec_pem():
    with open(EC_CA) as handle:
        return handle.read()


@pytest.fixture
def cluster(tmp_path, ec_pem):
    return Cluster(tmp_path, ec_pem)


def assert_join_command(result, token, endpoint="192.168.56.10:6443", hashes=(H1,)):
    parsed = kubeadm.parse_join_command(result["join_command"])
    assert parsed == {"api_server_endpoint": endpoint, "token": token, "discovery_token_ca_cert_hashes": list(hashes),
                      "unsafe_skip_ca_verification": False, "control_plane": False, "certificate_key": None}


def test_creates_a_token_when_none_exists(cluster):
    result = cluster.run()
    assert result["_rc"] == 0, result
    assert result["changed"] is True and result["created"] is True and result["reused"] is False
    tokens = cluster.state()["tokens"]
    assert len(tokens) == 1
    assert tokens[0]["token"] == result["token"]
    assert tokens[0]["description"] == DESCRIPTION
    assert tokens[0]["usages"] == ["authentication", "signing"] and tokens[0]["groups"] == [GROUP]
    assert_join_command(result, tokens[0]["token"])
    assert result["api_server_endpoint"] == "192.168.56.10:6443"
    assert result["discovery_token_ca_cert_hashes"] == [H1]
    expires = datetime.datetime.fromisoformat(result["expires"])
    left = (expires - datetime.datetime.now(UTC)).total_seconds()
    assert 3500 < left <= 3600  # default ttl 1h
    create = [c for c in cluster.calls() if c[:2] == ["token", "create"]][0]
    assert create[create.index("--ttl") + 1] == "1h"
    assert create[create.index("--usages") + 1] == "authentication,signing"
    assert create[create.index("--kubeconfig") + 1] == str(cluster.kubeconfig)


def test_second_run_reuses_the_token(cluster):
    first = cluster.run()
    second = cluster.run()
    assert second["_rc"] == 0
    assert second["changed"] is False and second["created"] is False and second["reused"] is True
    assert second["token"] == first["token"]
    assert second["join_command"] == first["join_command"]
    assert len(cluster.state()["tokens"]) == 1
    assert len([c for c in cluster.calls() if c[:2] == ["token", "create"]]) == 1


def test_expired_token_is_ignored(cluster):
    cluster.add_token("aaaaaa.aaaaaaaaaaaaaaaa", expires_in=-600)
    result = cluster.run()
    assert result["changed"] is True and result["created"] is True
    assert result["token"] != "aaaaaa.aaaaaaaaaaaaaaaa"
    assert len(cluster.state()["tokens"]) == 2


def test_token_with_too_little_life_is_not_reused(cluster):
    cluster.add_token("bbbbbb.bbbbbbbbbbbbbbbb", expires_in=10 * 60)
    result = cluster.run(reuse_min_ttl="15m")
    assert result["created"] is True and result["token"] != "bbbbbb.bbbbbbbbbbbbbbbb"
    cluster.add_token("cccccc.cccccccccccccccc", expires_in=20 * 60, description="other")
    again = cluster.run(reuse_min_ttl="5m", description="other")
    assert again["reused"] is True and again["token"] == "cccccc.cccccccccccccccc" and again["changed"] is False


def test_best_token_reused_and_mismatches_skipped(cluster):
    cluster.add_token("dddddd.dddddddddddddddd", expires_in=30 * 60)
    cluster.add_token("eeeeee.eeeeeeeeeeeeeeee", expires_in=50 * 60)
    cluster.add_token("ffffff.ffffffffffffffff", expires_in=None, description="someone else")
    cluster.add_token("gggggg.gggggggggggggggg", expires_in=None, usages=("signing",))
    cluster.add_token("hhhhhh.hhhhhhhhhhhhhhhh", expires_in=None, groups=("system:bootstrappers:other",))
    result = cluster.run()
    assert result["reused"] is True and result["token"] == "eeeeee.eeeeeeeeeeeeeeee"
    assert_join_command(result, "eeeeee.eeeeeeeeeeeeeeee")
    assert not cluster.mutating_calls()


def test_never_expiring_token_reused(cluster):
    cluster.add_token("iiiiii.iiiiiiiiiiiiiiii", expires_in=None)
    result = cluster.run()
    assert result["reused"] is True and result["expires"] is None and result["changed"] is False


def test_check_mode_creates_nothing(cluster):
    result = cluster.run(check_mode=True)
    assert result["_rc"] == 0
    assert result["changed"] is True and result["created"] is False
    assert result["token"] is None and result["join_command"] is None
    assert any(a.startswith("create a token") for a in result["actions"])
    assert not cluster.state()["tokens"]
    assert not cluster.mutating_calls()
    assert [c[:2] for c in cluster.calls()] == [["token", "list"]]


def test_check_mode_with_reusable_token_and_control_plane(cluster):
    cluster.add_token("jjjjjj.jjjjjjjjjjjjjjjj", expires_in=3000)
    result = cluster.run(check_mode=True, control_plane=True)
    assert result["changed"] is True and result["certificates_uploaded"] is False
    assert result["token"] == "jjjjjj.jjjjjjjjjjjjjjjj"
    assert result["actions"] == ["reuse token jjjjjj", "generate a certificate key", "upload control-plane certificates"]
    assert not cluster.mutating_calls() and not cluster.state()["uploads"]
    assert "control_plane_join_command" not in result


def test_control_plane_generates_key_and_uploads(cluster):
    result = cluster.run(control_plane=True)
    assert result["_rc"] == 0, result
    assert result["changed"] is True and result["certificates_uploaded"] is True
    key = result["certificate_key"]
    assert kubeadm.is_valid_certificate_key(key)
    assert cluster.state()["uploads"] == [key]
    assert [c[:2] for c in cluster.calls()].count(["certs", "certificate-key"]) == 1
    upload = [c for c in cluster.calls() if c[:3] == ["init", "phase", "upload-certs"]][0]
    assert "--upload-certs" in upload and "--config" in upload
    assert upload[upload.index("--kubeconfig") + 1] == str(cluster.kubeconfig)
    parsed = kubeadm.parse_join_command(result["control_plane_join_command"])
    assert parsed["control_plane"] is True and parsed["certificate_key"] == key
    assert parsed["token"] == result["token"] and parsed["discovery_token_ca_cert_hashes"] == [H1]
    assert_join_command(result, result["token"])
    # the upload left kubeadm's proxy token (no usages): never picked for joining
    again = cluster.run()
    assert again["reused"] is True and again["token"] == result["token"]


def test_control_plane_with_given_key_and_reused_token(cluster):
    cluster.add_token("kkkkkk.kkkkkkkkkkkkkkkk", expires_in=3000)
    result = cluster.run(control_plane=True, certificate_key=KEY)
    assert result["changed"] is True and result["created"] is False and result["reused"] is True
    assert cluster.state()["uploads"] == [KEY]
    assert not [c for c in cluster.calls() if c[:2] == ["certs", "certificate-key"]]
    # values of no_log options are masked by Ansible in everything returned
    assert KEY not in result["_raw"]
    assert result["control_plane_join_command"].endswith("--control-plane --certificate-key ********")


@pytest.mark.parametrize("given_key", [None, KEY])
def test_certificate_key_never_on_a_command_line(cluster, given_key):
    """ps shows every argv: the key reaches kubeadm in a 0600 InitConfiguration file that is gone afterwards."""
    result = cluster.run(control_plane=True, certificate_key=given_key)
    assert result["_rc"] == 0, result
    key = cluster.state()["uploads"][0]
    assert kubeadm.is_valid_certificate_key(key) and (given_key is None or key == given_key)
    calls = cluster.calls()
    assert calls and all(key not in word for call in calls for word in call)
    assert not [w for call in calls for w in call if w.startswith("--certificate-key")]
    upload = [c for c in calls if c[:3] == ["init", "phase", "upload-certs"]]
    assert len(upload) == 1
    config = upload[0][upload[0].index("--config") + 1]
    assert cluster.state()["config_modes"] == ["0o600"]
    assert not os.path.exists(config)


def test_explicit_token_created_then_reused(cluster):
    token = "abcdef.0123456789abcdef"
    first = cluster.run(token=token)
    assert first["created"] is True
    assert [t["token"] for t in cluster.state()["tokens"]] == [token]
    create = [c for c in cluster.calls() if c[:2] == ["token", "create"]][0]
    assert create[2] == token
    second = cluster.run(token=token)
    assert second["reused"] is True and second["changed"] is False
    assert token not in second["_raw"]  # masked as a no_log value


def test_explicit_token_too_old_is_replaced(cluster):
    token = "abcdef.0123456789abcdef"
    cluster.add_token(token, expires_in=60)
    result = cluster.run(token=token)
    assert result["changed"] is True and result["created"] is True
    tokens = cluster.state()["tokens"]
    assert len(tokens) == 1 and tokens[0]["token"] == token
    left = (datetime.datetime.fromisoformat(tokens[0]["expires"].replace("Z", "+00:00"))
            - datetime.datetime.now(UTC)).total_seconds()
    assert left > 3000


def test_absent_by_description(cluster):
    cluster.add_token("llllll.llllllllllllllll", expires_in=3000)
    cluster.add_token("mmmmmm.mmmmmmmmmmmmmmmm", expires_in=-30)
    cluster.add_token("nnnnnn.nnnnnnnnnnnnnnnn", expires_in=3000, description="keep me")
    check = cluster.run(check_mode=True, state="absent")
    assert check["changed"] is True and check["deleted"] == ["llllll", "mmmmmm"]
    assert len(cluster.state()["tokens"]) == 3
    result = cluster.run(state="absent")
    assert result["changed"] is True and result["deleted"] == ["llllll", "mmmmmm"]
    assert [t["token"] for t in cluster.state()["tokens"]] == ["nnnnnn.nnnnnnnnnnnnnnnn"]
    again = cluster.run(state="absent")
    assert again["changed"] is False and again["deleted"] == []


def test_absent_by_token(cluster):
    cluster.add_token("oooooo.oooooooooooooooo", expires_in=3000)
    cluster.add_token("pppppp.pppppppppppppppp", expires_in=3000)
    result = cluster.run(state="absent", token="pppppp.pppppppppppppppp")
    assert result["changed"] is True and result["deleted"] == ["pppppp"]
    assert [t["token"] for t in cluster.state()["tokens"]] == ["oooooo.oooooooooooooooo"]
    delete = [c for c in cluster.calls() if c[:2] == ["token", "delete"]][0]
    assert "pppppp.pppppppppppppppp" not in delete  # deleted by ID, the secret half never on a command line


def test_kubeadm_failure_reports_stderr_and_redacted_command(cluster):
    cluster.fail("init phase upload-certs", "error uploading certs: Unauthorized")
    result = cluster.run(control_plane=True)
    assert result["_rc"] == 1 and result["failed"] is True
    assert "error: error uploading certs: Unauthorized" in result["msg"]
    assert "To see the stack trace" in result["msg"]
    assert "init phase upload-certs --upload-certs --config " in result["msg"]
    assert result["rc"] == 1
    assert result["changed"] is True  # the token was created before the upload failed
    token = cluster.state()["tokens"][0]["token"]
    generated = [c for c in cluster.calls() if c[:2] == ["certs", "certificate-key"]]
    assert generated
    key = cluster.state()["generated_keys"][0]
    assert key not in result["_raw"] and token not in result["_raw"]
    assert token.split(".")[1] not in result["_raw"]


def test_kubeadm_failure_on_create_hides_given_token(cluster):
    token = "qqqqqq.qqqqqqqqqqqqqqqq"
    cluster.fail("token create", "failed to create bootstrap token: the server is currently unable to handle the request")
    result = cluster.run(token=token)
    assert result["failed"] is True and result["_rc"] == 1
    assert "the server is currently unable to handle the request" in result["msg"]
    assert "token create ******** --ttl 1h" in result["msg"]
    assert token not in result["_raw"] and "qqqqqqqqqqqqqqqq" not in result["_raw"]
    assert result["changed"] is False
    assert not cluster.state()["tokens"]


def test_kubeadm_failure_on_list(cluster):
    os.remove(str(cluster.kubeconfig))
    cluster.kubeconfig.write_text("")
    result = cluster.run()
    assert result["failed"] is True
    assert "cannot read the API server endpoint and CA" in result["msg"]
    os.remove(str(cluster.kubeconfig))
    missing = cluster.run(state="absent")
    assert missing["failed"] is True
    assert "failed to load admin kubeconfig" in missing["msg"] and "exit code 1" in missing["msg"]


def test_several_cas_and_ipv6_endpoint(tmp_path, ec_pem, rsa_ca):
    rsa_pem, rsa_pin = rsa_ca
    cluster = Cluster(tmp_path, rsa_pem + ec_pem, server="https://[fd00::1]:6443")
    result = cluster.run()
    assert result["discovery_token_ca_cert_hashes"] == [rsa_pin, H1]
    assert_join_command(result, result["token"], endpoint="[fd00::1]:6443", hashes=(rsa_pin, H1))


@pytest.mark.parametrize("args,message", [
    ({"token": "Not-A-Token"}, "token must match"),
    ({"certificate_key": "abc", "control_plane": True}, "certificate_key must be 64 hex digits"),
    ({"ttl": "forever"}, "ttl: bad duration"),
    ({"ttl": "30m", "reuse_min_ttl": "1h"}, "must not exceed ttl"),
    ({"usages": ["authentication", "login"]}, "usage 'login'"),
    ({"usages": ["signing"]}, "usages must include authentication and signing"),
    ({"groups": ["system:masters"]}, "group 'system:masters'"),
    ({"state": "absent", "description": ""}, "needs token or a non-empty description"),
])
def test_invalid_options_fail_before_kubeadm_runs(cluster, args, message):
    result = cluster.run(**args)
    assert result["failed"] is True and message in result["msg"]
    assert not cluster.calls()
    assert "Not-A-Token" not in result["_raw"]


def test_missing_kubeadm_binary(cluster):
    result = cluster.run(kubeadm_bin="kubeadm-does-not-exist")
    assert result["failed"] is True and "kubeadm-does-not-exist" in result["msg"]


# --------------------------------------------------------------------------- kubeconfigs as people and tools write them
# The module never parses YAML itself: kubectl (preferred) or PyYAML do. Each kubeconfig below is run
# through both; the expected endpoint and pins come from the fixture certificates, not from the module.
SECRET = "s3cr3t-user-token-0123456789"


def b64(text):
    return base64.b64encode(text.encode()).decode()


def kubeconfig_flow(pems):
    ec_pem = pems["ec"]
    return ("apiVersion: v1\nkind: Config\n"
            "clusters:\n- name: kubernetes\n  cluster: {server: 'https://192.168.56.10:6443', certificate-authority-data: %s}\n"
            "contexts:\n- {name: admin@kubernetes, context: {cluster: kubernetes, user: admin}}\n"
            "current-context: admin@kubernetes\nusers: [{name: admin, user: {token: %s}}]\n" % (b64(ec_pem), SECRET))


def kubeconfig_quoted_and_comments(pems):
    return ("# written by hand\n---\n"
            "\"apiVersion\": 'v1'   # quoted keys and values\n"
            "'kind': \"Config\"\n"
            "\"clusters\":\n"
            "  # the VIP in front of the API servers\n"
            "  - \"name\": 'kubernetes'\n"
            "    'cluster':\n"
            "      \"server\": \"https://[fd00::1]:6443\"  # IPv6\n"
            "      'certificate-authority-data': \"%s\"\n"
            "contexts:\n"
            "  - name: &ctx \"admin@kubernetes\"   # an anchor, used below\n"
            "    context:\n"
            "      \"cluster\": kubernetes\n"
            "      'user': admin\n"
            "current-context: *ctx\n"
            "users:\n"
            "  - name: admin\n"
            "    user:\n"
            "      token: \"%s\"\n" % (b64(pems["ec"]), SECRET))


def kubeconfig_several(pems):
    """Three clusters and contexts; current-context picks the second cluster (RSA CA), not the first."""
    return ("apiVersion: v1\nkind: Config\n"
            "clusters:\n"
            "- name: staging\n  cluster:\n    server: https://10.9.9.9:6443\n    certificate-authority-data: %s\n"
            "- name: production\n  cluster:\n    server: https://k8s-api.example.internal:6443\n"
            "    certificate-authority-data: %s\n"
            "- name: lab\n  cluster:\n    server: https://10.8.8.8:6443\n    certificate-authority-data: %s\n"
            "contexts:\n"
            "- name: staging-admin\n  context: {cluster: staging, user: admin}\n"
            "- name: production-admin\n  context: {cluster: production, user: admin}\n"
            "- name: lab-admin\n  context: {cluster: lab, user: admin}\n"
            "current-context: production-admin\n"
            "users:\n- name: admin\n  user: {token: %s}\n"
            % (b64(pems["ec"]), b64(pems["rsa"]), b64("not a certificate"), SECRET))


def kubeconfig_json(pems):
    return json.dumps({"apiVersion": "v1", "kind": "Config", "current-context": "c",
                       "clusters": [{"name": "k", "cluster": {"server": "https://192.168.56.10:6443",
                                                              "certificate-authority-data": b64(pems["ec"])}}],
                       "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
                       "users": [{"name": "u", "user": {"token": SECRET}}]}, indent=2)


KUBECONFIGS = {
    # name: (kubeconfig builder, expected endpoint, expected CA)
    "as_kubeadm_writes_it": (lambda pems: admin_kubeconfig(pems["ec"], "https://192.168.56.10:6443"),
                             "192.168.56.10:6443", "ec"),
    "flow_mappings": (kubeconfig_flow, "192.168.56.10:6443", "ec"),
    "quoted_keys_comments_anchors": (kubeconfig_quoted_and_comments, "[fd00::1]:6443", "ec"),
    "several_clusters_current_context_chooses": (kubeconfig_several, "k8s-api.example.internal:6443", "rsa"),
    "json": (kubeconfig_json, "192.168.56.10:6443", "ec"),
}


@pytest.fixture
def pems(ec_pem, rsa_ca):
    return {"ec": ec_pem, "rsa": rsa_ca[0], "pins": {"ec": H1, "rsa": rsa_ca[1]}}


def assert_read_with(cluster, reader):
    calls = cluster.kubectl_calls()
    if reader == "kubectl":
        assert calls == [["config", "view", "--raw", "-o", "json", "--kubeconfig", str(cluster.kubeconfig)]]
    else:
        assert calls == []


@pytest.mark.parametrize("reader", ["kubectl", "pyyaml"])
@pytest.mark.parametrize("name", sorted(KUBECONFIGS))
def test_any_valid_kubeconfig_is_read(tmp_path, pems, name, reader):
    build, endpoint, ca = KUBECONFIGS[name]
    cluster = Cluster(tmp_path, pems["ec"], reader=reader, kubeconfig_text=build(pems))
    result = cluster.run()
    assert result["_rc"] == 0, result
    assert result["api_server_endpoint"] == endpoint
    assert result["discovery_token_ca_cert_hashes"] == [pems["pins"][ca]]
    assert_join_command(result, result["token"], endpoint=endpoint, hashes=(pems["pins"][ca],))
    assert_read_with(cluster, reader)
    assert SECRET not in result["_raw"]


@pytest.mark.parametrize("reader", ["kubectl", "pyyaml"])
@pytest.mark.parametrize("relative", [True, False], ids=["relative", "absolute"])
def test_certificate_authority_as_a_file(tmp_path, pems, reader, relative):
    pki = tmp_path / "pki"
    pki.mkdir()
    (pki / "ca.crt").write_text(pems["rsa"])
    ca_path = "pki/ca.crt" if relative else str(pki / "ca.crt")
    text = ("apiVersion: v1\nkind: Config\nclusters:\n- name: kubernetes\n  cluster:\n"
            "    server: https://192.168.56.10:6443\n    certificate-authority: %s\n"
            "contexts:\n- name: admin\n  context: {cluster: kubernetes, user: admin}\ncurrent-context: admin\n"
            "users:\n- name: admin\n  user: {token: %s}\n" % (ca_path, SECRET))
    cluster = Cluster(tmp_path, pems["ec"], reader=reader, kubeconfig_text=text)
    result = cluster.run(ttl="2h")
    assert result["_rc"] == 0, result
    assert result["discovery_token_ca_cert_hashes"] == [pems["pins"]["rsa"]]
    assert_read_with(cluster, reader)


NO_CURRENT_CONTEXT = ('no current-context, so there is no current cluster (contexts: "admin@kubernetes"); '
                      'set one with: kubectl config use-context <context> --kubeconfig <file>')


@pytest.mark.parametrize("reader", ["kubectl", "pyyaml"])
@pytest.mark.parametrize("current,message", [
    (None, NO_CURRENT_CONTEXT),
    ("''", NO_CURRENT_CONTEXT),
    ("gone", 'current-context "gone" is not one of the contexts ("admin@kubernetes")'),
], ids=["missing", "empty", "dangling"])
def test_kubeconfig_without_a_usable_current_context(tmp_path, pems, reader, current, message):
    text = kubeconfig_flow(pems).replace("current-context: admin@kubernetes\n", "")
    if current is not None:
        text += "current-context: %s\n" % current
    cluster = Cluster(tmp_path, pems["ec"], reader=reader, kubeconfig_text=text)
    result = cluster.run()
    assert result["failed"] is True and result["_rc"] == 1
    assert result["msg"] == "cannot read the API server endpoint and CA from %s: kubeconfig: %s" % (cluster.kubeconfig, message)
    assert not cluster.mutating_calls()
    assert SECRET not in result["_raw"]


@pytest.mark.parametrize("reader", ["kubectl", "pyyaml"])
def test_invalid_yaml_fails_without_quoting_the_file(tmp_path, pems, reader):
    text = kubeconfig_flow(pems).replace("users: [{name: admin", "users: [{name: admin\n  oops: [")
    cluster = Cluster(tmp_path, pems["ec"], reader=reader, kubeconfig_text=text)
    result = cluster.run()
    assert result["failed"] is True
    expected = {"kubectl": "kubectl cannot read the kubeconfig %s (exit code 1): error: error loading config file"
                           % cluster.kubeconfig,
                "pyyaml": "cannot parse the kubeconfig %s with PyYAML: line " % cluster.kubeconfig}[reader]
    assert result["msg"].startswith(expected), result["msg"]
    assert SECRET not in result["_raw"] and b64(pems["ec"])[:40] not in result["_raw"]
    assert not cluster.calls()  # kubeadm never ran


def test_kubectl_error_does_not_repeat_the_credentials(tmp_path, pems):
    """kubectl prints a duplicated user entry whole, client key included: the module keeps only the reason."""
    text = kubeconfig_flow(pems).replace(
        "users: [{name: admin, user: {token: %s}}]" % SECRET,
        "users: [{name: admin, user: {token: %s}}, {name: admin, user: {client-key-data: %s}}]" % (SECRET, b64(pems["rsa"])))
    cluster = Cluster(tmp_path, pems["ec"], kubeconfig_text=text)
    result = cluster.run()
    assert result["failed"] is True
    assert 'duplicate name "admin"' in result["msg"]
    assert SECRET not in result["_raw"] and b64(pems["rsa"])[:40] not in result["_raw"]


def test_kubectl_missing_falls_back_to_pyyaml(tmp_path, pems):
    cluster = Cluster(tmp_path, pems["ec"], kubeconfig_text=kubeconfig_several(pems))
    result = cluster.run(kubectl_bin="kubectl-not-installed")
    assert result["_rc"] == 0, result
    assert result["discovery_token_ca_cert_hashes"] == [pems["pins"]["rsa"]]
    assert cluster.kubectl_calls() == []


def test_pyyaml_missing_kubectl_is_enough(tmp_path, pems):
    cluster = Cluster(tmp_path, pems["ec"], kubeconfig_text=kubeconfig_flow(pems))
    cluster.hide_pyyaml()
    result = cluster.run()
    assert result["_rc"] == 0, result
    assert result["discovery_token_ca_cert_hashes"] == [H1]
    assert_read_with(cluster, "kubectl")


@pytest.mark.parametrize("kubectl_bin", ["kubectl", "/nonexistent/kubectl"])
def test_neither_kubectl_nor_pyyaml(tmp_path, pems, kubectl_bin):
    cluster = Cluster(tmp_path, pems["ec"], reader="none", kubeconfig_text=kubeconfig_flow(pems))
    result = cluster.run(kubectl_bin=kubectl_bin)
    assert result["failed"] is True and result["_rc"] == 1
    assert result["msg"] == (
        "cannot read the kubeconfig %s: kubectl (kubectl_bin=%s) is not installed and the Python YAML library "
        "(PyYAML) is not importable by %s; install kubectl or PyYAML (Debian python3-yaml, RHEL python3-pyyaml) "
        "on the host, or set kubectl_bin" % (cluster.kubeconfig, kubectl_bin, sys.executable))
    assert not cluster.calls()


def test_missing_kubeconfig_file(tmp_path, pems):
    """kubectl prints an empty configuration for a file that does not exist: the module checks first."""
    cluster = Cluster(tmp_path, pems["ec"])
    os.remove(str(cluster.kubeconfig))
    result = cluster.run()
    assert result["failed"] is True
    assert result["msg"] == "cannot read the kubeconfig %s: no such file" % cluster.kubeconfig
    assert cluster.kubectl_calls() == [] and not cluster.calls()
