# -*- coding: utf-8 -*-
# Copyright (c) kubeforge.kubeadm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure helpers for kubeadm's texts: join commands, bootstrap tokens, CA pins, kubeconfigs.

Runs on managed hosts: Python standard library only (no PyYAML, no cryptography),
Python 3.9+ syntax.  No I/O: every function takes text, bytes or parsed data and returns data,
or raises ``ValueError`` with a message that says what was wrong.  Kubeconfigs are parsed by
kubectl (or PyYAML) in the module, not here.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import json
import os.path
import re

TOKEN_WITHHELD = "<value withheld>"

_TOKEN_RE = re.compile(r"\A[a-z0-9]{6}\.[a-z0-9]{16}\Z")
_TOKEN_ID_RE = re.compile(r"\A[a-z0-9]{6}\Z")
_HASH_RE = re.compile(r"\Asha256:[0-9a-f]{64}\Z", re.IGNORECASE)
_CERT_KEY_RE = re.compile(r"\A[0-9a-fA-F]{64}\Z")
_GROUP_RE = re.compile(r"\Asystem:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]\Z")
_HOSTNAME_RE = re.compile(
    r"\A(?=.{1,253}\Z)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?\Z"
)
_IPV4_RE = re.compile(r"\A(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}\Z")
_IPV6_CHARS_RE = re.compile(r"\A[0-9A-Fa-f:.]+(?:%[A-Za-z0-9_.-]+)?\Z")
_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)(ns|us|\u00b5s|ms|s|m|h)")
_DURATION_UNITS = {
    "ns": 1e-9, "us": 1e-6, "\u00b5s": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0,
}

# The kubeadm flags a printed join command may carry.
_VALUE_FLAGS = ("--token", "--discovery-token-ca-cert-hash", "--certificate-key")
_BOOL_FLAGS = ("--control-plane", "--experimental-control-plane", "--discovery-token-unsafe-skip-ca-verification")

JOIN_USAGES = ("authentication", "signing")


# --------------------------------------------------------------------------- validators
def is_valid_token(value):
    """True when ``value`` is a bootstrap token ``[a-z0-9]{6}.[a-z0-9]{16}``."""
    return isinstance(value, str) and _TOKEN_RE.match(value) is not None


def is_valid_token_id(value):
    """True when ``value`` is a bootstrap token ID ``[a-z0-9]{6}``."""
    return isinstance(value, str) and _TOKEN_ID_RE.match(value) is not None


def is_valid_ca_hash(value):
    """True when ``value`` is ``sha256:`` + 64 hex digits (as kubeadm accepts: case-insensitive)."""
    return isinstance(value, str) and _HASH_RE.match(value) is not None


def is_valid_certificate_key(value):
    """True when ``value`` is 64 hex digits (32 bytes, kubeadm's AES-256 certificate key)."""
    return isinstance(value, str) and _CERT_KEY_RE.match(value) is not None


def is_valid_bootstrap_group(value):
    """True when ``value`` is a group kubeadm accepts for bootstrap tokens."""
    return isinstance(value, str) and _GROUP_RE.match(value) is not None


def validate_token(value):
    """Return ``value`` if it is a bootstrap token, else raise ``ValueError``."""
    if not is_valid_token(value):
        raise ValueError(
            "bad token format: a bootstrap token must match [a-z0-9]{6}.[a-z0-9]{16}, got %s"
            % _describe_secret(value)
        )
    return value


def validate_ca_hash(value):
    """Return ``value`` if it is a CA public key pin, else raise ``ValueError``."""
    if not is_valid_ca_hash(value):
        raise ValueError(
            "bad CA certificate hash %r: expected 'sha256:' followed by 64 hex digits" % (value,)
        )
    return value


def validate_certificate_key(value):
    """Return ``value`` if it is a certificate key, else raise ``ValueError``."""
    if not is_valid_certificate_key(value):
        raise ValueError(
            "bad certificate key format: expected 64 hex digits, got %s" % _describe_secret(value)
        )
    return value


def _describe_secret(value):
    """Describe a rejected secret without repeating it."""
    if not isinstance(value, str):
        return "a value of type %s" % type(value).__name__
    return "a string of %d characters" % len(value)


def validate_endpoint(value):
    """Return ``value`` if it is ``host:port`` (IPv6 in brackets), else raise ``ValueError``."""
    if not isinstance(value, str) or not value:
        raise ValueError("missing API server endpoint")
    if value.startswith("["):
        close = value.find("]")
        if close < 0 or value[close + 1:close + 2] != ":":
            raise ValueError("bad API server endpoint %r: expected [IPv6]:port" % (value,))
        host, port = value[1:close], value[close + 2:]
        if ":" not in host or not _IPV6_CHARS_RE.match(host):
            raise ValueError("bad API server endpoint %r: %r is not an IPv6 address" % (value, host))
    else:
        if value.count(":") != 1:
            raise ValueError(
                "bad API server endpoint %r: expected host:port (an IPv6 address must be in brackets)" % (value,)
            )
        host, port = value.split(":")
        if not (_IPV4_RE.match(host) or _HOSTNAME_RE.match(host)):
            raise ValueError("bad API server endpoint %r: %r is not a host name or IPv4 address" % (value, host))
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("bad API server endpoint %r: port %r is not a number from 1 to 65535" % (value, port))
    return value


# --------------------------------------------------------------------------- join commands
def _logical_lines(text):
    """Split text into (first physical line number, line) with kubeadm's continuations joined.

    A continuation is a backslash at the end of a line (trailing blanks tolerated);
    CR LF and lone CR line ends are accepted.
    """
    if not isinstance(text, str):
        raise ValueError("no command: expected text, got %s" % type(text).__name__)
    logical = []
    pending, start = None, 0
    for number, line in enumerate(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"), start=1):
        if pending is None:
            pending, start = "", number
        trimmed = line.rstrip(" \t")
        if trimmed.endswith("\\"):
            pending += trimmed[:-1] + " "
            continue
        logical.append((start, pending + line))
        pending = None
    if pending is not None:
        logical.append((start, pending))
    return logical


def _protect_withheld(line):
    # "<value withheld>" is one value that contains a blank.
    return line.replace(TOKEN_WITHHELD, "\0withheld\0")


def _unprotect(word):
    return TOKEN_WITHHELD if word == "\0withheld\0" else word


def _parse_join_words(words):
    """Parse the words after ``kubeadm join``."""
    result = {
        "api_server_endpoint": None,
        "token": None,
        "discovery_token_ca_cert_hashes": [],
        "unsafe_skip_ca_verification": False,
        "control_plane": False,
        "certificate_key": None,
    }
    seen = set()
    endpoints = []
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        if not word.startswith("-"):
            endpoints.append(word)
            continue
        name, has_value, value = word.partition("=")
        if name in _BOOL_FLAGS:
            if has_value:
                if value.lower() not in ("true", "false"):
                    raise ValueError("bad value for %s: expected true or false" % name)
                flag = value.lower() == "true"
            else:
                flag = True
            if name == "--discovery-token-unsafe-skip-ca-verification":
                result["unsafe_skip_ca_verification"] = flag
            else:
                result["control_plane"] = result["control_plane"] or flag
            continue
        if name not in _VALUE_FLAGS:
            raise ValueError("unknown flag %r in join command" % (name,))
        if not has_value:
            if i >= len(words) or words[i].startswith("--"):
                raise ValueError("flag %s has no value" % name)
            value = words[i]
            i += 1
        value = _unprotect(value)
        if name == "--discovery-token-ca-cert-hash":
            validate_ca_hash(value)
            result["discovery_token_ca_cert_hashes"].append(value)
            continue
        if name in seen:
            raise ValueError("flag %s given more than once" % name)
        seen.add(name)
        if name == "--token":
            result["token"] = None if value == TOKEN_WITHHELD else validate_token(value)
        else:
            result["certificate_key"] = None if value == TOKEN_WITHHELD else validate_certificate_key(value)
    if not endpoints:
        raise ValueError("missing API server endpoint in join command")
    if len(endpoints) > 1:
        raise ValueError("more than one API server endpoint in join command: %s" % ", ".join(repr(e) for e in endpoints))
    result["api_server_endpoint"] = validate_endpoint(endpoints[0])
    if "--token" not in seen:
        raise ValueError("missing --token in join command")
    if not result["discovery_token_ca_cert_hashes"] and not result["unsafe_skip_ca_verification"]:
        raise ValueError(
            "missing --discovery-token-ca-cert-hash in join command "
            "(and no --discovery-token-unsafe-skip-ca-verification)"
        )
    if "--certificate-key" in seen and not result["control_plane"]:
        raise ValueError("--certificate-key given without --control-plane")
    return result


def _parse_line(line):
    words = _protect_withheld(line).split()
    if len(words) < 2 or words[0] != "kubeadm" or words[1] != "join":
        raise ValueError("no command: expected text starting with 'kubeadm join'")
    return _parse_join_words(words[2:])


def parse_join_command(text):
    """Parse exactly one ``kubeadm join`` command in any shape kubeadm has printed since 1.13.

    Returns a dict with the keys ``api_server_endpoint``, ``token`` (``None`` when kubeadm
    printed ``<value withheld>``), ``discovery_token_ca_cert_hashes`` (printed order),
    ``unsafe_skip_ca_verification``, ``control_plane`` and ``certificate_key`` (or ``None``).
    """
    lines = [line.strip() for _number, line in _logical_lines(text)]
    lines = [line for line in lines if line]
    if not lines:
        raise ValueError("no command: the text is empty")
    starts = [line for line in lines if line.split()[:2] == ["kubeadm", "join"]]
    if len(starts) > 1:
        raise ValueError("more than one command: found %d 'kubeadm join' commands" % len(starts))
    if not starts:
        raise ValueError("no command: no line starts with 'kubeadm join'")
    if len(lines) > 1:
        raise ValueError("unexpected text around the join command (%d lines instead of one command)" % len(lines))
    return _parse_line(lines[0])


def find_join_commands(text):
    """Return every join command in longer output (e.g. ``kubeadm init``'s), in order.

    A line that starts with ``kubeadm join`` but is not a valid join command raises
    ``ValueError``; nothing is skipped silently.
    """
    found = []
    for number, line in _logical_lines(text):
        line = line.strip()
        if line.split()[:2] != ["kubeadm", "join"]:
            continue
        try:
            found.append(_parse_line(line))
        except ValueError as exc:
            raise ValueError("join command on line %d: %s" % (number, exc))
    return found


def render_join_command(api_server_endpoint, token, ca_cert_hashes, control_plane=False,
                        certificate_key=None, unsafe_skip_ca_verification=False):
    """Render a one-line join command (kubeadm's ``--print-join-command`` shape, no trailing blank)."""
    validate_endpoint(api_server_endpoint)
    parts = ["kubeadm", "join", api_server_endpoint, "--token", validate_token(token)]
    for pin in ca_cert_hashes:
        parts += ["--discovery-token-ca-cert-hash", validate_ca_hash(pin)]
    if unsafe_skip_ca_verification:
        parts.append("--discovery-token-unsafe-skip-ca-verification")
    elif not ca_cert_hashes:
        raise ValueError("a join command needs at least one CA certificate hash")
    if control_plane:
        parts.append("--control-plane")
        if certificate_key is not None:
            parts += ["--certificate-key", validate_certificate_key(certificate_key)]
    elif certificate_key is not None:
        raise ValueError("--certificate-key given without --control-plane")
    return " ".join(parts)


# --------------------------------------------------------------------------- token list
def upload_certs_configuration(certificate_key):
    """Return the kubeadm InitConfiguration (JSON, which is YAML) that carries ``certificate_key``.

    ``kubeadm init phase upload-certs --upload-certs --config FILE`` reads the key from
    ``certificateKey`` (cmd/kubeadm/app/cmd/phases/init/uploadcerts.go uses the InitConfiguration's
    key), so the key never has to be on a command line, where every local user sees it in ``ps``.
    The rest of the configuration keeps kubeadm's defaults (certificatesDir /etc/kubernetes/pki, local etcd).
    """
    document = {
        "apiVersion": "kubeadm.k8s.io/v1beta4",
        "kind": "InitConfiguration",
        "certificateKey": validate_certificate_key(certificate_key),
    }
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def parse_timestamp(value):
    """Parse an RFC 3339 timestamp as kubeadm prints it into an aware datetime."""
    if not isinstance(value, str) or not value:
        raise ValueError("bad expiry timestamp %r" % (value,))
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    match = re.match(r"\A(\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2})(\.\d+)?([+-]\d{2}:\d{2})\Z", text)
    if not match:
        raise ValueError("bad expiry timestamp %r: expected RFC 3339 with a time zone" % (value,))
    fraction = (match.group(2) or "")[:7].ljust(7, "0") if match.group(2) else ""
    try:
        return datetime.datetime.fromisoformat(match.group(1).replace("t", "T").replace(" ", "T") + fraction + match.group(3))
    except ValueError as exc:
        raise ValueError("bad expiry timestamp %r: %s" % (value, exc))


def _token_entry(token, description, expires, usages, groups):
    return {
        "token": token,
        "description": description,
        "expires": expires,
        "usages": sorted(usages),
        "groups": list(groups),
    }


def parse_token_list_json(text):
    """Parse ``kubeadm token list -o json``: pretty-printed objects, concatenated, no list.

    Also accepts a JSON list or a ``{"items": [...]}`` wrapper.  Returns a list of dicts
    with ``token``, ``description`` (``""`` when none), ``expires`` (aware datetime or
    ``None`` for a token that never expires), ``usages`` (sorted) and ``groups``.
    """
    if not isinstance(text, str):
        raise ValueError("token list: expected text, got %s" % type(text).__name__)
    decoder = json.JSONDecoder()
    objects = []
    pos = 0
    length = len(text)
    while True:
        while pos < length and text[pos] in " \t\r\n":
            pos += 1
        if pos >= length:
            break
        try:
            obj, pos = decoder.raw_decode(text, pos)
        except ValueError as exc:
            raise ValueError("token list: invalid JSON at character %d: %s" % (pos, exc))
        if isinstance(obj, list):
            objects.extend(obj)
        elif isinstance(obj, dict) and isinstance(obj.get("items"), list):
            objects.extend(obj["items"])
        else:
            objects.append(obj)
    tokens = []
    for obj in objects:
        if not isinstance(obj, dict):
            raise ValueError("token list: expected a JSON object, got %s" % type(obj).__name__)
        if obj.get("kind", "BootstrapToken") != "BootstrapToken":
            raise ValueError("token list: unexpected kind %r" % (obj.get("kind"),))
        token = obj.get("token")
        if not is_valid_token(token):
            raise ValueError("token list: bad token format (%s)" % _describe_secret(token))
        expires = obj.get("expires")
        usages = obj.get("usages") or []
        groups = obj.get("groups") or []
        if not isinstance(usages, list) or not isinstance(groups, list):
            raise ValueError("token list: usages and groups must be lists")
        tokens.append(_token_entry(
            token,
            obj.get("description") or "",
            parse_timestamp(expires) if expires else None,
            [str(u) for u in usages],
            [str(g) for g in groups],
        ))
    return tokens


def parse_token_list_text(text):
    """Parse the table ``kubeadm token list`` prints (columns TOKEN TTL EXPIRES USAGES DESCRIPTION EXTRA GROUPS)."""
    if not isinstance(text, str):
        raise ValueError("token list: expected text, got %s" % type(text).__name__)
    tokens = []
    for number, line in enumerate(text.replace("\r\n", "\n").split("\n"), start=1):
        words = line.split()
        if not words or words[:2] == ["TOKEN", "TTL"]:
            continue
        if len(words) < 6:
            raise ValueError("token list: line %d has %d columns, expected at least 6" % (number, len(words)))
        token, _ttl, expires, usages = words[:4]
        if not is_valid_token(token):
            raise ValueError("token list: line %d does not start with a bootstrap token" % number)
        description = " ".join(words[4:-1])
        groups = words[-1]
        tokens.append(_token_entry(
            token,
            "" if description == "<none>" else description,
            None if expires == "<never>" else parse_timestamp(expires),
            [] if usages == "<none>" else usages.split(","),
            [] if groups == "<none>" else groups.split(","),
        ))
    return tokens


def parse_token_list(text):
    """Parse ``kubeadm token list`` output, JSON (``-o json``) or the text table."""
    if isinstance(text, str) and text.lstrip().startswith(("{", "[")):
        return parse_token_list_json(text)
    return parse_token_list_text(text)


def parse_duration(value):
    """Parse a Go duration (``2h``, ``1h30m``, ``90s``, ``0``) into seconds (float)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value < 0:
            raise ValueError("bad duration %r: negative" % (value,))
        return float(value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError("bad duration %r" % (value,))
    text = value.strip()
    if text == "0":
        return 0.0
    pos = 0
    total = 0.0
    for match in _DURATION_RE.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or pos == 0:
        raise ValueError("bad duration %r: expected e.g. 2h, 1h30m, 45m, 90s or 0" % (value,))
    return total


def token_usable_for_join(entry, now, min_ttl_seconds):
    """True when a parsed token can still be used to join for at least ``min_ttl_seconds``."""
    if not set(JOIN_USAGES) <= set(entry.get("usages") or []):
        return False
    expires = entry.get("expires")
    if expires is None:
        return True
    return (expires - now).total_seconds() >= min_ttl_seconds


# --------------------------------------------------------------------------- certificates
def _der_read(data, pos):
    """Read one DER TLV at ``pos``: return (tag, content_start, end)."""
    if pos + 2 > len(data):
        raise ValueError("bad certificate: truncated DER")
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise ValueError("bad certificate: unsupported multi-byte DER tag")
    first = data[pos + 1]
    start = pos + 2
    if first < 0x80:
        length = first
    elif first == 0x80:
        raise ValueError("bad certificate: indefinite length is not DER")
    else:
        count = first & 0x7F
        if count > 4 or start + count > len(data):
            raise ValueError("bad certificate: bad DER length")
        length = int.from_bytes(data[start:start + count], "big")
        start += count
    end = start + length
    if end > len(data):
        raise ValueError("bad certificate: truncated DER")
    return tag, start, end


def spki_from_der(der):
    """Return the DER bytes of the SubjectPublicKeyInfo of a DER X.509 certificate."""
    der = bytes(der)
    tag, start, end = _der_read(der, 0)
    if tag != 0x30 or end != len(der):
        raise ValueError("bad certificate: not a DER SEQUENCE")
    tag, pos, tbs_end = _der_read(der, start)  # tbsCertificate
    if tag != 0x30:
        raise ValueError("bad certificate: no tbsCertificate")
    tag, _s, after = _der_read(der, pos)
    if tag == 0xA0:  # [0] EXPLICIT version
        pos = after
    # serialNumber, signature, issuer, validity, subject
    expected = (0x02, 0x30, 0x30, 0x30, 0x30)
    for want in expected:
        tag, _s, after = _der_read(der, pos)
        if tag != want or after > tbs_end:
            raise ValueError("bad certificate: unexpected DER structure in tbsCertificate")
        pos = after
    tag, spki_start, spki_end = _der_read(der, pos)
    if tag != 0x30 or spki_end > tbs_end:
        raise ValueError("bad certificate: no subjectPublicKeyInfo")
    tag, _s, _e = _der_read(der, spki_start)
    if tag != 0x30:
        raise ValueError("bad certificate: subjectPublicKeyInfo has no algorithm")
    return der[pos:spki_end]


_PEM_RE = re.compile(
    r"-----BEGIN CERTIFICATE-----\s*\n(.*?)-----END CERTIFICATE-----", re.DOTALL
)


def pem_certificates(pem):
    """Return the DER bytes of every ``CERTIFICATE`` block in PEM text (str or bytes)."""
    if isinstance(pem, bytes):
        pem = pem.decode("ascii", "replace")
    if not isinstance(pem, str):
        raise ValueError("bad CA data: expected PEM text")
    ders = []
    for block in _PEM_RE.findall(pem.replace("\r\n", "\n")):
        body = "".join(block.split())
        try:
            ders.append(base64.b64decode(body, validate=True))
        except (binascii.Error, ValueError):
            raise ValueError("bad CA data: a CERTIFICATE block is not valid base64")
    if not ders:
        raise ValueError("bad CA data: no PEM CERTIFICATE block found")
    return ders


def spki_pin(der):
    """Return kubeadm's public key pin of a DER certificate: ``sha256:`` + hex SHA-256 of its SPKI."""
    return "sha256:" + hashlib.sha256(spki_from_der(der)).hexdigest()


def ca_cert_hashes(pem):
    """Return the pin of every certificate in PEM text, in order (kubeadm pins each CA)."""
    return [spki_pin(der) for der in pem_certificates(pem)]


# --------------------------------------------------------------------------- kubeconfig
# The kubeconfig itself is parsed by a real parser (kubectl, or PyYAML), never here: these functions
# only build the kubectl command line and pick the current cluster out of the parsed data.
def kubectl_config_view_argv(kubectl, path):
    """The command that prints a kubeconfig file as JSON, secrets included (kubectl's own parser)."""
    return [kubectl, "config", "view", "--raw", "-o", "json", "--kubeconfig", path]


def kubeconfig_from_json(text):
    """Decode what ``kubectl config view -o json`` printed."""
    try:
        data = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise ValueError("kubeconfig: kubectl config view printed no JSON object: %s" % exc)
    if not isinstance(data, dict):
        raise ValueError("kubeconfig: kubectl config view printed %s, not a JSON object" % type(data).__name__)
    return data


def _named_entries(data, section, field):
    """Map name -> body of a kubeconfig list (clusters, contexts, users), refusing what kubectl refuses."""
    entries = data.get(section)
    if entries is None:
        return {}
    if not isinstance(entries, list):
        raise ValueError("kubeconfig: %s must be a list, got %s" % (section, type(entries).__name__))
    found = {}
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise ValueError("kubeconfig: %s[%d] is not a mapping" % (section, index))
        name = entry.get("name")
        name = "" if name is None else name
        if not isinstance(name, str):
            raise ValueError("kubeconfig: %s[%d].name must be a string, got %s %r (quote it)"
                             % (section, index, type(name).__name__, name))
        if name in found:
            raise ValueError('kubeconfig: duplicate name "%s" in %s' % (name, section))
        body = entry.get(field)
        body = {} if body is None else body
        if not isinstance(body, dict):
            raise ValueError('kubeconfig: %s "%s": %s must be a mapping' % (section, name, field))
        found[name] = body
    return found


def _names(entries):
    return ", ".join('"%s"' % name for name in sorted(entries)) or "none"


def kubeconfig_current_cluster(data, path=None):
    """Pick the cluster (and user) kubeadm uses from a parsed kubeconfig.

    As kubeadm's ``GetClusterFromKubeConfig``: a cluster without a name wins, else the cluster of
    ``current-context``; there is no "first cluster" fallback, a missing or dangling current context is
    an error.  The CA comes from ``certificate-authority-data`` (decoded PEM) or, when that is absent,
    from the file ``certificate-authority`` (relative paths are relative to the kubeconfig's directory,
    as kubectl resolves them; ``path`` is the kubeconfig's path).

    Returns ``context``, ``cluster``, ``user`` (names, ``None`` when not set), ``server``,
    ``certificate_authority_data`` (PEM bytes or ``None``) and ``certificate_authority`` (a path or ``None``).
    """
    if not isinstance(data, dict):
        raise ValueError("kubeconfig: expected a mapping at the top level, got %s" % type(data).__name__)
    clusters = _named_entries(data, "clusters", "cluster")
    contexts = _named_entries(data, "contexts", "context")
    users = _named_entries(data, "users", "user")
    if not clusters:
        raise ValueError("kubeconfig: no clusters")
    current = data.get("current-context")
    current = "" if current is None else current
    if not isinstance(current, str):
        raise ValueError("kubeconfig: current-context must be a string, got %s %r" % (type(current).__name__, current))
    context_name = user_name = None
    if "" in clusters:
        cluster_name = ""
    else:
        if not current:
            raise ValueError(
                "kubeconfig: no current-context, so there is no current cluster (contexts: %s); "
                "set one with: kubectl config use-context <context> --kubeconfig <file>" % _names(contexts))
        if current not in contexts:
            raise ValueError('kubeconfig: current-context "%s" is not one of the contexts (%s)' % (current, _names(contexts)))
        context_name = current
        context = contexts[current]
        cluster_name = context.get("cluster") or ""
        if cluster_name not in clusters:
            raise ValueError('kubeconfig: context "%s" uses cluster "%s", which is not one of the clusters (%s)'
                             % (current, cluster_name, _names(clusters)))
        user_name = context.get("user") or None
        if user_name is not None and user_name not in users:
            raise ValueError('kubeconfig: context "%s" uses user "%s", which is not one of the users (%s)'
                             % (current, user_name, _names(users)))
    cluster = clusters[cluster_name]
    server = cluster.get("server")
    if not isinstance(server, str) or not server:
        raise ValueError('kubeconfig: cluster "%s" has no server URL' % cluster_name)
    ca_data = cluster.get("certificate-authority-data")
    if ca_data:
        if isinstance(ca_data, bytes):  # YAML !!binary: already decoded
            decoded = ca_data
        else:
            try:
                decoded = base64.b64decode("".join(str(ca_data).split()), validate=True)
            except (binascii.Error, ValueError):
                raise ValueError('kubeconfig: certificate-authority-data of cluster "%s" is not valid base64' % cluster_name)
        ca_data = decoded
    else:
        ca_data = None
    ca_file = cluster.get("certificate-authority") or None
    if ca_data is None and ca_file is None:
        raise ValueError('kubeconfig: cluster "%s" has no CA certificates (certificate-authority-data or certificate-authority)'
                         % cluster_name)
    if ca_file is not None:
        if not isinstance(ca_file, str):
            raise ValueError('kubeconfig: certificate-authority of cluster "%s" must be a path' % cluster_name)
        if not os.path.isabs(ca_file) and path:
            ca_file = os.path.join(os.path.dirname(path), ca_file)
    return {
        "context": context_name,
        "cluster": cluster_name,
        "user": user_name,
        "server": server,
        "certificate_authority_data": ca_data,
        "certificate_authority": ca_file,
    }


def endpoint_from_server(server):
    """Turn a kubeconfig server URL into kubeadm's ``host:port`` (as kubeadm: drop ``https://``)."""
    if not isinstance(server, str) or not server.startswith("https://"):
        raise ValueError("kubeconfig: server %r is not an https:// URL" % (server,))
    endpoint = server[len("https://"):].rstrip("/")
    if "/" in endpoint:
        raise ValueError("kubeconfig: server %r has a path; kubeadm join needs host:port" % (server,))
    return validate_endpoint(endpoint)


# --------------------------------------------------------------------------- kubeadm init, interrupted
CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane"
# The phases of kubeadm init after upload-config/kubeadm, in init's order, and the objects (Kind/name) each creates;
# mark-control-plane's mark is the control-plane label on the host's own Node (None below).
INIT_LATER_PHASES = (
    (("upload-config", "kubelet"), ("ConfigMap/kubelet-config",)),
    (("upload-config", "kubeadm"), ("Role/kubeadm:nodes-kubeadm-config",)),
    (("mark-control-plane",), None),
    (("bootstrap-token",), (
        "ConfigMap/cluster-info", "Role/kubeadm:bootstrap-signer-clusterinfo",
        "RoleBinding/kubeadm:bootstrap-signer-clusterinfo", "ClusterRoleBinding/kubeadm:kubelet-bootstrap",
        "ClusterRoleBinding/kubeadm:node-autoapprove-bootstrap", "ClusterRoleBinding/kubeadm:get-nodes",
        "ClusterRoleBinding/kubeadm:node-autoapprove-certificate-rotation")),
    (("addon", "coredns"), ("Deployment/coredns",)),
    (("addon", "kube-proxy"), ("DaemonSet/kube-proxy",)),
)


def init_phase_skipped(phase, skip_phases):
    """True when kubeadm skips ``phase`` (a tuple such as ("addon", "coredns")) for ``skipPhases`` entries such as
    "addon/coredns", or "addon" (a parent skips all of its sub-phases)."""
    skips = [str(skip) for skip in skip_phases or []]
    return "/".join(phase) in skips or (len(phase) > 1 and phase[0] in skips)


def init_phases_unfinished(lines, skip_phases=()):
    """The later phases of kubeadm init whose objects are missing, in init's order, each a list of words
    (``kubeadm init phase <words>``), leaving out the phases of ``skip_phases``.

    ``lines``: one line per object found, "Kind/name" then its labels (kubectl's jsonpath
    ``{.kind}/{.metadata.name} {.metadata.labels}``), the host's own Node among them when it exists.
    """
    lines = [str(line) for line in lines or []]
    found = set(line.split(" ")[0] for line in lines)
    marked = any(line.startswith("Node/") and CONTROL_PLANE_LABEL in line for line in lines)
    unfinished = []
    for phase, objects in INIT_LATER_PHASES:
        missing = not marked if objects is None else not found.issuperset(objects)
        if missing and not init_phase_skipped(phase, skip_phases):
            unfinished.append(list(phase))
    return unfinished
