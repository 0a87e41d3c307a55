# -*- coding: utf-8 -*-
"""A fake ``kubeadm`` for the module tests: tokens with expiry kept in a JSON state file.

Run as ``python fake_kubeadm.py ARGS`` (the tests put a ``kubeadm`` wrapper first on PATH).
State: ``$FAKE_KUBEADM_STATE/state.json``::

    {"tokens": [{"token", "description", "expires" (RFC 3339 or null), "usages", "groups"}],
     "uploads": [certificate keys uploaded],
     "fail": {"token create": "message", ...}}   # make that subcommand fail like kubeadm

Every call is appended to ``calls.json``.  All texts come from kubesim.output, the
rendering shared with the kubeadm stand-in.
"""

import datetime
import json
import os
import re
import secrets
import string
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
sys.path.insert(0, os.path.join(ROOT, "tests", "kubesim"))

from kubesim import output  # noqa: E402  pylint: disable=wrong-import-position

VERSION = "1.37.1"
TOKEN_RE = re.compile(r"\A([a-z0-9]{6})\.([a-z0-9]{16})\Z")
DURATION_RE = re.compile(r"(\d+)(h|m|s)")
UTC = datetime.timezone.utc


class KubeadmError(Exception):
    pass


def state_dir():
    return os.environ["FAKE_KUBEADM_STATE"]


def load_state():
    path = os.path.join(state_dir(), "state.json")
    if not os.path.exists(path):
        return {"tokens": [], "uploads": [], "fail": {}}
    with open(path) as handle:
        state = json.load(handle)
    for key, default in (("tokens", []), ("uploads", []), ("fail", {})):
        state.setdefault(key, default)
    return state


def save_state(state):
    with open(os.path.join(state_dir(), "state.json"), "w") as handle:
        json.dump(state, handle, indent=1)


def log_call(argv):
    path = os.path.join(state_dir(), "calls.json")
    calls = []
    if os.path.exists(path):
        with open(path) as handle:
            calls = json.load(handle)
    calls.append(argv)
    with open(path, "w") as handle:
        json.dump(calls, handle)


def take_flags(args, value_flags, bool_flags=()):
    """Split args into positionals and flags; unknown flags fail as kubeadm's cobra does."""
    flags, positional = {}, []
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if not arg.startswith("-"):
            positional.append(arg)
            continue
        name, has_value, value = arg.partition("=")
        if name in bool_flags:
            flags[name] = True
        elif name in value_flags:
            if not has_value:
                if i >= len(args):
                    raise KubeadmError("flag needs an argument: %s" % name)
                value = args[i]
                i += 1
            flags[name] = value
        else:
            raise KubeadmError("unknown flag: %s" % name)
    return positional, flags


def parse_ttl(text):
    if text == "0":
        return None
    total, pos = 0, 0
    for match in DURATION_RE.finditer(text):
        if match.start() != pos:
            break
        total += int(match.group(1)) * {"h": 3600, "m": 60, "s": 1}[match.group(2)]
        pos = match.end()
    if pos != len(text) or not pos:
        raise KubeadmError('invalid argument "%s" for "--ttl" flag: time: invalid duration "%s"' % (text, text))
    return total


def need_kubeconfig(flags):
    path = flags.get("--kubeconfig", "/etc/kubernetes/admin.conf")
    if not os.path.exists(path):
        raise KubeadmError("failed to load admin kubeconfig: open %s: no such file or directory" % path)


def tokens_for_output(state):
    entries = []
    for entry in sorted(state["tokens"], key=lambda e: e["token"]):
        item = dict(entry)
        item["expires"] = (datetime.datetime.fromisoformat(entry["expires"].replace("Z", "+00:00"))
                           if entry.get("expires") else None)
        entries.append(item)
    return entries


def random_token():
    alphabet = string.ascii_lowercase + string.digits
    return "%s.%s" % ("".join(secrets.choice(alphabet) for _index in range(6)),
                      "".join(secrets.choice(alphabet) for _index in range(16)))


def add_token(state, token, ttl_seconds, description, usages, groups):
    token_id = token.split(".")[0]
    if any(t["token"].split(".")[0] == token_id for t in state["tokens"]):
        raise KubeadmError('failed to create or update bootstrap token with name bootstrap-token-%s: '
                           'secrets "bootstrap-token-%s" already exists' % (token_id, token_id))
    expires = None
    if ttl_seconds is not None:
        expires = (datetime.datetime.now(UTC) + datetime.timedelta(seconds=ttl_seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")
    state["tokens"].append({"token": token, "description": description, "expires": expires,
                            "usages": sorted(usages), "groups": groups})


def cmd_token(args, state):
    if not args:
        raise KubeadmError('unknown command "" for "kubeadm token"')
    sub, rest = args[0], args[1:]
    if sub == "list":
        _pos, flags = take_flags(rest, ("--kubeconfig", "-o", "--output"), ("--allow-missing-template-keys",))
        need_kubeconfig(flags)
        fmt = flags.get("-o", flags.get("--output", "text"))
        if fmt == "json":
            return output.render_token_list_json(tokens_for_output(state))
        if fmt == "text":
            return output.render_token_list_text(tokens_for_output(state), datetime.datetime.now(UTC))
        raise KubeadmError('unable to match a printer suitable for the output format "%s"' % fmt)
    if sub == "create":
        pos, flags = take_flags(rest, ("--kubeconfig", "--ttl", "--description", "--usages", "--groups",
                                       "--certificate-key", "--config"), ("--print-join-command",))
        need_kubeconfig(flags)
        if len(pos) > 1:
            raise KubeadmError("accepts at most one argument")
        token = pos[0] if pos else random_token()
        if not TOKEN_RE.match(token):
            raise KubeadmError('the bootstrap token "%s" was not of the form "%s"'
                               % (token, r"\A([a-z0-9]{6})\.([a-z0-9]{16})\z"))
        usages = flags.get("--usages", "signing,authentication").split(",")
        groups = flags.get("--groups", output.DEFAULT_GROUP).split(",")
        add_token(state, token, parse_ttl(flags.get("--ttl", "24h0m0s")), flags.get("--description", ""),
                  usages, groups)
        save_state(state)
        return output.render_token_create(token)
    if sub == "delete":
        pos, flags = take_flags(rest, ("--kubeconfig",))
        need_kubeconfig(flags)
        if not pos:
            raise KubeadmError("missing argument; 'token delete' is missing token of form "
                               '"[a-z0-9]{6}" or "[a-z0-9]{6}.[a-z0-9]{16}"')
        out = []
        for arg in pos:
            token_id = arg.split(".")[0]
            before = len(state["tokens"])
            state["tokens"] = [t for t in state["tokens"] if t["token"].split(".")[0] != token_id]
            if len(state["tokens"]) == before:
                raise KubeadmError('failed to delete bootstrap token "%s": secrets "bootstrap-token-%s" not found'
                                   % (token_id, token_id))
            out.append('bootstrap token "%s" deleted\n' % token_id)
        save_state(state)
        return "".join(out)
    raise KubeadmError('unknown command "%s" for "kubeadm token"' % sub)


def read_init_configuration(path, state):
    """The InitConfiguration of --config (JSON is YAML); its file mode is recorded in state["config_modes"]."""
    state.setdefault("config_modes", []).append(oct(os.stat(path).st_mode & 0o777))
    with open(path) as handle:
        document = json.load(handle)
    if document.get("kind") != "InitConfiguration" or document.get("apiVersion") != "kubeadm.k8s.io/v1beta4":
        raise KubeadmError("no InitConfiguration in %s" % path)
    return document


def cmd_upload_certs(args, state):
    _pos, flags = take_flags(args, ("--kubeconfig", "--certificate-key", "--config"), ("--upload-certs",))
    need_kubeconfig(flags)
    if "--upload-certs" not in flags:
        return output.render_upload_certs(None)
    key = flags.get("--certificate-key")
    if "--config" in flags:
        # kubeadm refuses to mix --config with flags it does not allow beside it
        if "--certificate-key" in flags:
            raise KubeadmError("can not mix '--config' with arguments [certificate-key]")
        key = read_init_configuration(flags["--config"], state).get("certificateKey")
    key = key or secrets.token_hex(32)
    if not re.match(r"\A[0-9a-f]{64}\Z", key):
        raise KubeadmError("error execution phase upload-certs: error uploading certs: "
                           "error decoding certificate key: encoding/hex: invalid byte")
    # kubeadm keeps the Secret alive with a proxy token of 2h without usages
    add_token(state, random_token(), 7200, output.UPLOAD_CERTS_PROXY_DESCRIPTION, [], [])
    state["uploads"].append(key)
    save_state(state)
    return output.render_upload_certs(key)


def dispatch(args, state):
    if args[:1] == ["version"]:
        return "kubeadm version: &version.Info{GitVersion:\"v%s\"}\n" % VERSION
    if args[:1] == ["token"]:
        return cmd_token(args[1:], state)
    if args[:3] == ["init", "phase", "upload-certs"]:
        return cmd_upload_certs(args[3:], state)
    if args[:2] == ["certs", "certificate-key"]:
        key = secrets.token_hex(32)
        state.setdefault("generated_keys", []).append(key)
        save_state(state)
        return output.render_certificate_key(key)
    raise KubeadmError('unknown command "%s" for "kubeadm"' % " ".join(args[:1]))


def main(argv):
    log_call(argv)
    state = load_state()
    words = [a for a in argv if not a.startswith("-")]
    for key, message in state["fail"].items():
        if words[:len(key.split())] == key.split():
            stderr, code = output.render_error(message, VERSION)
            sys.stderr.write(stderr)
            return code
    try:
        sys.stdout.write(dispatch(argv, state))
    except KubeadmError as exc:
        stderr, code = output.render_error(str(exc), VERSION)
        sys.stderr.write(stderr)
        return code
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
