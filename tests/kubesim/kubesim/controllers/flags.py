"""Command-line flags parsed the way the Kubernetes components (spf13/pflag) parse them.

`--name=value`, `--name value`, booleans as `--name` or `--name=true|false`. An unknown
flag is an error, as in the real binaries; the caller decides the wording and exit code.
"""

import re

BOOL, STR, INT, DURATION, LIST, FLOAT, MAP = "bool", "str", "int", "duration", "list", "float", "map"
OPTSTR = "optstr"  # a string flag whose value may be omitted (--version means --version=true)


class FlagError(Exception):
    pass


_DUR = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


def parse_duration(text):
    """Go time.ParseDuration subset -> seconds (float)."""
    text = str(text).strip()
    if text in ("0", ""):
        return 0.0
    pos, total = 0, 0.0
    for m in _DUR.finditer(text):
        if m.start() != pos:
            raise FlagError(f'time: invalid duration "{text}"')
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(text):
        raise FlagError(f'time: invalid duration "{text}"')
    return total


def _convert(name, kind, raw):
    if kind == BOOL:
        low = raw.lower()
        if low in ("1", "t", "true"):
            return True
        if low in ("0", "f", "false"):
            return False
        raise FlagError(f'invalid argument "{raw}" for "--{name}" flag: strconv.ParseBool: '
                        f'parsing "{raw}": invalid syntax')
    if kind == INT:
        try:
            return int(raw)
        except ValueError:
            raise FlagError(f'invalid argument "{raw}" for "--{name}" flag: strconv.ParseInt: '
                            f'parsing "{raw}": invalid syntax') from None
    if kind == FLOAT:
        try:
            return float(raw)
        except ValueError:
            raise FlagError(f'invalid argument "{raw}" for "--{name}" flag') from None
    if kind == DURATION:
        try:
            return parse_duration(raw)
        except FlagError:
            raise FlagError(f'invalid argument "{raw}" for "--{name}" flag: time: invalid '
                            f'duration "{raw}"') from None
    if kind == LIST:
        return [x for x in raw.split(",") if x]
    if kind == MAP:
        out = {}
        for item in raw.split(","):
            if not item:
                continue
            if "=" not in item:
                raise FlagError(f'invalid argument "{raw}" for "--{name}" flag')
            k, v = item.split("=", 1)
            out[k.strip()] = v.strip()
        return out
    return raw


def parse_flags(argv, spec):
    """Parse argv against spec {name: kind}. Returns (values, positional)."""
    values, positional = {}, []
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--":
            positional.extend(argv[i:])
            break
        if not arg.startswith("-") or arg == "-":
            positional.append(arg)
            continue
        body = arg.lstrip("-")
        name, has_value, raw = body.partition("=")
        if arg.startswith("--") is False and len(name) > 1:
            # single-dash long flags are accepted by pflag for shorthand only
            raise FlagError(f"unknown shorthand flag: '{name[0]}' in {arg}")
        if name not in spec:
            if arg.startswith("--"):
                raise FlagError(f"unknown flag: --{name}")
            raise FlagError(f"unknown shorthand flag: '{name}' in {arg}")
        kind = spec[name]
        if not has_value:
            if kind in (BOOL, OPTSTR):
                raw = "true"
            else:
                if i >= len(argv):
                    raise FlagError(f"flag needs an argument: --{name}")
                raw = argv[i]
                i += 1
        value = _convert(name, kind, raw)
        if kind == MAP and name in values:
            values[name].update(value)
        elif kind == LIST and name in values:
            values[name].extend(value)
        else:
            values[name] = value
    return values, positional


# Flags common to every component (klog, component-base).
COMMON = {
    "v": INT, "vmodule": STR,  # klog's --logtostderr etc. were removed in 1.26 (KEP-2845)
    "log-flush-frequency": DURATION, "logging-format": STR, "log-text-info-buffer-size": STR,
    "log-text-split-stream": BOOL, "log-json-info-buffer-size": STR, "log-json-split-stream": BOOL,
    "feature-gates": MAP, "help": BOOL, "version": OPTSTR,
}

LEADER = {
    "leader-elect": BOOL, "leader-elect-lease-duration": DURATION,
    "leader-elect-renew-deadline": DURATION, "leader-elect-retry-period": DURATION,
    "leader-elect-resource-lock": STR, "leader-elect-resource-name": STR,
    "leader-elect-resource-namespace": STR,
}

SECURE_SERVING = {
    "bind-address": STR, "secure-port": INT, "tls-cert-file": STR, "tls-private-key-file": STR,
    "tls-cipher-suites": LIST, "tls-min-version": STR, "tls-sni-cert-key": STR, "cert-dir": STR,
    "permit-port-sharing": BOOL, "permit-address-sharing": BOOL, "http2-max-streams-per-connection": INT,
}

AUTH_DELEGATION = {
    "authentication-kubeconfig": STR, "authorization-kubeconfig": STR,
    "authentication-skip-lookup": BOOL, "authentication-token-webhook-cache-ttl": DURATION,
    "authentication-tolerate-lookup-failure": BOOL, "authorization-always-allow-paths": LIST,
    "authorization-webhook-cache-authorized-ttl": DURATION,
    "authorization-webhook-cache-unauthorized-ttl": DURATION,
    "client-ca-file": STR, "requestheader-client-ca-file": STR,
    "requestheader-allowed-names": LIST, "requestheader-extra-headers-prefix": LIST,
    "requestheader-group-headers": LIST, "requestheader-username-headers": LIST,
    "requestheader-uid-headers": LIST,
}

CLIENT = {"kubeconfig": STR, "master": STR, "kube-api-burst": INT, "kube-api-qps": FLOAT,
          "kube-api-content-type": STR, "profiling": BOOL, "contention-profiling": BOOL}
