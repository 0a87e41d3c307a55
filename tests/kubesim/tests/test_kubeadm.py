"""Unit-level tests of the kubeadm stand-in (fast, on the host, no root changes to the host).

Config decoding/validation with kubeadm's messages, token/pin/key formats, preflight rendering,
certificate SANs, SPKI pin, JWS verification, kubeadm-certs encryption, manifests.
"""

import base64
import datetime
import json
import os
import subprocess
import sys

import pytest
from cryptography.exceptions import InvalidTag
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
KUBESIM = os.path.dirname(HERE)
sys.path.insert(0, KUBESIM)
os.environ.setdefault("KUBESIM_VERSION", "1.37.1")

from kubesim import output, pki  # noqa: E402
from kubesim.kubeadm import app, config as K, constants as C, phases as P, preflight  # noqa: E402
from kubesim.kubeadm.errors import KubeadmError, PreflightError  # noqa: E402

H1 = "sha256:71257ccd57b9c01017529ce5b2f95543f8ab1eeea5a0138437c2fcaba399160f"
H1_CA = """-----BEGIN CERTIFICATE-----
MIIBjzCCATWgAwIBAgIUNjJIY4VhnaypV++7V4I7V8VKloowCgYIKoZIzj0EAwIw
FTETMBEGA1UEAwwKa3ViZXJuZXRlczAeFw0yNjExMjYwMDQxNDlaFw0zNjExMjMw
MDQxNDlaMBUxEzARBgNVBAMMCmt1YmVybmV0ZXMwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAASABpPjJ6Nw+DElIFsew/vE4RX44reKXSv//noZxCWFxaNXaRejszI0
sgXsTK0MPEEOjhDHMsaiTTMYypjiLdFlo2MwYTAdBgNVHQ4EFgQUipdv6rownzGr
8GGP+BXsUKp+IukwHwYDVR0jBBgwFoAUipdv6rownzGr8GGP+BXsUKp+IukwDwYD
VR0TAQH/BAUwAwEB/zAOBgNVHQ8BAf8EBAMCAqQwCgYIKoZIzj0EAwIDSAAwRQIh
AK4LWe8c+hKq7lBB2cIT9jrQYrV9hmpip0QGOuq3E5jVAiBAOKVmPkqzXB2na0Di
T01smQB4CBFRy2EvUjyLhmURVA==
-----END CERTIFICATE-----
"""


def kubeadm(*args, version="1.37.1", stdin=None):
    env = dict(os.environ, KUBESIM_VERSION=version, PYTHONPATH=KUBESIM)
    return subprocess.run([sys.executable, "-m", "kubesim.kubeadm", *args], capture_output=True, text=True,
                          env=env, input=stdin, timeout=60)


def write(tmp_path, text, name="c.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


# ---------------------------------------------------------------- version / images

def test_version_formats():
    assert kubeadm("version", "-o", "short").stdout == "v1.37.1\n"
    assert kubeadm("version", "-o", "short", version="1.36.4").stdout == "v1.36.4\n"
    info = json.loads(kubeadm("version", "-o", "json").stdout)["clientVersion"]
    assert info["gitVersion"] == "v1.37.1" and info["major"] == "1" and info["minor"] == "37"
    assert yaml.safe_load(kubeadm("version", "-o", "yaml").stdout)["clientVersion"]["gitVersion"] == "v1.37.1"
    assert kubeadm("version").stdout.startswith('kubeadm version: &version.Info{Major:"1", Minor:"37"')


def test_images_list_default_and_mirror():
    r = kubeadm("config", "images", "list")
    assert r.returncode == 0
    assert r.stdout.splitlines() == [
        "registry.k8s.io/kube-apiserver:v1.37.1", "registry.k8s.io/kube-controller-manager:v1.37.1",
        "registry.k8s.io/kube-scheduler:v1.37.1", "registry.k8s.io/kube-proxy:v1.37.1",
        "registry.k8s.io/coredns/coredns:v1.13.1", "registry.k8s.io/pause:3.10.1", "registry.k8s.io/etcd:3.6.6-0"]
    r = kubeadm("config", "images", "list", "--image-repository", "registry.aliyuncs.com/google_containers",
                version="1.36.4")
    assert "registry.aliyuncs.com/google_containers/coredns:v1.13.1" in r.stdout.splitlines()
    assert "registry.aliyuncs.com/google_containers/pause:3.10.1" in r.stdout.splitlines()
    assert "registry.aliyuncs.com/google_containers/kube-apiserver:v1.36.4" in r.stdout.splitlines()


def test_images_list_rejects_too_old_control_plane():
    r = kubeadm("config", "images", "list", "--kubernetes-version", "v1.34.0")
    assert r.returncode == 1
    assert "this version of kubeadm only supports deploying clusters with the control plane version >= 1.36.0" in r.stderr


# ---------------------------------------------------------------- config

def test_v1beta3_rejected_on_137(tmp_path):
    p = write(tmp_path, "apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\n")
    r = kubeadm("init", "--config", p)
    assert r.returncode == 1
    assert r.stderr == (
        'error: your configuration file uses an old API spec: "kubeadm.k8s.io/v1beta3" (kind: "ClusterConfiguration"). '
        "Please use kubeadm v1.35 instead and run 'kubeadm config migrate --old-config old-config-file --new-config "
        "new-config-file', which will write the new, similar spec using a newer API version.\n"
        "To see the stack trace of this error execute with --v=5 or higher\n")
    assert r.stdout == ""


def test_unknown_fields_only_warn(tmp_path):
    p = write(tmp_path, "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nnetworking:\n"
                        "  podSubnett: 10.244.0.0/16\n")
    r = kubeadm("config", "images", "list", "--config", p)
    assert r.returncode == 0
    assert 'strict decoding error: unknown field "networking.podSubnett"' in r.stderr
    assert r.stderr.startswith("W")


def test_validation_errors_aggregate(tmp_path):
    p = write(tmp_path, """apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
bootstrapTokens:
- token: abc123
localAPIEndpoint:
  advertiseAddress: 10.0.0.300
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
networking:
  serviceSubnet: 10.96.0.0/40
""")
    init, cluster = K.default_init(*[yaml.safe_load(d) for d in open(p).read().split("---\n")], "1.37.1")
    errs = K.validate_init(init, cluster, "1.37.1")
    assert errs == ['bootstrapTokens[0].token: Invalid value: "abc123": the bootstrap token is invalid',
                    'localAPIEndpoint.advertiseAddress: Invalid value: "10.0.0.300": ip address is not valid',
                    'networking.serviceSubnet: Invalid value: "10.96.0.0/40": couldn\'t parse subnet']


def _networking_errors(networking, cm_args=None):
    cluster = {"apiVersion": "kubeadm.k8s.io/v1beta4", "kind": "ClusterConfiguration", "networking": networking}
    if cm_args:
        cluster["controllerManager"] = {"extraArgs": [{"name": k, "value": v} for k, v in cm_args.items()]}
    init, cluster = K.default_init({"apiVersion": "kubeadm.k8s.io/v1beta4", "kind": "InitConfiguration"}, cluster,
                                   "1.37.1")
    return [e for e in K.validate_init(init, cluster, "1.37.1") if e.startswith("networking.")]


def test_pod_subnet_node_mask_and_service_subnet_size():
    # accepted: the lab's and kubeadm's defaults, a /8 pod subnet (24 - 8 = 16), dual stack
    assert _networking_errors({"podSubnet": "10.244.0.0/16", "serviceSubnet": "10.96.0.0/12"}) == []
    assert _networking_errors({"podSubnet": "10.0.0.0/8"}) == []
    assert _networking_errors({"podSubnet": "10.244.0.0/16,fd00:10:244::/56",
                               "serviceSubnet": "10.96.0.0/16,fd00:10:96::/112"}) == []
    # ValidatePodSubnetNodeMask (node-cidr-mask-size-ipv4 defaults to 24, ipv6 to 64)
    assert _networking_errors({"podSubnet": "10.244.0.0/24"}, {"node-cidr-mask-size-ipv4": "23"}) == [
        'networking.podSubnet: Invalid value: "10.244.0.0/24": the size of pod subnet with mask 24 is smaller than '
        'the size of node subnet with mask 23']
    assert _networking_errors({"podSubnet": "fd00:10:244::/72"}) == [
        'networking.podSubnet: Invalid value: "fd00:10:244::/72": the size of pod subnet with mask 72 is smaller than '
        'the size of node subnet with mask 64']
    assert _networking_errors({"podSubnet": "10.0.0.0/7"}) == [
        'networking.podSubnet: Invalid value: "10.0.0.0/7": pod subnet mask (7) and node-mask (24) difference is '
        'greater than 16']
    assert _networking_errors({"podSubnet": "10.244.0.0/24"}, {"node-cidr-mask-size-ipv4": "26"}) == []
    assert _networking_errors({"podSubnet": "10.244.0.0/16"}, {"node-cidr-mask-size-ipv4": "x"}) == [
        'networking.podSubnet: Invalid value: "10.244.0.0/16": could not parse the value of the '
        'kube-controller-manager flag node-cidr-mask-size-ipv4 as an integer: strconv.Atoi: parsing "x": invalid syntax']
    assert _networking_errors({"podSubnet": "10.244.0.0/24"},
                              {"node-cidr-mask-size-ipv4": "23", "allocate-node-cidrs": "false"}) == []
    # ValidateIPNetFromString minimums: 254 pod addresses, 10 service addresses; dual stack needs both families
    assert _networking_errors({"podSubnet": "10.244.0.0/25"}, {"node-cidr-mask-size-ipv4": "28"}) == [
        'networking.podSubnet: Invalid value: "10.244.0.0/25": subnet with 128 address(es) is too small, the '
        'minimum is 254']
    assert _networking_errors({"serviceSubnet": "10.96.0.0/29"}) == [
        'networking.serviceSubnet: Invalid value: "10.96.0.0/29": subnet with 8 address(es) is too small, the '
        'minimum is 10']
    assert _networking_errors({"serviceSubnet": "10.96.0.0/16,10.97.0.0/16"}) == [
        'networking.serviceSubnet: Invalid value: "10.96.0.0/16,10.97.0.0/16": expected one (IPv4 or IPv6) CIDR or '
        'two CIDRs from each family for dual-stack networking']
    # ValidateServiceSubnetSize: at most 20 host bits
    assert _networking_errors({"serviceSubnet": "10.96.0.0/11"}) == [
        'networking.serviceSubnet: Invalid value: "10.96.0.0/11": specified service subnet is too large; for '
        '32-bit addresses, the mask must be >= 12']
    assert _networking_errors({"serviceSubnet": "fd00:10:96::/64"}) == [
        'networking.serviceSubnet: Invalid value: "fd00:10:96::/64": specified service subnet is too large; for '
        '128-bit addresses, the mask must be >= 108']


def test_init_refuses_a_pod_subnet_larger_than_the_node_mask_allows(tmp_path):
    p = write(tmp_path, "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nnetworking:\n"
                        "  podSubnet: 10.0.0.0/7\n")
    r = kubeadm("init", "--config", p)
    assert r.returncode == 1
    assert r.stderr.startswith('error: networking.podSubnet: Invalid value: "10.0.0.0/7": pod subnet mask (7) and '
                               'node-mask (24) difference is greater than 16\n'), r.stderr


def test_v1beta3_style_map_extra_args_is_a_decoding_error(tmp_path):
    p = write(tmp_path, "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\napiServer:\n"
                        "  extraArgs:\n    audit-log-maxage: '30'\n")
    r = kubeadm("config", "images", "list", "--config", p)
    assert r.returncode == 1
    assert "cannot unmarshal object into Go struct field apiServer.extraArgs of type []v1beta4.Arg" in r.stderr


def test_missing_config_file():
    r = kubeadm("init", "--config", "/nonexistent/kubeadm.yaml")
    assert r.returncode == 1
    assert r.stderr.startswith('error: unable to read config from "/nonexistent/kubeadm.yaml" : open '
                               '/nonexistent/kubeadm.yaml: no such file or directory\n')


def test_config_cannot_mix_flags(tmp_path):
    p = write(tmp_path, "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\n")
    r = kubeadm("init", "--config", p, "--pod-network-cidr", "10.244.0.0/16")
    assert r.returncode == 1
    assert "can not mix '--config' with arguments [pod-network-cidr]" in r.stderr


def test_join_validation_messages():
    r = kubeadm("join", "10.0.0.1:6443", "--token", "abc123")
    assert r.returncode == 1
    assert r.stderr.startswith(
        'error: [discovery.bootstrapToken.token: Invalid value: "abc123": the bootstrap token is invalid, '
        'discovery.tlsBootstrapToken: Invalid value: "abc123": the bootstrap token is invalid, '
        'discovery.bootstrapToken.caCertHashes: Invalid value: "": using token-based discovery without caCertHashes '
        'can be unsafe.')
    r = kubeadm("join", "10.0.0.1:6443", "--token", "abcdef.0123456789abcdef",
                "--discovery-token-ca-cert-hash", "sha256:xyz")
    assert r.returncode == 1
    assert 'invalid discovery token CA certificate hash: invalid hash "sha256:xyz", expected a 32 byte SHA-256 hash' \
        in r.stderr


def test_durations():
    assert K.parse_duration("24h") == 86400
    assert K.parse_duration("1h30m") == 5400
    assert K.parse_duration("0") == 0
    assert K.format_duration(86400) == "24h0m0s"
    assert K.format_duration(300) == "5m0s"
    with pytest.raises(ValueError, match='time: missing unit in duration "10"'):
        K.parse_duration("10")


# ---------------------------------------------------------------- tokens, keys, pins

def test_token_and_key_formats():
    for _ in range(20):
        assert K.TOKEN_RE.match(P.new_token())
        key = P.new_certificate_key()
        assert len(key) == 64 and int(key, 16) >= 0
    r = kubeadm("token", "generate")
    assert K.TOKEN_RE.match(r.stdout.strip())
    r = kubeadm("certs", "certificate-key")
    assert len(r.stdout.strip()) == 64


def test_token_secret_roundtrip():
    sec = P.token_secret("abcdef.0123456789abcdef", 3600, "desc", ["signing", "authentication"],
                         [C.NODE_BOOTSTRAP_GROUP])
    assert sec["type"] == "bootstrap.kubernetes.io/token"
    assert sec["metadata"]["name"] == "bootstrap-token-abcdef"
    d = {k: base64.b64decode(v).decode() for k, v in sec["data"].items()}
    assert d["usage-bootstrap-signing"] == "true" and d["auth-extra-groups"] == C.NODE_BOOTSTRAP_GROUP
    t = P.secret_to_token(sec)
    assert t["token"] == "abcdef.0123456789abcdef" and t["usages"] == ["authentication", "signing"]
    assert 3590 < (t["expires"] - datetime.datetime.now(datetime.timezone.utc)).total_seconds() <= 3600
    forever = P.secret_to_token(P.token_secret("abcdef.0123456789abcdef", 0))
    assert forever["expires"] is None
    listing = output.render_token_list_text([forever], datetime.datetime.now(datetime.timezone.utc))
    assert "<forever>" in listing and "<never>" in listing


def test_token_create_validation():
    r = kubeadm("token", "create", "abc")
    assert r.returncode == 1 and 'the bootstrap token "abc" was not of the form' in r.stderr
    r = kubeadm("token", "create", "--certificate-key", "a" * 64)
    assert "cannot use --certificate-key without --print-join-command" in r.stderr
    r = kubeadm("token", "delete", "bad!", "--kubeconfig", "/nonexistent/admin.conf")
    # as kubeadm: the client is made from the kubeconfig before the arguments are looked at
    assert r.stderr.startswith("error: failed to load admin kubeconfig: open /nonexistent/admin.conf: ")


def test_spki_pin_of_reference_ca():
    assert pki.spki_pin(H1_CA) == H1


def test_certificate_key_encryption_roundtrip():
    key = P.new_certificate_key()
    blob = P.encrypt(b"secret data", key)
    assert P.decrypt(blob, key) == b"secret data"
    with pytest.raises(InvalidTag):
        P.decrypt(blob, P.new_certificate_key())


def test_jws_verification_matches_signer():
    from kubesim.apiserver.controllers import detached_jws
    content = "apiVersion: v1\nkind: Config\n"
    sig = detached_jws(content, "abcdef", "0123456789abcdef")
    assert app.verify_jws(content, sig, "abcdef", "0123456789abcdef")
    assert not app.verify_jws(content, sig, "abcdef", "0123456789abcdeX")
    assert not app.verify_jws(content + " ", sig, "abcdef", "0123456789abcdef")


# ---------------------------------------------------------------- certificates and manifests

def _cluster(**kw):
    init, cluster = K.default_init(None, dict({"apiVersion": K.KUBEADM_V1BETA4, "kind": "ClusterConfiguration"}, **kw),
                                   "1.37.1")
    return cluster


def test_certificate_sans(tmp_path):
    cluster = _cluster(controlPlaneEndpoint="k8s-api.example.internal:6443", certificatesDir=str(tmp_path),
                       apiServer={"certSANs": ["192.168.56.100", "extra.example"]})
    P.make_certs(cluster, "cp1", "192.168.56.11", lambda line: None)
    from cryptography import x509
    cert = pki.load_cert((tmp_path / "apiserver.crt").read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    dns = san.get_values_for_type(x509.DNSName)
    ips = [str(i) for i in san.get_values_for_type(x509.IPAddress)]
    assert dns == ["cp1", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                   "kubernetes.default.svc.cluster.local", "k8s-api.example.internal", "extra.example"]
    assert ips == ["10.96.0.1", "192.168.56.11", "192.168.56.100"]
    etcd = pki.load_cert((tmp_path / "etcd" / "server.crt").read_bytes())
    eips = [str(i) for i in etcd.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            .get_values_for_type(x509.IPAddress)]
    assert eips == ["192.168.56.11", "127.0.0.1", "::1"]
    ca = pki.load_cert((tmp_path / "ca.crt").read_bytes())
    assert ca.subject.rfc4514_string() == "CN=kubernetes"
    assert oct((tmp_path / "ca.key").stat().st_mode & 0o777) == "0o600"
    assert (tmp_path / "sa.pub").read_text().startswith("-----BEGIN PUBLIC KEY-----")
    assert (tmp_path / "ca.key").read_text().startswith("-----BEGIN RSA PRIVATE KEY-----")
    # admin.conf-style client cert: O=kubeadm:cluster-admins
    kc = P.client_kubeconfig(str(tmp_path), "https://k8s-api.example.internal:6443", "kubernetes", "kubernetes-admin",
                             "kubernetes-admin", [C.CLUSTER_ADMINS_GROUP])
    crt = pki.load_cert(base64.b64decode(kc["users"][0]["user"]["client-certificate-data"]))
    assert crt.subject.rfc4514_string() == "CN=kubernetes-admin,O=kubeadm:cluster-admins"
    assert kc["current-context"] == "kubernetes-admin@kubernetes"


def test_manifests_flags_and_images():
    cluster = _cluster(imageRepository="registry.example/k8s", networking={"podSubnet": "10.244.0.0/16"},
                       apiServer={"extraArgs": [{"name": "audit-log-maxage", "value": "30"},
                                                {"name": "authorization-mode", "value": "Node,RBAC,Webhook"}]})
    cluster["networking"].setdefault("serviceSubnet", "10.96.0.0/12")
    api = P.apiserver_manifest(cluster, "192.168.56.10", 6443, "v1.37.1")
    c = api["spec"]["containers"][0]
    assert c["image"] == "registry.example/k8s/kube-apiserver:v1.37.1"
    assert c["command"][0] == "kube-apiserver"
    assert "--authorization-mode=Node,RBAC,Webhook" in c["command"]
    assert "--audit-log-maxage=30" in c["command"]
    assert "--service-cluster-ip-range=10.96.0.0/12" in c["command"]
    assert c["command"][1:] == sorted(c["command"][1:])
    etcd = P.etcd_manifest(cluster, "cp1", "192.168.56.10", "1.37.1")
    assert etcd["spec"]["containers"][0]["image"] == "registry.example/k8s/etcd:3.6.6-0"
    assert "--initial-cluster=cp1=https://192.168.56.10:2380" in etcd["spec"]["containers"][0]["command"]
    cm = P.controller_manager_manifest(cluster, "v1.37.1")
    assert "--cluster-cidr=10.244.0.0/16" in cm["spec"]["containers"][0]["command"]
    assert "--allocate-node-cidrs=true" in cm["spec"]["containers"][0]["command"]


def test_kubelet_config_defaults_and_user_overrides():
    cluster = _cluster()
    kc = P.kubelet_config(cluster, {"apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
                                    "failCgroupV1": False})
    assert kc["cgroupDriver"] == "systemd"
    assert kc["clusterDNS"] == ["10.96.0.10"]
    assert kc["failCgroupV1"] is False
    assert kc["staticPodPath"] == "/etc/kubernetes/manifests"


# ---------------------------------------------------------------- preflight

def test_preflight_rendering_ip_forward_and_kubelet_conf(tmp_path, monkeypatch):
    (tmp_path / "proc/sys/net/ipv4").mkdir(parents=True)
    (tmp_path / "proc/sys/net/ipv4/ip_forward").write_text("0\n")
    (tmp_path / "etc/kubernetes").mkdir(parents=True)
    (tmp_path / "etc/kubernetes/kubelet.conf").write_text("x")
    monkeypatch.setattr(preflight, "ROOT", str(tmp_path))
    checks = [preflight.file_available("/etc/kubernetes/kubelet.conf"),
              preflight.file_available("/etc/kubernetes/bootstrap-kubelet.conf"),
              preflight.file_content("/proc/sys/net/ipv4/ip_forward", "1")]
    import io
    buf = io.StringIO()
    with pytest.raises(PreflightError) as e:
        preflight.run(checks, [], out=buf)
    text, code = output.render_preflight_failure(e.value.errors, "1.37.1")
    assert code == 1
    assert text == (
        "[preflight] Some fatal errors occurred:\n"
        "\t[ERROR FileAvailable--etc-kubernetes-kubelet.conf]: /etc/kubernetes/kubelet.conf already exists\n"
        "\t[ERROR FileContent--proc-sys-net-ipv4-ip_forward]: /proc/sys/net/ipv4/ip_forward contents are not set to 1\n"
        "[preflight] If you know what you are doing, you can make a check non-fatal with "
        "`--ignore-preflight-errors=...`\n"
        "error: error execution phase preflight: preflight checks failed\n"
        "To see the stack trace of this error execute with --v=5 or higher\n")
    # ignored errors become warnings
    buf = io.StringIO()
    preflight.run(checks, ["FileAvailable--etc-kubernetes-kubelet.conf", "filecontent--proc-sys-net-ipv4-ip_forward"],
                  out=buf)
    assert "\t[WARNING FileAvailable--etc-kubernetes-kubelet.conf]: /etc/kubernetes/kubelet.conf already exists\n" \
        in buf.getvalue()


def test_preflight_swap_and_cgroup_v1(tmp_path, monkeypatch):
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc/swaps").write_text("Filename Type Size Used Priority\n/swapfile file 1024 0 -2\n")
    (tmp_path / "sys/fs/cgroup").mkdir(parents=True)
    monkeypatch.setattr(preflight, "ROOT", str(tmp_path))
    import io
    buf = io.StringIO()
    with pytest.raises(PreflightError) as e:
        preflight.run([preflight.swap(), preflight.system_verification()], [], out=buf)
    assert buf.getvalue() == "\t[WARNING Swap]: " + preflight.SWAP_MSG + "\n"
    assert e.value.errors == [("SystemVerification", preflight.CGROUP_V1_MSG)]
    (tmp_path / "sys/fs/cgroup/cgroup.controllers").write_text("cpu memory\n")
    preflight.run([preflight.system_verification()], [], out=io.StringIO())


def test_preflight_port_in_use_and_dir_not_empty(tmp_path, monkeypatch):
    import socket
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", 0))
    s.listen()
    port = s.getsockname()[1]
    try:
        assert preflight.port_open(port).run() == ([], ["Port %d is in use" % port])
    finally:
        s.close()
    (tmp_path / "var/lib/etcd/member").mkdir(parents=True)
    monkeypatch.setattr(preflight, "ROOT", str(tmp_path))
    assert preflight.dir_available("/var/lib/etcd").run() == ([], ["/var/lib/etcd is not empty"])
    assert preflight.dir_available("/var/lib/etcd").name == "DirAvailable--var-lib-etcd"


def test_preflight_executables_in_path(tmp_path, monkeypatch):
    import io
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for exe in ("ip", "mount", "nsenter", "ethtool", "tc", "touch"):  # no iptables, ebtables, socat
        (bindir / exe).write_text("#!/bin/sh\n")
        (bindir / exe).chmod(0o755)
    monkeypatch.setenv("PATH", str(bindir))
    checks = [preflight.in_path(exe, mandatory) for exe, mandatory in preflight.EXEC_CHECKS]
    buf = io.StringIO()
    with pytest.raises(PreflightError) as e:
        preflight.run(checks, [], out=buf)
    assert e.value.errors == [("FileExisting-iptables", "iptables not found in system path")]
    assert buf.getvalue() == ("\t[WARNING FileExisting-ebtables]: ebtables not found in system path\n"
                              "\t[WARNING FileExisting-socat]: socat not found in system path\n")
    for exe in ("iptables", "ebtables", "socat"):
        (bindir / exe).write_text("#!/bin/sh\n")
        (bindir / exe).chmod(0o755)
    buf = io.StringIO()
    preflight.run(checks, [], out=buf)
    assert buf.getvalue() == ""
    # part of the checks kubeadm init and join share (addCommonChecks), after Swap
    names = [c.name for c in preflight.join_checks({"nodeRegistration": {}}, "1.37.1")]
    assert names[names.index("Swap") + 1:names.index("Swap") + 10] == [
        "FileExisting-ip", "FileExisting-iptables", "FileExisting-mount", "FileExisting-nsenter",
        "FileExisting-ebtables", "FileExisting-ethtool", "FileExisting-socat", "FileExisting-tc",
        "FileExisting-touch"]


def test_preflight_num_cpu_and_mem_on_control_plane_join(tmp_path, monkeypatch):
    import io
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc/meminfo").write_text("MemTotal:        1024000 kB\nMemFree:          512000 kB\n")
    monkeypatch.setattr(preflight, "ROOT", str(tmp_path))
    monkeypatch.setattr(preflight.os, "sched_getaffinity", lambda pid: {0})
    checks = preflight.init_checks({"localAPIEndpoint": {"bindPort": 6443}}, {"etcd": {"local": {}}}, "1.37.1",
                                   secondary=True)
    assert [c.name for c in checks[:2]] == ["NumCPU", "Mem"]
    with pytest.raises(PreflightError) as e:
        preflight.run(checks[:2], [], out=io.StringIO())
    assert e.value.errors == [("NumCPU", "the number of available CPUs 1 is less than the required 2"),
                              ("Mem", "the system RAM (1000 MB) is less than the minimum 1700 MB")]
    monkeypatch.setattr(preflight.os, "sched_getaffinity", lambda pid: {0, 1})
    (tmp_path / "proc/meminfo").write_text("MemTotal:        2048000 kB\n")
    preflight.run(checks[:2], [], out=io.StringIO())
    # a worker join has neither
    assert not {"NumCPU", "Mem"} & {c.name for c in preflight.join_checks({"nodeRegistration": {}}, "1.37.1")}


def test_cri_check_dead_socket(tmp_path):
    warns, errs = preflight.cri_check("unix://%s/containerd.sock" % tmp_path).run()
    assert warns == []
    assert errs and errs[0].startswith("could not connect to the container runtime: ")
    assert "no such file or directory" in errs[0]


def test_ignore_all_cannot_be_mixed():
    assert preflight.validate_ignore_list(["all", "Swap"]) == "don't specify individual checks if 'all' is used"
    assert preflight.validate_ignore_list(["all"]) is None


# ---------------------------------------------------------------- discovery over HTTPS (fake cluster-info server)

@pytest.fixture
def cluster_info_server(tmp_path):
    import http.server
    import ssl
    import threading
    from kubesim.apiserver.controllers import detached_jws
    ca, ca_key = pki.new_ca("kubernetes")
    srv_cert, srv_key = pki.new_cert(ca, ca_key, "kube-apiserver", ips=["127.0.0.1"], server=True)
    (tmp_path / "srv.crt").write_bytes(pki.cert_pem(srv_cert))
    (tmp_path / "srv.key").write_bytes(pki.key_pem(srv_key))
    state = {"tokens": {"abcdef": "0123456789abcdef"}, "server": None}

    class H(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            if self.path.split("?")[0] != "/api/v1/namespaces/kube-public/configmaps/cluster-info":
                self.send_response(404)
                self.end_headers()
                return
            content = P.cluster_info_configmap(state["server"], pki.cert_pem(ca))["data"]["kubeconfig"]
            data = {"kubeconfig": content}
            for tid, sec in state["tokens"].items():
                data["jws-kubeconfig-" + tid] = detached_jws(content, tid, sec)
            body = json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                               "metadata": {"name": "cluster-info", "namespace": "kube-public"},
                               "data": data}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(tmp_path / "srv.crt"), str(tmp_path / "srv.key"))
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    state["server"] = "https://127.0.0.1:%d" % httpd.server_address[1]
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield state, pki.spki_pin(ca)
    httpd.shutdown()


def _join_cfg(endpoint, token, pins, timeout="2s"):
    cfg = {"apiVersion": K.KUBEADM_V1BETA4, "kind": "JoinConfiguration",
           "discovery": {"bootstrapToken": {"apiServerEndpoint": endpoint, "token": token, "caCertHashes": pins}},
           "timeouts": {"discovery": timeout}}
    return K.default_join(cfg)


def test_discovery_success_and_pin(cluster_info_server):
    state, pin = cluster_info_server
    ep = state["server"].replace("https://", "")
    kc = app.discover(_join_cfg(ep, "abcdef.0123456789abcdef", [pin]))
    assert kc["clusters"][0]["cluster"]["server"] == state["server"]
    # uppercase hash type accepted, as kubeadm compares the format case-insensitively
    app.discover(_join_cfg(ep, "abcdef.0123456789abcdef", ["SHA256:" + pin.split(":")[1]]))


def test_discovery_wrong_pin(cluster_info_server):
    state, pin = cluster_info_server
    ep = state["server"].replace("https://", "")
    with pytest.raises(KubeadmError) as e:
        app.discover(_join_cfg(ep, "abcdef.0123456789abcdef", ["sha256:" + "1" * 64]))
    assert e.value.text() == ('error execution phase preflight: couldn\'t validate the identity of the API Server: '
                              'cluster CA found in cluster-info ConfigMap is invalid: none of the public keys "%s" are '
                              'pinned' % pin)


def test_discovery_unknown_token_retries_until_timeout(cluster_info_server):
    import time
    state, pin = cluster_info_server
    ep = state["server"].replace("https://", "")
    t0 = time.time()
    with pytest.raises(KubeadmError) as e:
        app.discover(_join_cfg(ep, "zzzzzz.0123456789abcdef", [pin], timeout="2s"))
    assert time.time() - t0 >= 2
    assert e.value.text().endswith('could not find a JWS signature in the cluster-info ConfigMap for token ID "zzzzzz"')


def test_discovery_wrong_secret(cluster_info_server):
    state, pin = cluster_info_server
    ep = state["server"].replace("https://", "")
    with pytest.raises(KubeadmError) as e:
        app.discover(_join_cfg(ep, "abcdef.aaaaaaaaaaaaaaaa", [pin]))
    assert "failed to verify JWS signature of received cluster info object, can't trust this API Server" in e.value.text()


# ---------------------------------------------------------------- upgrade (policy.go; live runs: test_upgrade.py)

def test_upgrade_version_policy_texts():
    from kubesim.kubeadm import upgrade as U
    v = U.Version
    # one minor up with a kubeadm of that minor: allowed
    assert U.enforce_version_policies(v("v1.36.4"), v("v1.37.1"), "v1.37.1", ["v1.36.4"]) == ([], [])
    # two minors up: mandatory, with kubeadm's wording
    mand, _ = U.enforce_version_policies(v("v1.35.2"), v("v1.37.1"), "v1.37.1", ["v1.35.2"])
    assert mand == ['Specified version to upgrade to "v1.37.1" is too high; kubeadm can upgrade only 1 minor '
                    'version at a time']
    # two minors down
    mand, _ = U.enforce_version_policies(v("v1.37.1"), v("v1.37.1"), "v1.35.0", ["v1.37.1"])
    assert 'Specified version to downgrade to "v1.35.0" is too low; kubeadm can downgrade only 1 minor version at ' \
           'a time' in mand
    # kubeadm older than the target minor: mandatory
    mand, _ = U.enforce_version_policies(v("v1.36.4"), v("v1.36.4"), "v1.37.1", ["v1.36.4"])
    assert mand == ['Specified version to upgrade to "v1.37.1" is at least one minor release higher than the '
                    'kubeadm minor release (37 > 36). Such an upgrade is not supported']
    # a newer patch than kubeadm, or an older minor than kubeadm: skippable (needs --force)
    mand, skip = U.enforce_version_policies(v("v1.37.0"), v("v1.37.0"), "v1.37.1", ["v1.37.0"])
    assert mand == [] and skip == ['Specified version to upgrade to "v1.37.1" is higher than the kubeadm version '
                                   '"v1.37.0". Upgrade kubeadm first using the tool you used to install kubeadm']
    mand, skip = U.enforce_version_policies(v("v1.37.1"), v("v1.37.1"), "v1.36.4", ["v1.37.1"])
    assert mand == [] and skip == ["Kubeadm version v1.37.1 can only be used to upgrade to Kubernetes version 1.37"]
    # too old kubelets, unstable versions
    _, skip = U.enforce_version_policies(v("v1.36.4"), v("v1.37.1"), "v1.37.1", ["v1.35.0", "v1.36.4"])
    assert skip == ["There are kubelets in this cluster that are too old that have these versions [v1.35.0]"]
    _, skip = U.enforce_version_policies(v("v1.36.4"), v("v1.37.1"), "v1.37.0-rc.1", [])
    assert 'is an unstable version and such upgrades weren\'t allowed via setting the --allow-*-upgrades flags' \
        in skip[-1]


def test_upgrade_command_line_errors():
    p = kubeadm("upgrade", "apply")
    assert p.returncode == 1
    assert p.stderr.startswith("error: missing one or more required arguments. Required arguments: [version]\n")
    p = kubeadm("upgrade", "apply", "vX", "-y")
    assert p.returncode == 1 and 'couldn\'t parse Kubernetes version "vX"' in p.stderr
    p = kubeadm("upgrade", "apply", "v1.37.1", "--kubeconfig", "/nonexistent/admin.conf", "-y")
    assert p.returncode == 1 and "open /nonexistent/admin.conf: no such file or directory" in p.stderr
    p = kubeadm("upgrade", "frobnicate")
    assert p.returncode == 1 and 'unknown command "frobnicate" for "kubeadm upgrade"' in p.stderr
    p = kubeadm("upgrade", "apply", "v1.37.1", "--bogus")
    assert p.returncode == 1 and "unknown flag: --bogus" in p.stderr


def test_static_pod_version_follows_the_image_tag():
    from kubesim.kubelet import staticpods
    pod = {"spec": {"containers": [{"image": "registry.k8s.io/kube-apiserver:v1.37.1"}]}}
    assert staticpods.image_version(pod) == "v1.37.1"
    pod = {"spec": {"containers": [{"image": "registry.k8s.io/etcd:3.6.6-0"}]}}
    assert staticpods.image_version(pod) is None


# ---------------------------------------------------------------- wait-control-plane

def _free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _manifest(dirpath, name, port):
    (dirpath / (name + ".yaml")).write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "kube-system"},
        "spec": {"containers": [{"name": name, "command": [name, "--bind-address=127.0.0.1",
                                                           "--secure-port=%d" % port]}]}}))


class _LiveAPI:
    def request(self, *args, **kwargs):
        return b"ok"


def test_wait_control_plane_checks_controller_manager_and_scheduler(tmp_path, capsys):
    from kubesim.controllers import serving
    kcm_port, sched_port = _free_port(), _free_port()
    _manifest(tmp_path, "kube-controller-manager", kcm_port)
    _manifest(tmp_path, "kube-scheduler", sched_port)
    assert app.component_endpoints(str(tmp_path)) == [
        ("kube-controller-manager", "https://127.0.0.1:%d/healthz" % kcm_port),
        ("kube-scheduler", "https://127.0.0.1:%d/livez" % sched_port)]
    serving.serve("kube-controller-manager", "127.0.0.1", kcm_port)
    # the scheduler does not answer: wait-control-plane fails on it alone, after the timeout
    with pytest.raises(KubeadmError) as e:
        app.wait_apiserver(_LiveAPI(), "192.0.2.10", 6443, 2, manifests_dir=str(tmp_path))
    assert e.value.phase == "wait-control-plane"
    url = "https://127.0.0.1:%d/livez" % sched_port
    assert e.value.message == ("failed while waiting for the control plane to start: kube-scheduler check failed at "
                               '%s: Get "%s": dial tcp 127.0.0.1:%d: connect: connection refused' % (url, url, sched_port))
    printed = capsys.readouterr().out
    assert "[control-plane-check] Checking kube-scheduler at %s\n" % url in printed
    assert "[control-plane-check] kube-controller-manager is healthy after " in printed
    assert "[control-plane-check] kube-scheduler is not healthy after " in printed
    serving.serve("kube-scheduler", "127.0.0.1", sched_port)
    app.wait_apiserver(_LiveAPI(), "192.0.2.10", 6443, 5, manifests_dir=str(tmp_path))
    assert "[control-plane-check] kube-scheduler is healthy after " in capsys.readouterr().out


# ---------------------------------------------------------------- init phases (a rebuilt control plane)

def test_init_phase_certs_all_reuses_the_restored_authorities(tmp_path):
    pki_dir = tmp_path / "pki"
    ca_cert, ca_key = pki.new_ca("kubernetes")
    pki.write_pair(str(pki_dir), "ca", ca_cert, ca_key)
    cfg = write(tmp_path, """apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint: {advertiseAddress: 192.168.56.11, bindPort: 6443}
nodeRegistration: {name: cp1}
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
certificatesDir: %s
""" % pki_dir)
    r = kubeadm("init", "phase", "certs", "all", "--config", cfg)
    assert r.returncode == 0, r.stderr
    assert "[certs] Using existing ca certificate authority" in r.stdout
    assert '[certs] Generating "apiserver" certificate and key' in r.stdout
    assert '[certs] Generating "etcd/ca" certificate and key' in r.stdout
    assert (pki_dir / "ca.crt").read_bytes() == pki.cert_pem(ca_cert)
    issued = pki.load_cert((pki_dir / "apiserver.crt").read_bytes())
    assert issued.issuer == ca_cert.subject
    issued.verify_directly_issued_by(ca_cert)  # raises unless the restored CA signed it
    again = kubeadm("init", "phase", "certs", "all", "--config", cfg)
    assert again.returncode == 0 and "Generating" not in again.stdout, again.stdout


def test_init_phase_command_line_errors(tmp_path):
    r = kubeadm("init", "phase", "certs", "apiserver-kubelet", "--config", "x.yaml")
    assert r.returncode != 0 and 'unknown command "apiserver-kubelet" for "kubeadm init phase certs"' in r.stderr
    r = kubeadm("init", "phase", "etcd", "local", "--upload-certs")
    assert r.returncode != 0 and "unknown flag: --upload-certs" in r.stderr
    r = kubeadm("init", "phase", "kubelet-start", "extra")
    assert r.returncode != 0 and 'unknown command "extra" for "kubeadm init phase kubelet-start"' in r.stderr
    r = kubeadm("init", "phase", "wait-for-nothing")
    assert r.returncode != 0 and "not implemented by the stand-in" in r.stderr


# ---------------------------------------------------------------- init phases through the API (an interrupted init)

class FakeApi:
    """An in-memory API for the API phases: create (409 when it exists), get, update, merge-patch of Nodes."""

    def __init__(self, nodes=()):
        self.objects = {}
        for name in nodes:
            self.objects["/api/v1/nodes/" + name] = {"metadata": {"name": name, "labels": {}}, "spec": {}}

    def create(self, coll, obj):
        path = coll + "/" + obj["metadata"]["name"]
        if path in self.objects:
            raise app.ApiError(409, "AlreadyExists", "%s already exists" % path)
        self.objects[path] = dict(obj, metadata=dict(obj["metadata"], resourceVersion="1"))
        return self.objects[path]

    def get(self, path, **_params):
        if path not in self.objects:
            raise app.ApiError(404, "NotFound", "%s not found" % path)
        return self.objects[path]

    def update(self, path, obj, **_params):
        self.objects[path] = obj
        return obj

    def patch(self, path, patch, **_params):
        cur = self.get(path)
        cur["metadata"]["labels"].update(patch["metadata"]["labels"])
        cur["spec"].update(patch["spec"])
        return cur


@pytest.fixture
def api_phase(tmp_path, monkeypatch, capsys):
    """Runs `kubeadm init phase <argv>` in-process against a FakeApi with one Node, cp1; returns (rc, stdout)."""
    pki_dir = tmp_path / "pki"
    ca_cert, ca_key = pki.new_ca("kubernetes")
    pki.write_pair(str(pki_dir), "ca", ca_cert, ca_key)
    cfg = write(tmp_path, """apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
bootstrapTokens: [{token: abcdef.0123456789abcdef, ttl: 15m0s}]
localAPIEndpoint: {advertiseAddress: 192.168.56.11, bindPort: 6443}
nodeRegistration: {name: cp1}
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
certificatesDir: %s
""" % pki_dir)
    api = FakeApi(nodes=["cp1"])
    monkeypatch.setattr(app, "admin_client", lambda _path: api)

    def run(*argv):
        capsys.readouterr()
        rc = app.cmd_init_phase(list(argv) + ["--config", cfg])
        return rc, capsys.readouterr().out
    run.api = api
    return run


def test_init_phase_bootstrap_token_creates_token_rbac_and_cluster_info(api_phase):
    rc, stdout = api_phase("bootstrap-token")
    assert rc == 0
    assert stdout.startswith("[bootstrap-token] Using token: abcdef.0123456789abcdef\n"), stdout
    assert '[bootstrap-token] Creating the "cluster-info" ConfigMap in the "kube-public" namespace' in stdout
    objs = api_phase.api.objects
    assert "/api/v1/namespaces/kube-system/secrets/bootstrap-token-abcdef" in objs
    info = objs["/api/v1/namespaces/kube-public/configmaps/cluster-info"]
    assert "https://192.168.56.11:6443" in info["data"]["kubeconfig"]
    for name in ("kubeadm:kubelet-bootstrap", "kubeadm:node-autoapprove-bootstrap",
                 "kubeadm:node-autoapprove-certificate-rotation"):
        assert "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/" + name in objs, sorted(objs)
    assert "/apis/rbac.authorization.k8s.io/v1/namespaces/kube-public/roles/kubeadm:bootstrap-signer-clusterinfo" in objs
    # Again (a re-run): the existing cluster-info is kept as it is (CreateBootstrapConfigMapIfNotExists).
    info["data"]["kubeconfig"] = "kept"
    rc, stdout = api_phase("bootstraptoken", "--skip-token-print")
    assert rc == 0 and "Using token" not in stdout and info["data"]["kubeconfig"] == "kept"


def test_init_phase_addons_mark_control_plane_and_upload_config(api_phase):
    rc, stdout = api_phase("addon", "all")
    assert rc == 0
    assert stdout.splitlines() == ["[addons] Applied essential addon: CoreDNS",
                                   "[addons] Applied essential addon: kube-proxy"], stdout
    objs = api_phase.api.objects
    assert "/apis/apps/v1/namespaces/kube-system/deployments/coredns" in objs
    assert "/apis/apps/v1/namespaces/kube-system/daemonsets/kube-proxy" in objs
    rc, stdout = api_phase("mark-control-plane")
    node = objs["/api/v1/nodes/cp1"]
    assert rc == 0 and "node-role.kubernetes.io/control-plane" in node["metadata"]["labels"]
    assert node["spec"]["taints"] == [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]
    assert "[mark-control-plane] Marking the node cp1 as control-plane by adding the labels" in stdout
    rc, stdout = api_phase("upload-config", "all")
    assert rc == 0 and "kube-system/configmaps/kubeadm-config" in " ".join(objs)
    assert "/api/v1/namespaces/kube-system/configmaps/kubelet-config" in objs


def test_init_phase_addon_print_manifest_needs_no_cluster(tmp_path):
    cfg = write(tmp_path, "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n")
    r = kubeadm("init", "phase", "addon", "coredns", "--print-manifest", "--config", cfg,
                "--kubeconfig", str(tmp_path / "missing.conf"))
    assert r.returncode == 0, r.stderr
    kinds = [d["kind"] for d in yaml.safe_load_all(r.stdout) if d]
    assert "Deployment" in kinds and "ConfigMap" in kinds and "DaemonSet" not in kinds, kinds


def test_init_api_phase_command_line_errors(tmp_path):
    r = kubeadm("init", "phase", "addon")
    assert r.returncode != 0 and 'run a sub-phase of "kubeadm init phase addon"' in r.stderr
    r = kubeadm("init", "phase", "addon", "dns")
    assert r.returncode != 0 and 'unknown command "dns" for "kubeadm init phase addon"' in r.stderr
    # kube-proxy's flags are not coredns's (addons.go getAddonPhaseFlags)
    r = kubeadm("init", "phase", "addon", "coredns", "--pod-network-cidr", "10.0.0.0/16")
    assert r.returncode != 0 and "unknown flag: --pod-network-cidr" in r.stderr
    r = kubeadm("init", "phase", "mark-control-plane", "--kubeconfig", "/x")
    assert r.returncode != 0 and "unknown flag: --kubeconfig" in r.stderr
    r = kubeadm("init", "phase", "upload-config", "kubeadm", "--kubeconfig", str(tmp_path / "none.conf"))
    assert r.returncode != 0 and "failed to load admin kubeconfig" in r.stderr


def test_init_fault_hook_exits_after_the_named_phase():
    code = "from kubesim.kubeadm import app; app.init_fault_hook('upload-certs'); app.init_fault_hook('upload-config'); print('on')"
    env = dict(os.environ, PYTHONPATH=KUBESIM, KUBESIM_KUBEADM_INIT_EXIT_AFTER="upload-config")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 137 and "on" not in r.stdout, (r.stdout, r.stderr)
    assert "kubeadm init stops after the upload-config phase" in r.stderr
    env.pop("KUBESIM_KUBEADM_INIT_EXIT_AFTER")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "on", r.stderr
