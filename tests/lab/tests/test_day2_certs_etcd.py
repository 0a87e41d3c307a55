"""certificates.yml, etcd_backup.yml and etcd_restore.yml on a real lab (1 control plane + 1 worker from site.yml).

- certificates.yml prints the residual-time table and changes nothing while nothing is due; --check with
  certificates_renew=true reports the renewal and changes nothing; a renewal (threshold above the residual time)
  re-signs the certificates (serials change, notAfter moves), restarts the static pods (the API server then serves
  the new certificate), refreshes root's kubeconfig, and every node stays Ready; the next run changes nothing.
- etcd_backup.yml fetches a verified snapshot and the archive of the PKI that cannot be generated again (the CAs
  and the service-account keys, nothing else), both 0600, nothing left on the node, older ones beyond
  etcd_backup_keep removed; etcd_restore.yml without the confirmation is refused before the host is contacted; with
  it, a ConfigMap deleted after the snapshot is back and the nodes are Ready.
- Rebuilt control plane: a rebuild on the running control plane is refused and changes nothing, a missing PKI
  archive is refused before the host is contacted; then the control-plane container is destroyed and made again
  empty with the same name and address, etcd_restore.yml with the PKI archive brings back the ConfigMap of the
  snapshot and the worker Ready, and site.yml afterwards changes nothing on the control plane.

Its own lab (kf-rst-day2, 172.30.160.0/24), removed at the end (KF_CERTS_KEEP=1 keeps it); a few minutes.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import tarfile

import pytest
from conftest import LAB_DIR, ROOT, dexec, labcore, sh

NAME = "kf-rst-day2"
SUBNET = "172.30.160.0/24"
CP = f"{NAME}-cp1"
PKI_FILES = {"ca.crt", "ca.key", "sa.key", "sa.pub", "front-proxy-ca.crt", "front-proxy-ca.key", "etcd/ca.crt",
             "etcd/ca.key"}
KUBECTL = "kubectl --kubeconfig /etc/kubernetes/admin.conf"

# serial and notAfter of certificates on the control plane: PKI files and the client certificate in admin.conf
CERT_INFO = r"""
import base64, json, sys, yaml
from cryptography import x509
def info(pem):
    c = x509.load_pem_x509_certificate(pem)
    return [c.serial_number, c.not_valid_after.isoformat()]
out = {}
for name in ("apiserver", "etcd/server", "front-proxy-client"):
    out[name] = info(open("/etc/kubernetes/pki/%s.crt" % name, "rb").read())
for conf in ("admin.conf", "scheduler.conf"):
    cfg = yaml.safe_load(open("/etc/kubernetes/" + conf))
    out[conf] = info(base64.b64decode(cfg["users"][0]["user"]["client-certificate-data"]))
print(json.dumps(out))
"""
# serial of the certificate the API server serves on 6443
SERVED = r"""
import json, ssl
from cryptography import x509
pem = ssl.get_server_certificate(("127.0.0.1", 6443))
print(json.dumps(x509.load_pem_x509_certificate(pem.encode()).serial_number))
"""


def playbook(name: str, *extra: str, ok: bool = True) -> tuple[str, dict[str, dict[str, int]]]:
    """Run a root playbook on the lab; returns its output and the PLAY RECAP counts per host."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               PATH=f"{ROOT / '.venv' / 'bin'}:{os.environ.get('PATH', '')}")
    r = subprocess.run(["ansible-playbook", "-i", str(labcore.inventory_dir(NAME)), name, *extra], cwd=ROOT,
                       env=env, text=True, capture_output=True, timeout=1200, check=False)
    if ok:
        assert r.returncode == 0, f"{name} failed ({r.returncode}):\n{r.stdout[-6000:]}\n{r.stderr[-3000:]}"
    else:
        assert r.returncode != 0, f"{name} should have failed:\n{r.stdout[-6000:]}"
    recap = {}
    for host, counts in re.findall(r"^(\S+)\s+:\s+(ok=.*)$", r.stdout, re.M):
        recap[host] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", counts)}
    return r.stdout, recap


def certs() -> dict[str, list]:
    return json.loads(dexec(CP, f"python3 - <<'EOF'\n{CERT_INFO}\nEOF").stdout)


def nodes_ready() -> dict[str, str]:
    lines = dexec(CP, f"{KUBECTL} get nodes --no-headers").stdout.splitlines()
    return {line.split()[0]: line.split()[1] for line in lines}


@pytest.fixture(scope="module")
def cluster():
    lab = str(LAB_DIR / "lab")
    sh(lab, "up", "--name", NAME, "--subnet", SUBNET, "--control-planes", "1", "--workers", "1", timeout=900)
    try:
        playbook("site.yml")
        yield lab
    finally:
        if os.environ.get("KF_CERTS_KEEP") != "1":
            sh(lab, "down", "--name", NAME, check=False)


@pytest.fixture(scope="module")
def backup_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("etcd-backups")


def test_check_shows_the_table_and_changes_nothing(cluster):
    out, recap = playbook("certificates.yml")
    assert all(c["changed"] == 0 and c["failed"] == 0 for c in recap.values()), recap
    assert re.search(r"CERTIFICATE\s+EXPIRES\s+RESIDUAL\s+AUTHORITY\s+STATE", out), out[-4000:]
    rows = re.findall(r"^\s*-?\s*['\"]?(apiserver|admin\.conf|etcd-server|ca|etcd-ca)\s+(\S+)\s+(\d+)d\s+(\S+)\s+(\w+)",
                      out, re.M)
    assert {r[0] for r in rows} >= {"apiserver", "admin.conf", "etcd-server", "ca", "etcd-ca"}, out[-4000:]
    assert all(r[4] == "ok" for r in rows) and all(int(r[2]) >= 364 for r in rows if r[0] != "ca"), rows


def test_check_mode_reports_the_renewal_and_changes_nothing(cluster):
    before = certs()
    out, recap = playbook("certificates.yml", "--check", "-e", "certificates_renew=true")
    assert recap[CP]["changed"] == 1 and recap[CP]["failed"] == 0, recap
    assert f"Would run `kubeadm certs renew all` on {CP}" in out
    assert certs() == before


def test_renewal_moves_the_expiry_dates_and_restarts_the_control_plane(cluster):
    before = certs()
    # 400 days is more than any new certificate has left: the threshold alone triggers the renewal.
    out, recap = playbook("certificates.yml", "-e", "certificates_renew_below_days=400")
    assert recap[CP]["changed"] > 0 and recap[CP]["failed"] == 0, recap
    assert "Done renewing certificates." in out
    after = certs()
    for name, (serial, not_after) in before.items():
        assert after[name][0] != serial, name
        assert after[name][1] > not_after, (name, not_after, after[name][1])
    # The API server was restarted: it serves the renewed certificate.
    served = json.loads(dexec(CP, f"python3 - <<'EOF'\n{SERVED}\nEOF").stdout)
    assert served == after["apiserver"][0]
    assert dexec(CP, "cmp /etc/kubernetes/admin.conf /root/.kube/config && stat -c %a /root/.kube/config"
                 ).stdout.strip() == "600"
    assert dexec(CP, "ls -A /etc/kubernetes/tmp/kubeforge-certificates-restart").stdout == ""
    assert set(nodes_ready().values()) == {"Ready"}, nodes_ready()


def test_certificates_again_changes_nothing(cluster):
    _out, recap = playbook("certificates.yml")
    assert all(c["changed"] == 0 and c["failed"] == 0 for c in recap.values()), recap


def test_backup_is_fetched_private_and_retained(cluster, backup_dir):
    dexec(CP, f"{KUBECTL} delete configmap kf-restore-probe --ignore-not-found && "
              f"{KUBECTL} create configmap kf-restore-probe --from-literal=before=snapshot")
    old = backup_dir / f"etcd-{CP}-20000101T000000Z.db"
    old.write_bytes(b"an old snapshot")
    old_pki = backup_dir / f"etcd-{CP}-20000101T000000Z.pki.tar.gz"
    old_pki.write_bytes(b"an old archive")
    _out, recap = playbook("etcd_backup.yml", "-e", f"etcd_backup_dir={backup_dir}", "-e", "etcd_backup_keep=1")
    assert recap[CP]["failed"] == 0, recap
    files = sorted(backup_dir.iterdir())
    assert len(files) == 2 and old not in files and old_pki not in files, files
    snapshot, archive = files
    assert archive.name == snapshot.name.replace(".db", ".pki.tar.gz"), files
    assert all(oct(f.stat().st_mode & 0o777) == "0o600" for f in files), files
    assert snapshot.stat().st_size > 10000
    with tarfile.open(archive) as tar:
        assert {m.name for m in tar.getmembers()} == PKI_FILES
        assert tar.extractfile("ca.crt").read().decode() == dexec(CP, "cat /etc/kubernetes/pki/ca.crt").stdout
    assert oct(backup_dir.stat().st_mode & 0o777) == "0o700"
    assert dexec(CP, "ls -A /var/tmp/kubeforge-etcd").stdout == ""


def test_restore_without_confirmation_is_refused_before_the_host(cluster, backup_dir):
    snapshot = next(backup_dir.glob("*.db"))
    out, recap = playbook("etcd_restore.yml", "-e", f"etcd_restore_snapshot={snapshot}", ok=False)
    assert CP not in recap and "etcd_restore_confirm=true" in out, (recap, out[-3000:])


def test_restore_brings_back_what_the_snapshot_holds(cluster, backup_dir):
    snapshot = next(backup_dir.glob("*.db"))
    dexec(CP, f"{KUBECTL} delete configmap kf-restore-probe")
    _out, recap = playbook("etcd_restore.yml", "-e", "etcd_restore_confirm=true",
                           "-e", f"etcd_restore_snapshot={snapshot}")
    assert recap[CP]["changed"] > 0 and recap[CP]["failed"] == 0, recap
    got = dexec(CP, f"{KUBECTL} get configmap kf-restore-probe -o jsonpath='{{.data.before}}'").stdout
    assert got == "snapshot"
    assert set(nodes_ready().values()) == {"Ready"} and len(nodes_ready()) == 2, nodes_ready()
    assert dexec(CP, "ls -d /var/lib/etcd.before-restore-*").stdout.strip()
    assert dexec(CP, "ls -A /var/tmp/kubeforge-etcd /etc/kubernetes/tmp/kubeforge-etcd-restore").stdout.split() == \
        ["/etc/kubernetes/tmp/kubeforge-etcd-restore:", "/var/tmp/kubeforge-etcd:"]


def test_rebuild_on_a_running_control_plane_is_refused(cluster, backup_dir):
    snapshot, archive = next(backup_dir.glob("*.db")), next(backup_dir.glob("*.pki.tar.gz"))
    out, recap = playbook("etcd_restore.yml", "-e", "etcd_restore_confirm=true", "-e", f"etcd_restore_snapshot={snapshot}",
                          "-e", f"etcd_restore_pki_archive={archive}", ok=False)
    assert recap[CP]["changed"] == 0 and recap[CP]["failed"] == 1, recap
    assert f"{CP} still has /etc/kubernetes/pki/ca.crt, /etc/kubernetes/manifests/etcd.yaml" in out, out[-3000:]
    assert set(nodes_ready().values()) == {"Ready"}, nodes_ready()


def test_rebuild_without_the_pki_archive_is_refused_before_the_host(cluster, backup_dir):
    snapshot = next(backup_dir.glob("*.db"))
    out, recap = playbook("etcd_restore.yml", "-e", "etcd_restore_confirm=true", "-e", f"etcd_restore_snapshot={snapshot}",
                          "-e", f"etcd_restore_pki_archive={backup_dir}/missing.pki.tar.gz", ok=False)
    assert CP not in recap and "missing.pki.tar.gz', which does not exist" in out, (recap, out[-3000:])


def test_restore_on_a_rebuilt_control_plane(cluster, backup_dir):
    snapshot, archive = next(backup_dir.glob("*.db")), next(backup_dir.glob("*.pki.tar.gz"))
    ca = dexec(CP, "cat /etc/kubernetes/pki/ca.crt").stdout
    # The machine is lost: a new, empty one with the same name and address (the lab makes the missing host again).
    sh("docker", "rm", "-f", "-v", CP)
    sh("docker", "volume", "rm", f"{CP}-containerd")
    sh(cluster, "up", "--name", NAME, "--subnet", SUBNET, "--control-planes", "1", "--workers", "1", timeout=900)
    assert dexec(CP, "ls /etc/kubernetes 2>/dev/null; command -v kubeadm", check=False).stdout == ""
    _out, recap = playbook("etcd_restore.yml", "-e", "etcd_restore_confirm=true", "-e", f"etcd_restore_snapshot={snapshot}",
                           "-e", f"etcd_restore_pki_archive={archive}")
    assert recap[CP]["changed"] > 0 and recap[CP]["failed"] == 0, recap
    got = dexec(CP, f"{KUBECTL} get configmap kf-restore-probe -o jsonpath='{{.data.before}}'").stdout
    assert got == "snapshot"
    assert dexec(CP, "cat /etc/kubernetes/pki/ca.crt").stdout == ca
    assert dexec(CP, "stat -c '%a %n' /etc/kubernetes/pki/ca.key /etc/kubernetes/pki/sa.key "
                     "/etc/kubernetes/pki/etcd/ca.key /etc/kubernetes/pki/front-proxy-ca.key").stdout.split() == [
        "600", "/etc/kubernetes/pki/ca.key", "600", "/etc/kubernetes/pki/sa.key",
        "600", "/etc/kubernetes/pki/etcd/ca.key", "600", "/etc/kubernetes/pki/front-proxy-ca.key"]
    assert nodes_ready() == {CP: "Ready", f"{NAME}-worker1": "Ready"}, nodes_ready()
    assert dexec(CP, "ls -A /var/tmp/kubeforge-etcd").stdout == ""
    # site.yml finds the cluster initialised and the host prepared: nothing to change on the control plane.
    _out, recap = playbook("site.yml")
    assert recap[CP]["changed"] == 0 and recap[CP]["failed"] == 0, recap
