"""`kubeadm reset`'s remove-etcd-member phase in the stand-in, against removeetcdmember.go and
etcdphase.RemoveStackedEtcdMemberFromCluster (fast, on the host, no root changes to the host).

The etcd gateway and the API server are replaced by recorders here; the real thing (reset on a
control plane of a running HA cluster removes its member, checked with real etcdctl) is covered by
tests/lab/tests/test_remove_nodes.py and test_cluster.py's control-plane join test.
"""

import os
import subprocess
import sys

import pytest
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
KUBESIM = os.path.dirname(HERE)
sys.path.insert(0, KUBESIM)
os.environ.setdefault("KUBESIM_VERSION", "1.37.1")

from kubesim.kubeadm import app, constants as C  # noqa: E402

ME = "https://172.30.9.11:2379"
MEMBERS = [
    {"ID": "11", "name": "cp1", "peerURLs": ["https://172.30.9.10:2380"], "clientURLs": ["https://172.30.9.10:2379"]},
    {"ID": "22", "name": "cp2", "peerURLs": ["https://172.30.9.11:2380"], "clientURLs": [ME]},
    {"ID": "33", "name": "cp3", "peerURLs": ["https://172.30.9.12:2380"], "clientURLs": ["https://172.30.9.12:2379"]},
]


class FakeEtcd:
    """Answers /v3/cluster/member/{list,remove} like etcd's gateway; records calls and client certs."""

    def __init__(self, members, down=()):
        self.members = [dict(m) for m in members]
        self.down = set(down)
        self.calls = []

    def __call__(self, endpoint, path, body, pki_dir, client="apiserver-etcd-client"):
        self.calls.append((endpoint, path, body, client))
        if endpoint in self.down:
            raise ConnectionRefusedError(111, "Connection refused")
        if path == "/v3/cluster/member/list":
            return {"members": self.members}
        if path == "/v3/cluster/member/remove":
            self.members = [m for m in self.members if m["ID"] != body["ID"]]
            return {"members": self.members}
        raise AssertionError(path)

    def removed(self):
        return [c[2]["ID"] for c in self.calls if c[1] == "/v3/cluster/member/remove"]


@pytest.fixture
def node(tmp_path, monkeypatch):
    """A control plane's manifests (etcd pod with kubeadm's annotation and etcd-data volume) and a
    non-empty etcd data directory, under tmp_path."""
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    data = tmp_path / "etcd"
    (data / "member" / "wal").mkdir(parents=True)
    (data / "member" / "wal" / "0.wal").write_text("x")
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "etcd", "namespace": "kube-system", "annotations": {C.ANNOTATION_ETCD_URLS: ME}},
           "spec": {"volumes": [{"name": "etcd-data", "hostPath": {"path": str(data), "type": "DirectoryOrCreate"}}]}}
    (manifests / "etcd.yaml").write_text(yaml.safe_dump(pod))
    monkeypatch.setattr(app, "etcd_endpoints", lambda client: [m["clientURLs"][0] for m in MEMBERS])
    return {"manifests": str(manifests), "data": data, "cluster": {"etcd": {"local": {"dataDir": str(data)}}}}


def run_phase(node, fake, monkeypatch, cluster=True):
    monkeypatch.setattr(app, "etcd_request", fake)
    return app.phase_remove_etcd_member(object(), node["cluster"] if cluster else None, "/pki", node["manifests"])


def test_removes_own_member_by_peer_url_with_the_healthcheck_client(node, monkeypatch, capsys):
    fake = FakeEtcd(MEMBERS)
    assert run_phase(node, fake, monkeypatch) == str(node["data"])
    assert fake.removed() == ["22"]
    assert {c[3] for c in fake.calls} == {"etcd/healthcheck-client"}
    assert [m["name"] for m in fake.members] == ["cp1", "cp3"]
    assert os.listdir(node["data"]) == []
    assert capsys.readouterr().out == "[reset] Deleted contents of the etcd data directory: %s\n" % node["data"]


def test_only_remaining_member_is_not_removed(node, monkeypatch, capsys):
    fake = FakeEtcd([MEMBERS[1]])
    run_phase(node, fake, monkeypatch)
    assert fake.removed() == []
    assert os.listdir(node["data"]) == []
    assert "Deleted contents of the etcd data directory" in capsys.readouterr().out


def test_member_already_gone_is_no_error(node, monkeypatch, capsys):
    fake = FakeEtcd([MEMBERS[0], MEMBERS[2]])
    run_phase(node, fake, monkeypatch)
    assert fake.removed() == []
    io = capsys.readouterr()
    assert "Failed to remove etcd member" not in io.err
    assert os.listdir(node["data"]) == []


def test_unreachable_etcd_only_warns_and_still_empties_the_data_dir(node, monkeypatch, capsys):
    monkeypatch.setattr(app, "RESET_ETCD_TIMEOUT", 0.5)
    fake = FakeEtcd(MEMBERS, down={m["clientURLs"][0] for m in MEMBERS})
    run_phase(node, fake, monkeypatch)
    io = capsys.readouterr()
    assert "] [reset] Failed to remove etcd member: " in io.err
    assert io.err.rstrip().endswith(", please manually remove this etcd member using etcdctl")
    assert "Connection refused" in io.err
    assert fake.removed() == []
    assert os.listdir(node["data"]) == []
    assert io.out == "[reset] Deleted contents of the etcd data directory: %s\n" % node["data"]


def test_no_etcd_pods_is_a_warning(node, monkeypatch, capsys):
    monkeypatch.setattr(app, "etcd_endpoints", lambda client: [])
    fake = FakeEtcd(MEMBERS)
    run_phase(node, fake, monkeypatch)
    assert "could not retrieve the list of etcd endpoints" in capsys.readouterr().err
    assert fake.calls == []


def test_without_cluster_config_no_member_is_removed(node, monkeypatch, capsys):
    """cfg == nil (admin.conf missing or API down): kubeadm reads the data dir from the pod spec and
    removes nothing from etcd (the member stays: the caller removes it with etcdctl)."""
    fake = FakeEtcd(MEMBERS)
    assert run_phase(node, fake, monkeypatch, cluster=False) == str(node["data"])
    assert fake.calls == []
    io = capsys.readouterr()
    assert "] [reset] No kubeadm config, using etcd pod spec to get data directory" in io.err
    assert os.listdir(node["data"]) == []


def test_worker_without_config_uses_the_default_data_dir(tmp_path, monkeypatch, capsys):
    """No etcd.yaml and no config: kubeadm's default /var/lib/etcd, "emptied" even when it does not exist."""
    missing = str(tmp_path / "var-lib-etcd")
    monkeypatch.setattr(app, "DEFAULT_ETCD_DATA_DIR", missing)
    assert app.phase_remove_etcd_member(None, None, "/pki", str(tmp_path)) == missing
    assert capsys.readouterr().out == "[reset] Deleted contents of the etcd data directory: %s\n" % missing
    assert not os.path.exists(missing)


def test_invalid_etcd_manifest_means_external_etcd(node, capsys):
    with open(os.path.join(node["manifests"], "etcd.yaml"), "w") as f:
        f.write("apiVersion: v1\nkind: Pod\nspec: {volumes: []}\n")
    assert app.phase_remove_etcd_member(None, None, "/pki", node["manifests"]) is None
    assert capsys.readouterr().out == ("[reset] No etcd config found. Assuming external etcd\n"
                                       "[reset] Please, manually reset etcd to prevent further issues\n")


def test_cluster_config_unreachable_api_warns(tmp_path, capsys):
    kc = tmp_path / "admin.conf"
    kc.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "k", "cluster": {"server": "https://127.0.0.1:1", "insecure-skip-tls-verify": True}}],
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
        "users": [{"name": "u", "user": {"token": "x"}}]}))
    assert app.reset_cluster_config(str(kc)) == (None, None)
    assert "] [reset] Unable to fetch the kubeadm-config ConfigMap from cluster: " in capsys.readouterr().err
    assert app.reset_cluster_config(str(tmp_path / "missing.conf")) == (None, None)
    assert capsys.readouterr().err == ""


def run_reset(args, stdin):
    """`kubeadm reset` in a subprocess as root would run it, with no cluster config; phases that would touch the
    host are replaced by a recorder, so an answer that goes on only shows as "ran"."""
    env = dict(os.environ, KUBESIM_VERSION="1.37.1", PYTHONPATH=KUBESIM)
    code = ("import os, sys; os.geteuid = lambda: 0; "
            "from kubesim.kubeadm import app; app.reset_cluster_config = lambda k: (None, None); "
            "app.phase_remove_etcd_member = lambda *a: print('ran remove-etcd-member'); "
            "sys.exit(app.main(%r))" % (["reset", "--skip-phases=cleanup-node"] + args,))
    return subprocess.run([sys.executable, "-c", code], input=stdin, capture_output=True, text=True, env=env,
                          timeout=60)


UPSTREAM_REFUSAL = "error execution phase preflight: won't proceed; the user didn't answer (Y|y) in order to continue"


@pytest.mark.parametrize("stdin", ["n\n", "\n", "", "no\n", " y\n", "yy\n", "nope y\n"])
def test_reset_asks_and_refuses_anything_but_yes(stdin):
    """phases/reset/preflight.go + util.InteractivelyConfirmAction: the warning (klog, stderr), the question on
    stdout, one line of stdin; anything but y/yes (EOF and an empty line too; nothing is trimmed) fails, exit 1."""
    r = run_reset([], stdin)
    assert r.stdout.startswith("[reset] Are you sure you want to proceed? [y/N]: "), r.stdout
    assert "] [reset] WARNING: Changes made to this host by 'kubeadm init' or 'kubeadm join' will be reverted." \
        in r.stderr
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert UPSTREAM_REFUSAL in r.stderr
    assert "ran remove-etcd-member" not in r.stdout and "[preflight] Running pre-flight checks" not in r.stdout


@pytest.mark.parametrize("stdin", ["y\n", "Y\n", "yes\n", "YES\r\n", "y"])
def test_reset_goes_on_after_yes_on_stdin(stdin):
    r = run_reset([], stdin)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert r.stdout.startswith("[reset] Are you sure you want to proceed? [y/N]: [preflight] Running pre-flight "
                               "checks\nran remove-etcd-member\n"), r.stdout


@pytest.mark.parametrize("args", [["--force"], ["-f"], ["--force=true"]])
def test_reset_force_skips_the_question(args):
    r = run_reset(args, "")
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "Are you sure" not in r.stdout and "WARNING: Changes made" not in r.stderr
    assert r.stdout.startswith("[preflight] Running pre-flight checks\nran remove-etcd-member\n"), r.stdout


def test_upgrade_apply_asks_the_same_way():
    """upgrade apply shares util.InteractivelyConfirmAction: same question format and refusal."""
    env = dict(os.environ, KUBESIM_VERSION="1.37.1", PYTHONPATH=KUBESIM)
    r = subprocess.run([sys.executable, "-c", "from kubesim.kubeadm import upgrade; "
                        "upgrade.confirm('Are you sure you want to proceed?')"],
                       input="n\n", capture_output=True, text=True, env=env, timeout=60)
    assert r.stdout == "[upgrade] Are you sure you want to proceed? [y/N]: "
    assert r.returncode == 1 and "kubeadm.errors.KubeadmError: " + UPSTREAM_REFUSAL.split(": ", 1)[1] in r.stderr


def test_reset_dry_run_is_refused_not_run():
    env = dict(os.environ, KUBESIM_VERSION="1.37.1", PYTHONPATH=KUBESIM)
    r = subprocess.run([sys.executable, "-c", "import os, sys; os.geteuid = lambda: 0; "
                        "from kubesim.kubeadm import app; sys.exit(app.main(['reset', '--dry-run']))"],
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 1 and "'kubeadm reset --dry-run' is not implemented by the stand-in" in r.stderr
