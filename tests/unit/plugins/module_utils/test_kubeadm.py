# -*- coding: utf-8 -*-
"""Tests for plugins/module_utils/kubeadm.py against kubeadm's real output shapes (1.12 .. 1.37)."""

import base64
import datetime
import json
import os
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.kubeforge.kubeadm.plugins.module_utils import kubeadm
from kubesim import output

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
UTC = datetime.timezone.utc

T1 = "7q3k9x.m2c8v0w1z4r6t5y9"
T2 = "he2v38.jxoyt62l3xqa5e99"
H1 = "sha256:71257ccd57b9c01017529ce5b2f95543f8ab1eeea5a0138437c2fcaba399160f"
H2 = "sha256:76c59ceefa8ef901f932644ab868d1f6f50e2d1954f9ba5321f0cfe66fd2454e"
K = "7fcb39eb353636d414ec2598d3f20f2d3be13c6938de34e489cf81fac925cba4"
EP = "192.168.56.10:6443"
HA = "k8s-api.example.internal:6443"


def fixture(name):
    with open(os.path.join(FIXTURES, name), "r", newline="") as handle:
        return handle.read()


def join(endpoint, token, hashes, control_plane=False, certificate_key=None, unsafe=False):
    return {
        "api_server_endpoint": endpoint,
        "token": token,
        "discovery_token_ca_cert_hashes": list(hashes),
        "unsafe_skip_ca_verification": unsafe,
        "control_plane": control_plane,
        "certificate_key": certificate_key,
    }


# --------------------------------------------------------------------------- single commands
SINGLE_COMMANDS = [
    ("join-1.37-worker.txt", join(EP, T1, [H1])),
    ("join-1.37-control-plane-key.txt", join(HA, T1, [H1], True, K)),
    ("join-1.37-control-plane-no-key.txt", join(HA, T1, [H1], True)),
    ("join-1.37-ipv6-two-cas.txt", join("[fd00::1]:6443", T1, [H1, H2], True, K)),
    ("token-create-print-join-command.txt", join(EP, T2, [H1])),
    ("token-create-print-join-command-control-plane.txt", join(HA, T2, [H1], True, K)),
]


@pytest.mark.parametrize("name,expected", SINGLE_COMMANDS, ids=[c[0] for c in SINGLE_COMMANDS])
def test_parse_join_command_fixtures(name, expected):
    assert kubeadm.parse_join_command(fixture(name)) == expected


@pytest.mark.parametrize("name,expected", SINGLE_COMMANDS, ids=[c[0] for c in SINGLE_COMMANDS])
def test_parse_join_command_crlf_and_trailing_blanks(name, expected):
    text = fixture(name)
    crlf = text.replace("\n", "\r\n") + "\r\n"
    assert "\r\n" in crlf
    assert kubeadm.parse_join_command(crlf) == expected
    blanks = text.replace("\\\n", "\\   \n") + "   \n\n"
    assert kubeadm.parse_join_command(blanks) == expected
    assert kubeadm.parse_join_command("  " + text) == expected


def test_backslash_newline_spaces_style_1_15_to_1_20():
    text = ("kubeadm join lb.example.com:6443 --token " + T1 + " \\\n    --discovery-token-ca-cert-hash " + H1
            + " \\\n    --control-plane --certificate-key " + K)
    assert kubeadm.parse_join_command(text) == join("lb.example.com:6443", T1, [H1], True, K)


def test_one_line_1_13_without_trailing_blank():
    text = "kubeadm join 10.0.0.1:6443 --token " + T1 + " --discovery-token-ca-cert-hash " + H1
    assert kubeadm.parse_join_command(text) == join("10.0.0.1:6443", T1, [H1])


def test_experimental_control_plane_1_14():
    text = ("kubeadm join 192.168.0.200:6443 --token " + T1 + " \\\n    --discovery-token-ca-cert-hash " + H1
            + " \\\n    --experimental-control-plane --certificate-key " + K)
    assert kubeadm.parse_join_command(text) == join("192.168.0.200:6443", T1, [H1], True, K)


def test_value_withheld_token_and_certificate_key():
    text = ("kubeadm join " + HA + " --token <value withheld> \\\n\t--discovery-token-ca-cert-hash " + H1
            + " \\\n\t--control-plane --certificate-key <value withheld>")
    assert kubeadm.parse_join_command(text) == join(HA, None, [H1], True, None)


def test_flag_equals_form_and_unsafe_skip():
    text = "kubeadm join --token=" + T1 + " 10.1.2.3:6443 --discovery-token-unsafe-skip-ca-verification"
    assert kubeadm.parse_join_command(text) == join("10.1.2.3:6443", T1, [], unsafe=True)


def test_uppercase_hash_accepted_as_kubeadm_does():
    upper = "SHA256:" + H1[len("sha256:"):].upper()
    parsed = kubeadm.parse_join_command("kubeadm join a.b:6443 --token %s --discovery-token-ca-cert-hash %s" % (T1, upper))
    assert parsed["discovery_token_ca_cert_hashes"] == [upper]


BAD_COMMANDS = [
    ("", "no command"),
    ("   \n\t\n", "no command"),
    ("kubectl get nodes", "no command"),
    ("kubeadm init --upload-certs", "no command"),
    ("kubeadm join %s --token abc123 --discovery-token-ca-cert-hash %s" % (EP, H1), "bad token format"),
    ("kubeadm join %s --token 7Q3K9X.M2C8V0W1Z4R6T5Y9 --discovery-token-ca-cert-hash %s" % (EP, H1), "bad token format"),
    ("kubeadm join %s --token %s --discovery-token-ca-cert-hash sha256:abc" % (EP, T1), "bad CA certificate hash"),
    ("kubeadm join %s --token %s --discovery-token-ca-cert-hash %s" % (EP, T1, H1[7:]), "bad CA certificate hash"),
    ("kubeadm join %s --token %s --discovery-token-ca-cert-hash md5:%s" % (EP, T1, H1[7:]), "bad CA certificate hash"),
    ("kubeadm join %s --token %s --discovery-token-ca-cert-hash %sg" % (EP, T1, H1[:-1]), "bad CA certificate hash"),
    ("kubeadm join --token %s --discovery-token-ca-cert-hash %s" % (T1, H1), "missing API server endpoint"),
    ("kubeadm join %s --discovery-token-ca-cert-hash %s" % (EP, H1), "missing --token"),
    ("kubeadm join %s --token %s" % (EP, T1), "missing --discovery-token-ca-cert-hash"),
    ("kubeadm join %s %s --token %s --discovery-token-ca-cert-hash %s" % (EP, HA, T1, H1), "more than one API server endpoint"),
    ("kubeadm join %s --token %s --token %s --discovery-token-ca-cert-hash %s" % (EP, T1, T2, H1), "more than once"),
    ("kubeadm join %s --token %s --discovery-token-ca-cert-hash %s --certificate-key %s" % (EP, T1, H1, K), "without --control-plane"),
    ("kubeadm join %s --token %s --discovery-token-ca-cert-hash %s --control-plane --certificate-key abc" % (EP, T1, H1),
     "bad certificate key"),
    ("kubeadm join %s --token %s --discovery-token-ca-cert-hash %s --node-name x" % (EP, T1, H1), "unknown flag"),
    ("kubeadm join %s --token --discovery-token-ca-cert-hash %s" % (EP, H1), "has no value"),
    ("kubeadm join fd00::1:6443 --token %s --discovery-token-ca-cert-hash %s" % (T1, H1), "bad API server endpoint"),
    ("kubeadm join 192.168.56.10 --token %s --discovery-token-ca-cert-hash %s" % (T1, H1), "bad API server endpoint"),
    ("kubeadm join 192.168.56.10:0 --token %s --discovery-token-ca-cert-hash %s" % (T1, H1), "bad API server endpoint"),
    ("kubeadm join 192.168.56.10:65536 --token %s --discovery-token-ca-cert-hash %s" % (T1, H1), "bad API server endpoint"),
    ("kubeadm join [zz::1]:6443 --token %s --discovery-token-ca-cert-hash %s" % (T1, H1), "bad API server endpoint"),
    ("kubeadm join https://10.0.0.1:6443 --token %s --discovery-token-ca-cert-hash %s" % (T1, H1), "bad API server endpoint"),
    ("kubeadm join %s --token %s --discovery-token-ca-cert-hash %s\nkubeadm join %s --token %s --discovery-token-ca-cert-hash %s"
     % (EP, T1, H1, EP, T2, H1), "more than one command"),
    ("Then run this:\nkubeadm join %s --token %s --discovery-token-ca-cert-hash %s" % (EP, T1, H1), "unexpected text"),
    ("kubeadm join %s --token %s --discovery-token-ca-cert-hash %s --control-plane=maybe" % (EP, T1, H1), "true or false"),
]


@pytest.mark.parametrize("text,message", BAD_COMMANDS)
def test_parse_join_command_rejects(text, message):
    with pytest.raises(ValueError, match=message):
        kubeadm.parse_join_command(text)


def test_parse_join_command_rejects_non_text():
    with pytest.raises(ValueError, match="no command"):
        kubeadm.parse_join_command(None)


def test_bad_token_message_does_not_repeat_the_secret():
    secret = "zzzzzz.thisisnotvalid!!"
    with pytest.raises(ValueError) as err:
        kubeadm.parse_join_command("kubeadm join %s --token %s --discovery-token-ca-cert-hash %s" % (EP, secret, H1))
    assert "thisisnotvalid" not in str(err.value)


def test_full_init_output_is_not_one_command():
    with pytest.raises(ValueError, match="more than one command"):
        kubeadm.parse_join_command(fixture("init-1.37-ha-upload-certs.txt"))


# --------------------------------------------------------------------------- longer outputs
INIT_OUTPUTS = [
    ("init-1.12-token-first.txt", [join("10.0.2.15:6443", "cf016f.b7fd1ad86da928cf",
                                        ["sha256:e7bd6e7561fda671554625787e8a71be7818a4f071d91b9bf78ec815556b8023"])]),
    ("init-1.13-single.txt", [join("192.168.1.181:6443", "wct45y.tq23fogetd7rp3ck",
                                   ["sha256:c267e2423dba21fdf6fc9c07e3b3fa17884c4f24f0c03f2283a230c70b07772f"])]),
    ("init-1.14-ha-upload-certs.txt", [
        join("192.168.0.200:6443", "9vr73a.a8uxyaju799qwdjv",
             ["sha256:7c2e69131a36ae2a042a339b33381c6d0d43887e2de83720eff5359e26aec866"], True,
             "f8902e114ef118304e561c3ecd4d0b543adc226b7a07f675f56564185ffe0c07"),
        join("192.168.0.200:6443", "9vr73a.a8uxyaju799qwdjv",
             ["sha256:7c2e69131a36ae2a042a339b33381c6d0d43887e2de83720eff5359e26aec866"])]),
    ("init-1.18-ha-no-upload.txt", [
        join("lb.example.com:6443", "x5g4xa.7bsg4mgq1b3bsjpu",
             ["sha256:3ebf8658bcd5ff1d4a7b6e3bea6d3ca9a1dfcf2a4d8e3b0c5d3c1d0c6c1b4a21"], True),
        join("lb.example.com:6443", "x5g4xa.7bsg4mgq1b3bsjpu",
             ["sha256:3ebf8658bcd5ff1d4a7b6e3bea6d3ca9a1dfcf2a4d8e3b0c5d3c1d0c6c1b4a21"])]),
    ("init-1.29-ha-skip-token-print.txt", [join(HA, None, [H1], True, None), join(HA, None, [H1])]),
    ("init-1.37-single.txt", [join(EP, T1, [H1])]),
    ("init-1.37-ha-upload-certs.txt", [join(HA, T1, [H1], True, K), join(HA, T1, [H1])]),
]


@pytest.mark.parametrize("name,expected", INIT_OUTPUTS, ids=[c[0] for c in INIT_OUTPUTS])
def test_find_join_commands_in_init_output(name, expected):
    text = fixture(name)
    assert kubeadm.find_join_commands(text) == expected
    assert kubeadm.find_join_commands(text.replace("\n", "\r\n")) == expected


def test_find_join_commands_once_per_token():
    text = (output.render_init_done(HA, T1, [H1], control_plane_endpoint=True, upload_certs=True, certificate_key=K)
            + output.render_init_done(HA, T2, [H1], control_plane_endpoint=True, upload_certs=True, certificate_key=K))
    found = kubeadm.find_join_commands(text)
    assert [(c["token"], c["control_plane"]) for c in found] == [(T1, True), (T1, False), (T2, True), (T2, False)]


def test_find_join_commands_without_any():
    assert not kubeadm.find_join_commands(fixture("upload-certs.txt"))
    assert not kubeadm.find_join_commands("")


def test_find_join_commands_reports_a_broken_command():
    text = fixture("init-1.37-single.txt").replace(H1, "sha256:1234")
    with pytest.raises(ValueError, match="line 35.*bad CA certificate hash"):
        kubeadm.find_join_commands(text)
    ha = fixture("init-1.37-ha-upload-certs.txt")
    lines = ha.split("\n")
    worker_line = max(i for i, line in enumerate(lines, start=1) if line.startswith("kubeadm join"))
    broken = "\n".join(lines[:worker_line - 1] + [lines[worker_line - 1].replace(T1, "bad.token")] + lines[worker_line:])
    with pytest.raises(ValueError, match="line %d: bad token format" % worker_line):
        kubeadm.find_join_commands(broken)


# --------------------------------------------------------------------------- the shared renderer is exact
def _done_part(text):
    return text[text.index("\nYour Kubernetes"):]


def test_renderer_matches_kubeadm_bytes():
    assert output.render_join_command(EP, T1, [H1]) == fixture("join-1.37-worker.txt")
    assert output.render_join_command(HA, T1, [H1], control_plane=True, certificate_key=K) == \
        fixture("join-1.37-control-plane-key.txt")
    assert output.render_join_command(HA, T1, [H1], control_plane=True) == fixture("join-1.37-control-plane-no-key.txt")
    assert output.render_print_join_command(EP, T2, [H1]) == fixture("token-create-print-join-command.txt")
    assert output.render_print_join_command(HA, T2, [H1], certificate_key=K) == \
        fixture("token-create-print-join-command-control-plane.txt")
    assert output.render_upload_certs(K) == fixture("upload-certs.txt")
    assert output.render_init_done(EP, T1, [H1]) == _done_part(fixture("init-1.37-single.txt"))
    assert output.render_init_done(HA, T1, [H1], control_plane_endpoint=True, upload_certs=True, certificate_key=K) == \
        _done_part(fixture("init-1.37-ha-upload-certs.txt"))


def test_renderer_old_versions_parse_like_real_outputs():
    old14 = output.render_init_done("192.168.0.200:6443", "9vr73a.a8uxyaju799qwdjv",
                                    ["sha256:7c2e69131a36ae2a042a339b33381c6d0d43887e2de83720eff5359e26aec866"],
                                    version="1.14", control_plane_endpoint=True, upload_certs=True,
                                    certificate_key="f8902e114ef118304e561c3ecd4d0b543adc226b7a07f675f56564185ffe0c07")
    assert "--experimental-control-plane" in old14
    assert kubeadm.find_join_commands(old14) == kubeadm.find_join_commands(fixture("init-1.14-ha-upload-certs.txt"))
    withheld = output.render_init_done(HA, T1, [H1], version="1.29", control_plane_endpoint=True, upload_certs=True,
                                       certificate_key=K, skip_token_print=True, skip_certificate_key_print=True)
    assert withheld == _done_part(fixture("init-1.29-ha-skip-token-print.txt"))
    old13 = output.render_init_done("192.168.1.181:6443", "wct45y.tq23fogetd7rp3ck",
                                    ["sha256:c267e2423dba21fdf6fc9c07e3b3fa17884c4f24f0c03f2283a230c70b07772f"], version="1.13")
    assert old13 == _done_part(fixture("init-1.13-single.txt"))
    with pytest.raises(ValueError):
        output.render_join_command(EP, T1, [H1], control_plane=True, style="v1.13")


def test_renderer_token_list_matches_kubeadm_bytes():
    now = datetime.datetime(2025, 6, 12, 10, 41, 26, tzinfo=UTC)
    tokens = kubeadm.parse_token_list_json(fixture("token-list-1.37.json"))
    assert output.render_token_list_json(tokens) == fixture("token-list-1.37.json")
    assert output.render_token_list_text(tokens, now) == fixture("token-list-1.37.txt")


def test_renderer_json_escapes_like_go():
    text = output.render_token_list_json([{"token": T1, "description": "a <b> & c"}])
    assert "a \\u003cb\\u003e \\u0026 c" in text
    assert kubeadm.parse_token_list_json(text)[0]["description"] == "a <b> & c"


def test_render_error_versions():
    assert output.render_error("boom") == (
        "error: boom\nTo see the stack trace of this error execute with --v=5 or higher\n", 1)
    assert output.render_error("boom", version="1.33")[0] == "boom\nTo see the stack trace of this error execute with --v=5 or higher\n"


def test_render_preflight_matches_reference_block():
    errors = [("FileAvailable--etc-kubernetes-kubelet.conf", "/etc/kubernetes/kubelet.conf already exists"),
              ("Port-10250", "Port 10250 is in use"),
              ("FileAvailable--etc-kubernetes-pki-ca.crt", "/etc/kubernetes/pki/ca.crt already exists")]
    text, code = output.render_preflight_failure(errors)
    assert code == 1
    assert "[preflight] Running pre-flight checks\n" + text == (
        "[preflight] Running pre-flight checks\n[preflight] Some fatal errors occurred:\n"
        "\t[ERROR FileAvailable--etc-kubernetes-kubelet.conf]: /etc/kubernetes/kubelet.conf already exists\n"
        "\t[ERROR Port-10250]: Port 10250 is in use\n"
        "\t[ERROR FileAvailable--etc-kubernetes-pki-ca.crt]: /etc/kubernetes/pki/ca.crt already exists\n"
        "[preflight] If you know what you are doing, you can make a check non-fatal with `--ignore-preflight-errors=...`\n"
        "error: error execution phase preflight: preflight checks failed\n"
        "To see the stack trace of this error execute with --v=5 or higher\n")
    old, _code = output.render_preflight_failure(errors, version="1.33")
    assert old.startswith("error execution phase preflight: [preflight] Some fatal errors occurred:\n\t[ERROR ")
    assert old.endswith("`--ignore-preflight-errors=...`\nTo see the stack trace of this error execute with --v=5 or higher\n")


@pytest.mark.parametrize("seconds,text", [(-5, "<invalid>"), (-1, "0s"), (59, "59s"), (60, "1m"), (3599, "59m"),
                                          (3600, "1h"), (86399, "23h"), (86400, "1d"), (400 * 86400, "1y")])
def test_short_human_duration(seconds, text):
    assert output.short_human_duration(seconds) == text


# --------------------------------------------------------------------------- token list
EXPECTED_TOKENS = [
    {"token": T1, "description": "The default bootstrap token generated by 'kubeadm init'.",
     "expires": datetime.datetime(2025, 6, 13, 9, 41, 27, tzinfo=UTC), "usages": ["authentication", "signing"],
     "groups": ["system:bootstrappers:kubeadm:default-node-token"]},
    {"token": "bmvqap.h3k69bq6oyd4hjr7", "description": "Proxy for managing TTL for the kubeadm-certs secret",
     "expires": datetime.datetime(2025, 6, 12, 11, 41, 26, tzinfo=UTC), "usages": [], "groups": []},
    {"token": T2, "description": "", "expires": None, "usages": ["authentication", "signing"],
     "groups": ["system:bootstrappers:kubeadm:default-node-token"]},
]


def test_token_list_json():
    assert kubeadm.parse_token_list_json(fixture("token-list-1.37.json")) == EXPECTED_TOKENS
    assert kubeadm.parse_token_list(fixture("token-list-1.37.json")) == EXPECTED_TOKENS


def test_token_list_text_equals_json():
    assert kubeadm.parse_token_list_text(fixture("token-list-1.37.txt")) == EXPECTED_TOKENS
    assert kubeadm.parse_token_list(fixture("token-list-1.37.txt")) == EXPECTED_TOKENS


def test_token_list_legacy_local_time_and_invalid_ttl():
    tokens = kubeadm.parse_token_list_text(fixture("token-list-1.21-legacy.txt"))
    assert [t["token"] for t in tokens] == ["abcdef.0123456789abcdef", "zyxwvu.9876543210zyxwvu"]
    assert tokens[0]["expires"] == datetime.datetime(2021, 8, 8, 10, 53, 49, tzinfo=UTC)
    assert tokens[0]["description"] == ""
    assert tokens[1]["description"] == "The default bootstrap token generated by 'kubeadm init'."


def test_token_list_empty_and_wrapped():
    assert not kubeadm.parse_token_list_json("")
    assert not kubeadm.parse_token_list_text("")
    objs = [json.loads(x) for x in ('{"token": "%s"}' % T1, '{"token": "%s", "expires": "2030-01-01T00:00:00.5Z"}' % T2)]
    assert [t["token"] for t in kubeadm.parse_token_list_json(json.dumps(objs))] == [T1, T2]
    wrapped = kubeadm.parse_token_list_json(json.dumps({"items": objs}))
    assert wrapped[1]["expires"] == datetime.datetime(2030, 1, 1, 0, 0, 0, 500000, tzinfo=UTC)


@pytest.mark.parametrize("text,message", [
    ('{"token": "%s"} {' % T1, "invalid JSON"),
    ('{"token": "nope"}', "bad token format"),
    ('{"kind": "Secret", "token": "%s"}' % T1, "unexpected kind"),
    ('{"token": "%s", "expires": "tomorrow"}' % T1, "bad expiry timestamp"),
    ('{"token": "%s", "expires": "2025-06-13T09:41:27"}' % T1, "time zone"),
    ('{"token": "%s", "usages": "signing"}' % T1, "must be lists"),
    ("[1]", "expected a JSON object"),
])
def test_token_list_json_rejects(text, message):
    with pytest.raises(ValueError, match=message):
        kubeadm.parse_token_list_json(text)


def test_token_list_text_rejects():
    with pytest.raises(ValueError, match="columns"):
        kubeadm.parse_token_list_text("abcdef.0123456789abcdef 1h\n")
    with pytest.raises(ValueError, match="bootstrap token"):
        kubeadm.parse_token_list_text("not-a-token 1h 2025-06-13T09:41:27Z signing desc <none>\n")


def test_token_usable_for_join():
    now = datetime.datetime(2025, 6, 12, 10, 0, 0, tzinfo=UTC)
    entry = dict(EXPECTED_TOKENS[0])
    assert kubeadm.token_usable_for_join(entry, now, 15 * 60)
    assert not kubeadm.token_usable_for_join(entry, now, 24 * 3600)
    assert not kubeadm.token_usable_for_join(entry, now + datetime.timedelta(days=2), 0)
    assert not kubeadm.token_usable_for_join(EXPECTED_TOKENS[1], now, 0)
    assert kubeadm.token_usable_for_join(EXPECTED_TOKENS[2], now, 10 ** 9)


@pytest.mark.parametrize("text,seconds", [("0", 0), ("2h", 7200), ("1h30m", 5400), ("45m", 2700), ("90s", 90),
                                          ("24h0m0s", 86400), ("1.5h", 5400), ("500ms", 0.5), (30, 30)])
def test_parse_duration(text, seconds):
    assert kubeadm.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "2", "h", "2d", "-1h", "1h 30m", "1hh", None, True, -3])
def test_parse_duration_rejects(text):
    with pytest.raises(ValueError):
        kubeadm.parse_duration(text)


# --------------------------------------------------------------------------- validators
def test_validators():
    assert kubeadm.is_valid_token(T1) and not kubeadm.is_valid_token(T1 + "\n") and not kubeadm.is_valid_token(None)
    assert kubeadm.is_valid_token_id("abcdef") and not kubeadm.is_valid_token_id("abcdefg")
    assert kubeadm.is_valid_ca_hash(H1) and not kubeadm.is_valid_ca_hash(H1[:-1])
    assert kubeadm.is_valid_certificate_key(K) and not kubeadm.is_valid_certificate_key(K + "0")
    assert kubeadm.is_valid_bootstrap_group("system:bootstrappers:kubeadm:default-node-token")
    assert not kubeadm.is_valid_bootstrap_group("system:masters")
    assert kubeadm.validate_token(T1) == T1
    assert kubeadm.validate_ca_hash(H1) == H1
    assert kubeadm.validate_certificate_key(K) == K
    for func, value in ((kubeadm.validate_token, "x"), (kubeadm.validate_ca_hash, "x"),
                        (kubeadm.validate_certificate_key, 5)):
        with pytest.raises(ValueError):
            func(value)


def test_render_join_command_one_line_round_trip():
    line = kubeadm.render_join_command(HA, T1, [H1, H2], control_plane=True, certificate_key=K)
    assert "\n" not in line and not line.endswith(" ")
    assert kubeadm.parse_join_command(line) == join(HA, T1, [H1, H2], True, K)
    with pytest.raises(ValueError):
        kubeadm.render_join_command(HA, T1, [])
    with pytest.raises(ValueError):
        kubeadm.render_join_command(HA, T1, [H1], certificate_key=K)


# --------------------------------------------------------------------------- certificates
def test_spki_pin_of_reference_ca():
    assert kubeadm.ca_cert_hashes(fixture("ca-ec-p256.pem")) == [H1]
    assert kubeadm.ca_cert_hashes(fixture("ca-ec-p256.pem").encode()) == [H1]


def test_spki_pin_matches_cryptography_for_rsa_and_bundles(rsa_ca):
    pem, pin = rsa_ca
    assert kubeadm.ca_cert_hashes(pem) == [pin]
    bundle = pem + fixture("ca-ec-p256.pem").replace("\n", "\r\n")
    assert kubeadm.ca_cert_hashes(bundle) == [pin, H1]


def test_spki_rejects_garbage():
    pem = fixture("ca-ec-p256.pem")
    der = kubeadm.pem_certificates(pem)[0]
    with pytest.raises(ValueError, match="no PEM CERTIFICATE"):
        kubeadm.ca_cert_hashes("hello")
    with pytest.raises(ValueError, match="base64"):
        kubeadm.ca_cert_hashes("-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n")
    with pytest.raises(ValueError, match="bad certificate"):
        kubeadm.spki_pin(der[:-10])
    with pytest.raises(ValueError, match="bad certificate"):
        kubeadm.spki_pin(b"\x02\x01\x00")
    with pytest.raises(ValueError, match="bad certificate"):
        kubeadm.spki_pin(b"\x30\x80\x00\x00")
    with pytest.raises(ValueError, match="bad certificate"):
        kubeadm.spki_pin(b"\x30\x03\x02\x01\x00")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_spki_garbage_never_crashes(data):
    try:
        kubeadm.spki_pin(data)
    except ValueError:
        pass


# --------------------------------------------------------------------------- kubeconfig
# kubeconfig_current_cluster gets what kubectl (or PyYAML) parsed: plain data. The parsing itself
# (flow mappings, quoting, comments...) is tested through the module with the real parsers.
def _config(current="admin@b", clusters=None, contexts=None, users=None):
    pem = fixture("ca-ec-p256.pem")
    data = {
        "clusters": clusters if clusters is not None else [
            {"name": "a", "cluster": {"server": "https://10.0.0.1:6443", "certificate-authority-data": base64.b64encode(b"junk").decode()}},
            {"name": "b", "cluster": {"server": "https://192.168.56.10:6443",
                                      "certificate-authority-data": base64.b64encode(pem.encode()).decode()}},
        ],
        "contexts": contexts if contexts is not None else [
            {"name": "admin@a", "context": {"cluster": "a", "user": "admin"}},
            {"name": "admin@b", "context": {"cluster": "b", "user": "admin"}},
        ],
        "users": users if users is not None else [{"name": "admin", "user": {"token": "x"}}],
    }
    if current is not None:
        data["current-context"] = current
    return data


def test_kubectl_config_view_argv():
    assert kubeadm.kubectl_config_view_argv("/usr/bin/kubectl", "/etc/kubernetes/admin.conf") == [
        "/usr/bin/kubectl", "config", "view", "--raw", "-o", "json", "--kubeconfig", "/etc/kubernetes/admin.conf"]


def test_current_context_chooses_cluster_and_user():
    config = kubeadm.kubeconfig_current_cluster(_config(), "/etc/kubernetes/admin.conf")
    assert config == {"context": "admin@b", "cluster": "b", "user": "admin", "server": "https://192.168.56.10:6443",
                      "certificate_authority_data": fixture("ca-ec-p256.pem").encode(), "certificate_authority": None}
    assert kubeadm.ca_cert_hashes(config["certificate_authority_data"]) == [H1]
    other = kubeadm.kubeconfig_current_cluster(_config(current="admin@a"))
    assert other["cluster"] == "a" and other["server"] == "https://10.0.0.1:6443"


def test_unnamed_cluster_wins_as_in_kubeadm():
    clusters = [{"name": "b", "cluster": {"server": "https://b:6443", "certificate-authority": "/b.crt"}},
                {"cluster": {"server": "https://unnamed:6443", "certificate-authority": "/u.crt"}}]
    config = kubeadm.kubeconfig_current_cluster(_config(current=None, clusters=clusters, contexts=[]))
    assert config["server"] == "https://unnamed:6443" and config["cluster"] == "" and config["context"] is None


@pytest.mark.parametrize("ca,path,expected", [
    ("pki/ca.crt", "/etc/kubernetes/admin.conf", "/etc/kubernetes/pki/ca.crt"),
    ("/srv/ca.crt", "/etc/kubernetes/admin.conf", "/srv/ca.crt"),
    ("ca.crt", None, "ca.crt"),
])
def test_certificate_authority_file(ca, path, expected):
    clusters = [{"name": "b", "cluster": {"server": "https://b:6443", "certificate-authority": ca}}]
    config = kubeadm.kubeconfig_current_cluster(_config(clusters=clusters), path)
    assert config["certificate_authority"] == expected and config["certificate_authority_data"] is None


def test_certificate_authority_data_wins_over_the_file():
    pem = fixture("ca-ec-p256.pem")
    clusters = [{"name": "b", "cluster": {"server": "https://b:6443", "certificate-authority": "/x.crt",
                                          "certificate-authority-data": base64.b64encode(pem.encode()).decode()}}]
    config = kubeadm.kubeconfig_current_cluster(_config(clusters=clusters))
    assert config["certificate_authority_data"] == pem.encode()
    # PyYAML reads !!binary as bytes already decoded
    clusters[0]["cluster"]["certificate-authority-data"] = pem.encode()
    assert kubeadm.kubeconfig_current_cluster(_config(clusters=clusters))["certificate_authority_data"] == pem.encode()


@pytest.mark.parametrize("data,message", [
    ([], "expected a mapping at the top level, got list"),
    (None, "expected a mapping at the top level, got NoneType"),
    ({"apiVersion": "v1", "kind": "Config"}, "no clusters"),
    ({"clusters": None, "contexts": None, "users": None, "current-context": ""}, "no clusters"),  # kubectl, empty file
    (_config(current=None), 'no current-context, so there is no current cluster (contexts: "admin@a", "admin@b")'),
    (_config(current=""), "no current-context"),
    (_config(current="nope"), 'current-context "nope" is not one of the contexts ("admin@a", "admin@b")'),
    (_config(current=7), "current-context must be a string, got int 7"),
    (_config(contexts=[{"name": "admin@b", "context": {"cluster": "c", "user": "admin"}}]),
     'context "admin@b" uses cluster "c", which is not one of the clusters ("a", "b")'),
    (_config(users=[]), 'context "admin@b" uses user "admin", which is not one of the users (none)'),
    (_config(clusters=[{"name": "b", "cluster": {"server": "https://b:6443"}}] * 2), 'duplicate name "b" in clusters'),
    (_config(users=[{"name": True, "user": {}}]), "users[0].name must be a string, got bool True (quote it)"),
    (_config(clusters={"b": {}}), "clusters must be a list, got dict"),
    (_config(contexts=["admin@b"]), "contexts[0] is not a mapping"),
    (_config(clusters=[{"name": "b", "cluster": "https://b:6443"}]), 'clusters "b": cluster must be a mapping'),
    (_config(clusters=[{"name": "b", "cluster": {"insecure-skip-tls-verify": True}}]), 'cluster "b" has no server URL'),
    (_config(clusters=[{"name": "b", "cluster": {"server": "https://b:6443"}}]),
     'cluster "b" has no CA certificates (certificate-authority-data or certificate-authority)'),
    (_config(clusters=[{"name": "b", "cluster": {"server": "https://b:6443", "certificate-authority-data": "!!"}}]),
     'certificate-authority-data of cluster "b" is not valid base64'),
])
def test_kubeconfig_current_cluster_rejects(data, message):
    with pytest.raises(ValueError, match=re.escape("kubeconfig: " + message)):
        kubeadm.kubeconfig_current_cluster(data)


@pytest.mark.parametrize("text,message", [
    ("", "printed no JSON object"),
    ("{not json", "printed no JSON object"),
    ("[]", "printed list, not a JSON object"),
])
def test_kubeconfig_from_json_rejects(text, message):
    with pytest.raises(ValueError, match=message):
        kubeadm.kubeconfig_from_json(text)


def test_kubeconfig_from_json():
    assert kubeadm.kubeconfig_from_json('{"clusters": []}') == {"clusters": []}


@pytest.mark.parametrize("server", ["http://1.2.3.4:6443", "https://1.2.3.4:6443/prefix", "https://1.2.3.4", "1.2.3.4:6443"])
def test_endpoint_from_server_rejects(server):
    with pytest.raises(ValueError):
        kubeadm.endpoint_from_server(server)


# --------------------------------------------------------------------------- property tests
ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"
HEX = "0123456789abcdef"
tokens = st.builds(lambda a, b: a + "." + b, st.text(ALNUM, min_size=6, max_size=6), st.text(ALNUM, min_size=16, max_size=16))
pins = st.text(HEX, min_size=64, max_size=64).map(lambda h: "sha256:" + h)
keys = st.text(HEX, min_size=64, max_size=64)
ports = st.integers(min_value=1, max_value=65535)
labels = st.from_regex(r"\A[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?\Z")
hosts = st.one_of(
    st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(str(x) for x in t)),
    st.lists(labels, min_size=1, max_size=4).map(".".join),
    st.lists(st.integers(0, 0xFFFF), min_size=8, max_size=8).map(lambda g: "[" + ":".join("%x" % x for x in g) + "]"),
    st.just("[fd00::1]"),
)
endpoints = st.builds(lambda h, p: "%s:%d" % (h, p), hosts, ports)


@settings(max_examples=200, deadline=None)
@given(endpoint=endpoints, token=tokens, hashes=st.lists(pins, min_size=1, max_size=3),
       control_plane=st.booleans(), key=st.one_of(st.none(), keys), style=st.sampled_from(output.JOIN_STYLES),
       crlf=st.booleans(), trailing=st.text(" \t", max_size=3))
def test_rendered_join_commands_parse_back(endpoint, token, hashes, control_plane, key, style, crlf, trailing):
    if style == "v1.13":
        control_plane = False
    text = output.render_join_command(endpoint, token, hashes, control_plane=control_plane,
                                      certificate_key=key, style=style)
    text = text.replace("\n", trailing + "\n") + trailing
    if crlf:
        text = text.replace("\n", "\r\n")
    expected = join(endpoint, token, hashes, control_plane, key if control_plane else None)
    assert kubeadm.parse_join_command(text) == expected
    assert kubeadm.find_join_commands("some output\n  " + text + "\nmore output\n") == [expected]
    one_line = output.render_print_join_command(endpoint, token, hashes, certificate_key=key if style != "v1.13" else None,
                                                style=style)
    assert kubeadm.parse_join_command(one_line) == join(endpoint, token, hashes, bool(key) and style != "v1.13",
                                                        key if style != "v1.13" else None)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_garbage_never_parses(text):
    with pytest.raises(ValueError):
        kubeadm.parse_join_command(text)


@settings(max_examples=300, deadline=None)
@given(words=st.lists(st.sampled_from(["kubeadm", "join", "--token", T1, "--discovery-token-ca-cert-hash", H1,
                                       "--control-plane", "--certificate-key", K, EP, "\\\n", "\t", "x"]), max_size=12))
def test_shuffled_join_words_parse_or_raise_value_error(words):
    text = " ".join(words)
    try:
        parsed = kubeadm.parse_join_command(text)
    except ValueError:
        return
    # whatever parses must be a real, complete join command
    assert parsed["api_server_endpoint"] == EP and parsed["token"] == T1
    assert parsed["discovery_token_ca_cert_hashes"] and set(parsed["discovery_token_ca_cert_hashes"]) == {H1}


@settings(max_examples=200, deadline=None)
@given(token=tokens, hashes=st.lists(pins, min_size=1, max_size=2), key=keys,
       field=st.sampled_from(["token", "hash", "key"]), data=st.data())
def test_corrupted_field_never_parses(token, hashes, key, field, data):
    bad_char = data.draw(st.sampled_from("ABCXYZ!_-/:+"))
    if field == "token":
        pos = data.draw(st.integers(0, len(token) - 1))
        token = token[:pos] + bad_char + token[pos + 1:]
    elif field == "hash":
        pos = data.draw(st.integers(len("sha256:"), len(hashes[0]) - 1))
        hashes = [hashes[0][:pos] + (bad_char if bad_char not in "ABC" else "g") + hashes[0][pos + 1:]] + hashes[1:]
    else:
        pos = data.draw(st.integers(0, len(key) - 1))
        key = key[:pos] + (bad_char if bad_char not in "ABC" else "g") + key[pos + 1:]
    text = output.render_join_command(HA, token, hashes, control_plane=True, certificate_key=key)
    with pytest.raises(ValueError):
        kubeadm.parse_join_command(text)


# --------------------------------------------------------------------------- kubeadm init, interrupted
INIT_DONE = [
    "ConfigMap/kubelet-config map[]", "Role/kubeadm:nodes-kubeadm-config map[]", "Deployment/coredns "
    '{"k8s-app":"kube-dns"}', "DaemonSet/kube-proxy {\"k8s-app\":\"kube-proxy\"}", "ConfigMap/cluster-info ",
    "Role/kubeadm:bootstrap-signer-clusterinfo ", "RoleBinding/kubeadm:bootstrap-signer-clusterinfo ",
    "ClusterRoleBinding/kubeadm:kubelet-bootstrap ", "ClusterRoleBinding/kubeadm:node-autoapprove-bootstrap ",
    "ClusterRoleBinding/kubeadm:node-autoapprove-certificate-rotation ", "ClusterRoleBinding/kubeadm:get-nodes ",
    'Node/cp1 {"kubernetes.io/hostname":"cp1","node-role.kubernetes.io/control-plane":""}']
ALL_LATER_PHASES = [["upload-config", "kubelet"], ["upload-config", "kubeadm"], ["mark-control-plane"],
                    ["bootstrap-token"], ["addon", "coredns"], ["addon", "kube-proxy"]]


def test_init_finished_leaves_nothing_to_do():
    assert kubeadm.init_phases_unfinished(INIT_DONE) == []
    assert kubeadm.init_phases_unfinished(INIT_DONE + ["", "Node/cp2 {}"]) == []


def test_init_stopped_after_upload_config():
    """What the stand-in's fault hook leaves (tests/lab/tests/test_faults.py): both ConfigMaps of upload-config, the
    Node without its control-plane label, nothing else."""
    lines = ["ConfigMap/kubelet-config ", "Role/kubeadm:nodes-kubeadm-config ", 'Node/cp1 {"kubernetes.io/hostname":"cp1"}']
    assert kubeadm.init_phases_unfinished(lines) == [
        ["mark-control-plane"], ["bootstrap-token"], ["addon", "coredns"], ["addon", "kube-proxy"]]


def test_init_nothing_found_all_phases_in_init_order():
    assert kubeadm.init_phases_unfinished([]) == ALL_LATER_PHASES
    assert kubeadm.init_phases_unfinished(None) == ALL_LATER_PHASES


@pytest.mark.parametrize("missing", [line for line in INIT_DONE if not line.startswith("Node/")])
def test_init_one_missing_object_names_its_phase(missing):
    kind_name = missing.split(" ")[0]
    expected = [list(phase) for phase, objects in kubeadm.INIT_LATER_PHASES if objects and kind_name in objects]
    assert len(expected) == 1
    assert kubeadm.init_phases_unfinished([line for line in INIT_DONE if line != missing]) == expected


def test_init_control_plane_label_only_on_a_node_line():
    lines = [line for line in INIT_DONE if not line.startswith("Node/")]
    assert kubeadm.init_phases_unfinished(lines) == [["mark-control-plane"]]
    fake = lines + ['ConfigMap/x {"node-role.kubernetes.io/control-plane":""}', "Node/cp1 {}"]
    assert kubeadm.init_phases_unfinished(fake) == [["mark-control-plane"]]


@pytest.mark.parametrize("skip, left", [
    (["addon"], ALL_LATER_PHASES[:4]),
    (["addon/coredns"], ALL_LATER_PHASES[:4] + [["addon", "kube-proxy"]]),
    (["upload-config"], ALL_LATER_PHASES[2:]),
    (["upload-config/kubelet", "mark-control-plane", "bootstrap-token"], [["upload-config", "kubeadm"]] + ALL_LATER_PHASES[4:]),
    (["addon/coredns/x", "preflight", "kube-proxy"], ALL_LATER_PHASES),
])
def test_init_skip_phases_and_their_parents(skip, left):
    assert kubeadm.init_phases_unfinished([], skip) == left
