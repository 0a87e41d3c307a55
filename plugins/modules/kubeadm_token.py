#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) kubeforge.kubeadm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: kubeadm_token
short_description: Create or reuse kubeadm bootstrap tokens and certificate keys, and return join commands
version_added: "0.1.0"
description:
  - Lists the cluster's bootstrap tokens with C(kubeadm token list -o json) and reuses a valid token that has the
    same O(description) and O(groups), the usages needed for joining, and at least O(reuse_min_ttl) of life left.
    Otherwise creates one with C(kubeadm token create).
  - Builds the join commands itself from the admin kubeconfig's current cluster (API server endpoint = its server URL
    without C(https://); one C(--discovery-token-ca-cert-hash) per CA certificate in the kubeconfig), exactly as
    kubeadm does, so a reused token gets a join command as well.
  - With O(control_plane=true), uploads the control-plane certificates with
    C(kubeadm init phase upload-certs --upload-certs --config), under O(certificate_key) or under a key generated with
    C(kubeadm certs certificate-key), and returns the control-plane join command. The key reaches kubeadm in an
    InitConfiguration file (mode 0600, removed right after), never on a command line.
  - With O(state=absent), deletes the token given in O(token), or every token with O(description).
  - Run it on a control-plane node that has the admin kubeconfig. The returned token and certificate key are
    secrets; use C(no_log) on the task.
author:
  - kubeforge maintainers (@kubeforge)
options:
  state:
    description:
      - V(present) returns a usable token (reused or created) and the join commands.
      - V(absent) deletes O(token) if given, else every token whose description is O(description).
    type: str
    choices: [present, absent]
    default: present
  token:
    description:
      - A bootstrap token (C([a-z0-9]{6}.[a-z0-9]{16})) to reuse or create instead of a random one.
      - Ansible masks values of secret options in everything the module returns, so when O(token) is given,
        RV(token) and the join commands show it as C(********); the structured return values stay usable.
    type: str
  ttl:
    description:
      - Lifetime of a created token, as a kubeadm duration (C(1h), C(30m), C(2h30m)); V(0) means it never expires.
    type: str
    default: 1h
  reuse_min_ttl:
    description:
      - An existing token is reused only if it has at least this much life left (kubeadm duration).
      - Must not exceed O(ttl), otherwise a fresh token would never be reused.
    type: str
    default: 15m
  description:
    description:
      - Description of the token. Tokens are reused, and deleted with O(state=absent), by this description.
    type: str
    default: kubeforge.kubeadm join token
  usages:
    description:
      - Usages of a created token. Joining needs both V(authentication) and V(signing), so both must be listed.
    type: list
    elements: str
    default: [authentication, signing]
  groups:
    description:
      - Extra groups of a created token; a token is reused only if its groups are the same.
    type: list
    elements: str
    default: ['system:bootstrappers:kubeadm:default-node-token']
  control_plane:
    description:
      - Also upload the control-plane certificates (encrypted with the certificate key, kept by kubeadm for two
        hours) and return RV(certificate_key) and RV(control_plane_join_command). Always reports a change.
    type: bool
    default: false
  certificate_key:
    description:
      - Certificate key (64 hex digits) for O(control_plane). Generated with C(kubeadm certs certificate-key)
        when not given.
    type: str
  kubeconfig:
    description:
      - Admin kubeconfig used by kubeadm and read for the API server endpoint and the CA certificates.
    type: path
    default: /etc/kubernetes/admin.conf
  kubeadm_bin:
    description:
      - kubeadm executable, a name looked up in E(PATH) or a path.
    type: str
    default: kubeadm
  kubectl_bin:
    description:
      - kubectl executable, a name looked up in E(PATH) or a path. The module reads O(kubeconfig) with
        C(kubectl config view --raw -o json), i.e. with the same parser as kubeadm.
      - When kubectl is not there, the kubeconfig is read with the Python YAML library (PyYAML); when neither is
        available the module fails and says so.
    type: str
    default: kubectl
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Lists tokens but creates, deletes and uploads nothing; RV(actions) says what would be done.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
notes:
  - Secrets never appear in failure messages; kubeadm command lines are reported with secrets replaced by C(********).
  - The kubeconfig is parsed by C(kubectl config view) (kubectl is on every control plane), else by PyYAML, never
    by hand, so any valid kubeconfig works (flow mappings, quoting, comments, several clusters and contexts).
  - Like kubeadm, the module uses the cluster of the kubeconfig's C(current-context) (or a cluster without a name);
    a missing or dangling current context is an error. The CA comes from C(certificate-authority-data), else from
    the file C(certificate-authority) (relative to the kubeconfig's directory).
requirements:
  - kubectl on the host (preferred), or PyYAML for the Python that runs the module.
seealso:
  - name: kubeadm token
    description: kubeadm's token command.
    link: https://kubernetes.io/docs/reference/setup-tools/kubeadm/kubeadm-token/
  - name: kubeadm join
    description: How nodes join with a bootstrap token and CA certificate hashes.
    link: https://kubernetes.io/docs/reference/setup-tools/kubeadm/kubeadm-join/
"""

EXAMPLES = r"""
- name: Get a worker join command (reuses a token that still has 15 minutes left)
  kubeforge.kubeadm.kubeadm_token:
    ttl: 1h
  register: join
  no_log: true

- name: Join a worker with the returned values
  ansible.builtin.command:
    argv:
      - kubeadm
      - join
      - "{{ join.api_server_endpoint }}"
      - --token
      - "{{ join.token }}"
      - --discovery-token-ca-cert-hash
      - "{{ join.discovery_token_ca_cert_hashes | first }}"
  no_log: true

- name: Upload the control-plane certificates and get the control-plane join command
  kubeforge.kubeadm.kubeadm_token:
    control_plane: true
    description: control-plane join
  register: cp_join
  no_log: true

- name: See what would happen, creating nothing
  kubeforge.kubeadm.kubeadm_token:
    description: nightly join token
  check_mode: true
  register: plan

- name: Delete the tokens this collection created
  kubeforge.kubeadm.kubeadm_token:
    state: absent
    description: kubeforge.kubeadm join token
"""

RETURN = r"""
token:
  description: The bootstrap token (secret). Not returned in check mode when a token would be created.
  returned: state=present
  type: str
  sample: abcdef.0123456789abcdef
expires:
  description: When the token expires (RFC 3339, UTC), or null if it never expires.
  returned: state=present
  type: str
  sample: "2026-11-26T03:00:00+00:00"
join_command:
  description: The worker join command, on one line.
  returned: state=present and a token is available
  type: str
  sample: >-
    kubeadm join 192.168.56.10:6443 --token abcdef.0123456789abcdef
    --discovery-token-ca-cert-hash sha256:71257ccd57b9c01017529ce5b2f95543f8ab1eeea5a0138437c2fcaba399160f
control_plane_join_command:
  description: The control-plane join command with C(--control-plane --certificate-key), on one line.
  returned: control_plane=true and not check mode
  type: str
  sample: >-
    kubeadm join k8s-api.example.internal:6443 --token abcdef.0123456789abcdef
    --discovery-token-ca-cert-hash sha256:71257ccd57b9c01017529ce5b2f95543f8ab1eeea5a0138437c2fcaba399160f
    --control-plane --certificate-key 7fcb39eb353636d414ec2598d3f20f2d3be13c6938de34e489cf81fac925cba4
certificate_key:
  description: The certificate key the certificates were uploaded with (secret).
  returned: control_plane=true and not check mode
  type: str
  sample: 7fcb39eb353636d414ec2598d3f20f2d3be13c6938de34e489cf81fac925cba4
api_server_endpoint:
  description: The API server endpoint (C(host:port), IPv6 in brackets) from the kubeconfig.
  returned: state=present
  type: str
  sample: 192.168.56.10:6443
discovery_token_ca_cert_hashes:
  description: The public key pin of every CA certificate in the kubeconfig, in order.
  returned: state=present
  type: list
  elements: str
  sample:
    - sha256:71257ccd57b9c01017529ce5b2f95543f8ab1eeea5a0138437c2fcaba399160f
created:
  description: Whether a token was created (false when one was reused, and in check mode).
  returned: always
  type: bool
  sample: true
reused:
  description: Whether an existing token was reused.
  returned: state=present
  type: bool
  sample: false
certificates_uploaded:
  description: Whether the control-plane certificates were uploaded.
  returned: always
  type: bool
  sample: false
deleted:
  description: Token IDs deleted (or that would be deleted in check mode).
  returned: state=absent
  type: list
  elements: str
  sample: [abcdef]
actions:
  description: What the module did, or would do in check mode, in order. Holds no secrets.
  returned: always
  type: list
  elements: str
  sample: ["create a token (ttl 1h)", "upload control-plane certificates"]
"""

import datetime
import os
import re
import sys
import tempfile
import traceback

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.kubeforge.kubeadm.plugins.module_utils.kubeadm import (
    JOIN_USAGES,
    ca_cert_hashes,
    endpoint_from_server,
    is_valid_bootstrap_group,
    is_valid_certificate_key,
    is_valid_token,
    kubeconfig_current_cluster,
    kubeconfig_from_json,
    kubectl_config_view_argv,
    parse_duration,
    parse_join_command,
    parse_token_list_json,
    render_join_command,
    token_usable_for_join,
    upload_certs_configuration,
)

try:
    import yaml
except ImportError:
    HAS_YAML = False
    YAML_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_YAML = True
    YAML_IMPORT_ERROR = None

REDACTED = "********"


class KubeadmTool:
    """Runs kubeadm and fails the module with a redacted message when kubeadm fails."""

    def __init__(self, module, binary, kubeconfig):
        self.module = module
        self.binary = binary
        self.kubeconfig = kubeconfig
        self.secrets = set()
        self.changed = False

    def redact(self, text):
        text = to_native(text or "")
        for secret in sorted(self.secrets, key=len, reverse=True):
            if secret:
                text = text.replace(secret, REDACTED)
        return text

    def add_secret(self, value):
        if value:
            self.secrets.add(value)
            if "." in value:  # a token's secret half alone is a secret too
                self.secrets.add(value.split(".", 1)[1])

    def run(self, args, kubeconfig=True, mutating=False):
        """Run kubeadm; on failure fail the module (reporting whether earlier calls changed something)."""
        argv = [self.binary] + list(args)
        if kubeconfig:
            argv += ["--kubeconfig", self.kubeconfig]
        rc, out, err = self.module.run_command(argv, environ_update={"LC_ALL": "C"})
        if rc != 0:
            command = self.redact(" ".join(argv))
            message = self.redact(err).strip() or self.redact(out).strip() or "no output"
            self.module.fail_json(
                msg="kubeadm failed (exit code %d): %s; command: %s" % (rc, message, command),
                rc=rc, cmd=command, stderr=self.redact(err), stdout=self.redact(out), changed=self.changed,
            )
        if mutating:
            self.changed = True
        return out


def load_kubeconfig(tool, path, kubectl_bin):
    """Parse the kubeconfig with kubectl (preferred: the parser kubeadm uses) or PyYAML; never by hand."""
    module = tool.module
    if not os.path.isfile(path):  # kubectl would print an empty configuration for a missing file
        module.fail_json(msg="cannot read the kubeconfig %s: no such file" % path)
    kubectl = find_kubectl(module, kubectl_bin)
    if kubectl:
        rc, out, err = module.run_command(kubectl_config_view_argv(kubectl, path), environ_update={"LC_ALL": "C"})
        if rc != 0:
            module.fail_json(msg="kubectl cannot read the kubeconfig %s (exit code %d): %s"
                             % (path, rc, kubectl_error(tool, err or out)), rc=rc)
        return kubeconfig_from_json(out)
    if HAS_YAML:
        try:
            with open(path, "r") as handle:
                return yaml.safe_load(handle)
        except yaml.YAMLError as exc:
            module.fail_json(msg="cannot parse the kubeconfig %s with PyYAML: %s" % (path, yaml_error(exc)))
    module.fail_json(
        msg="cannot read the kubeconfig %s: kubectl (kubectl_bin=%s) is not installed and the Python YAML library "
            "(PyYAML) is not importable by %s; install kubectl or PyYAML (Debian python3-yaml, RHEL python3-pyyaml) "
            "on the host, or set kubectl_bin" % (path, kubectl_bin, sys.executable),
        exception=YAML_IMPORT_ERROR)


def find_kubectl(module, kubectl_bin):
    if os.sep in kubectl_bin:
        return kubectl_bin if os.access(kubectl_bin, os.X_OK) else None
    return module.get_bin_path(kubectl_bin)


def kubectl_error(tool, text):
    """kubectl's error without the file's contents it may quote (a duplicate user entry is printed whole)."""
    text = tool.redact(text).strip().split(" in list: ", 1)[0]
    return re.sub(r"[A-Za-z0-9+/=]{40,}", REDACTED, text)[:500] or "no output"


def yaml_error(exc):
    """Where and what, without the snippet of the file PyYAML may quote."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or type(exc).__name__
    if mark is not None:
        return "line %d, column %d: %s" % (mark.line + 1, mark.column + 1, problem)
    return problem


def read_join_target(tool, path, kubectl_bin):
    """API server endpoint and CA pins from the kubeconfig's current cluster, as kubeadm computes them."""
    module = tool.module
    try:
        data = load_kubeconfig(tool, path, kubectl_bin)
        cluster = kubeconfig_current_cluster(data, path)
        endpoint = endpoint_from_server(cluster["server"])
        ca_data = cluster["certificate_authority_data"]
        if ca_data is None:
            with open(cluster["certificate_authority"], "rb") as handle:
                ca_data = handle.read()
        pins = ca_cert_hashes(ca_data)
    except (IOError, OSError, ValueError) as exc:
        module.fail_json(msg="cannot read the API server endpoint and CA from %s: %s" % (path, to_native(exc)))
    return endpoint, pins


def list_tokens(tool):
    out = tool.run(["token", "list", "-o", "json"])
    try:
        return parse_token_list_json(out)
    except ValueError as exc:
        tool.module.fail_json(msg="cannot parse the output of 'kubeadm token list -o json': %s" % to_native(exc))


def pick_reusable(tokens, params, now, min_ttl):
    wanted_groups = sorted(params["groups"])
    candidates = []
    for entry in tokens:
        if params["token"]:
            if entry["token"] != params["token"]:
                continue
        elif entry["description"] != params["description"]:
            continue
        if sorted(entry["groups"]) != wanted_groups:
            continue
        if not set(params["usages"]) <= set(entry["usages"]):
            continue
        if not token_usable_for_join(entry, now, min_ttl):
            continue
        candidates.append(entry)
    if not candidates:
        return None
    never = datetime.datetime.max.replace(tzinfo=datetime.timezone.utc)
    return max(candidates, key=lambda e: e["expires"] or never)


def build_join(endpoint, pins, token, control_plane=False, certificate_key=None):
    """Render the join command and check it parses back to the same fields."""
    command = render_join_command(endpoint, token, pins, control_plane=control_plane, certificate_key=certificate_key)
    parsed = parse_join_command(command)
    if parsed["token"] != token or parsed["discovery_token_ca_cert_hashes"] != pins or parsed["api_server_endpoint"] != endpoint:
        raise ValueError("rendered join command does not parse back")
    return command


def validate_params(module):
    params = module.params
    problems = []
    if params["token"] is not None and not is_valid_token(params["token"]):
        problems.append("token must match [a-z0-9]{6}.[a-z0-9]{16}")
    if params["certificate_key"] is not None and not is_valid_certificate_key(params["certificate_key"]):
        problems.append("certificate_key must be 64 hex digits")
    for group in params["groups"]:
        if not is_valid_bootstrap_group(group):
            problems.append("group %r must match system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]" % group)
    for usage in params["usages"]:
        if usage not in ("authentication", "signing"):
            problems.append("usage %r is not one of authentication, signing" % usage)
    if not set(JOIN_USAGES) <= set(params["usages"]):
        problems.append("usages must include authentication and signing (both are needed to join)")
    durations = {}
    for name in ("ttl", "reuse_min_ttl"):
        try:
            durations[name] = parse_duration(params[name])
        except ValueError as exc:
            problems.append("%s: %s" % (name, to_native(exc)))
    if not problems and durations["ttl"] and durations["reuse_min_ttl"] > durations["ttl"]:
        problems.append("reuse_min_ttl (%s) must not exceed ttl (%s)" % (params["reuse_min_ttl"], params["ttl"]))
    if params["state"] == "absent" and not params["token"] and not params["description"]:
        problems.append("state=absent needs token or a non-empty description")
    if problems:
        module.fail_json(msg="invalid options: " + "; ".join(problems))
    return durations


def run_absent(module, tool, result):
    params = module.params
    tokens = list_tokens(tool)
    if params["token"]:
        targets = [t for t in tokens if t["token"] == params["token"]]
    else:
        targets = [t for t in tokens if t["description"] == params["description"]]
    ids = [t["token"].split(".", 1)[0] for t in targets]
    result["deleted"] = ids
    if ids:
        result["changed"] = True
        result["actions"].append("delete token(s) %s" % ", ".join(ids))
        if not module.check_mode:
            tool.run(["token", "delete"] + ids, mutating=True)
    return result


def run_present(module, tool, result, durations):
    params = module.params
    endpoint, pins = read_join_target(tool, params["kubeconfig"], params["kubectl_bin"])
    result.update(api_server_endpoint=endpoint, discovery_token_ca_cert_hashes=pins,
                  token=None, expires=None, join_command=None)
    now = datetime.datetime.now(datetime.timezone.utc)
    tokens = list_tokens(tool)
    entry = pick_reusable(tokens, params, now, durations["reuse_min_ttl"])
    if entry is not None:
        result["reused"] = True
        result["actions"].append("reuse token %s" % entry["token"].split(".", 1)[0])
    else:
        stale = [t for t in tokens if params["token"] and t["token"] == params["token"]]
        if stale:
            result["actions"].append("delete token %s (not usable)" % params["token"].split(".", 1)[0])
            if not module.check_mode:
                tool.run(["token", "delete", params["token"].split(".", 1)[0]], mutating=True)
        result["actions"].append("create a token (ttl %s)" % params["ttl"])
        result["changed"] = True
        if not module.check_mode:
            entry = create_token(tool, params, now, durations)
            result["created"] = True
    if entry is not None:
        result["token"] = entry["token"]
        result["expires"] = entry["expires"].isoformat() if entry["expires"] else None
        result["join_command"] = build_join(endpoint, pins, entry["token"])
    if params["control_plane"]:
        result["changed"] = True
        key = params["certificate_key"]
        if key is None:
            result["actions"].append("generate a certificate key")
        result["actions"].append("upload control-plane certificates")
        if not module.check_mode:
            if key is None:
                key = tool.run(["certs", "certificate-key"], kubeconfig=False).strip()
                if not is_valid_certificate_key(key):
                    module.fail_json(msg="'kubeadm certs certificate-key' printed no valid certificate key")
                tool.add_secret(key)
            upload_certs(tool, key)
            result["certificates_uploaded"] = True
            result["certificate_key"] = key
            result["control_plane_join_command"] = build_join(
                endpoint, pins, entry["token"], control_plane=True, certificate_key=key)
    return result


def upload_certs(tool, key):
    """kubeadm init phase upload-certs with the key in a 0600 file (never on the command line), removed after."""
    handle, path = tempfile.mkstemp(prefix="kubeadm-upload-certs.", suffix=".yaml", dir=tool.module.tmpdir)
    try:
        os.fchmod(handle, 0o600)
        with os.fdopen(handle, "w") as config:
            config.write(upload_certs_configuration(key))
        tool.run(["init", "phase", "upload-certs", "--upload-certs", "--config", path], mutating=True)
    finally:
        os.unlink(path)


def create_token(tool, params, now, durations):
    args = ["token", "create"]
    if params["token"]:
        args.append(params["token"])
    args += ["--ttl", params["ttl"], "--description", params["description"] or "",
             "--usages", ",".join(params["usages"]), "--groups", ",".join(params["groups"])]
    out = tool.run(args, mutating=True)
    printed = [line.strip() for line in out.splitlines() if is_valid_token(line.strip())]
    token = printed[-1] if printed else ""
    if not token:
        tool.module.fail_json(msg="'kubeadm token create' printed no valid bootstrap token")
    tool.add_secret(token)
    for entry in list_tokens(tool):
        if entry["token"] == token:
            return entry
    ttl = durations["ttl"]
    return {"token": token, "expires": now + datetime.timedelta(seconds=ttl) if ttl else None}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", choices=["present", "absent"], default="present"),
            token=dict(type="str", no_log=True),
            ttl=dict(type="str", default="1h"),
            reuse_min_ttl=dict(type="str", default="15m"),
            description=dict(type="str", default="kubeforge.kubeadm join token"),
            usages=dict(type="list", elements="str", default=["authentication", "signing"]),
            groups=dict(type="list", elements="str", default=["system:bootstrappers:kubeadm:default-node-token"]),
            control_plane=dict(type="bool", default=False),
            certificate_key=dict(type="str", no_log=True),
            kubeconfig=dict(type="path", default="/etc/kubernetes/admin.conf"),
            kubeadm_bin=dict(type="str", default="kubeadm"),
            kubectl_bin=dict(type="str", default="kubectl"),
        ),
        supports_check_mode=True,
    )
    durations = validate_params(module)
    binary = module.params["kubeadm_bin"]
    if os.sep not in binary:
        binary = module.get_bin_path(binary, required=True)
    tool = KubeadmTool(module, binary, module.params["kubeconfig"])
    tool.add_secret(module.params["token"])
    tool.add_secret(module.params["certificate_key"])
    result = dict(changed=False, created=False, certificates_uploaded=False, actions=[])
    if module.params["state"] == "absent":
        run_absent(module, tool, result)
    else:
        result["reused"] = False
        try:
            run_present(module, tool, result, durations)
        except ValueError as exc:
            module.fail_json(msg=tool.redact(to_native(exc)))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
