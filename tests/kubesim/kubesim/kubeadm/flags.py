"""A small cobra/pflag-like flag parser (enough for the kubeadm commands the stand-in implements)."""

from .errors import KubeadmError

GLOBAL = {"v": "str", "rootfs": "str", "help": "bool", "h": "bool", "log-file": "str", "skip-headers": "bool",
          "add-dir-header": "bool", "skip-log-headers": "bool", "one-output": "bool", "logtostderr": "bool",
          "alsologtostderr": "bool", "log-flush-frequency": "str"}


def parse(argv, spec):
    """-> (flags dict, positional args). spec: name -> "str" | "bool" | "list" (comma-separated, repeatable)."""
    spec = dict(GLOBAL, **spec)
    flags, args = {}, []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            args += argv[i + 1:]
            break
        if a.startswith("--") or (a.startswith("-") and len(a) > 1 and not a[1].isdigit()):
            body = a.lstrip("-")
            name, eq, value = body.partition("=")
            if a.startswith("-") and not a.startswith("--") and len(name) > 1 and name not in spec:
                raise KubeadmError('unknown shorthand flag: \'%s\' in %s' % (name[0], a))
            if name not in spec:
                raise KubeadmError("unknown flag: --%s" % name)
            kind = spec[name]
            if kind == "bool":
                if eq:
                    if value.lower() not in ("true", "false", "1", "0", "t", "f"):
                        raise KubeadmError('invalid argument "%s" for "--%s" flag: strconv.ParseBool: parsing "%s": '
                                           'invalid syntax' % (value, name, value))
                    flags[name] = value.lower() in ("true", "1", "t")
                else:
                    flags[name] = True
            else:
                if not eq:
                    i += 1
                    if i >= len(argv):
                        raise KubeadmError("flag needs an argument: --%s" % name)
                    value = argv[i]
                if kind == "list":
                    flags.setdefault(name, [])
                    flags[name] += [v for v in value.split(",") if v != ""]
                else:
                    flags[name] = value
        else:
            args.append(a)
        i += 1
    return flags, args


def check_config_mix(flags, allowed):
    """kubeadm: --config cannot be mixed with most flags."""
    if "config" not in flags:
        return
    mixed = sorted(k for k in flags if k not in allowed and k not in GLOBAL and k != "config")
    if mixed:
        raise KubeadmError("can not mix '--config' with arguments %s" % "[" + " ".join(mixed) + "]")
