"""Guard the machine's non-namespaced sysctls across a lab or test run.

  tests/lab/sysctl-guard record FILE   snapshot vm.*, kernel.*, fs.* (less volatile and namespaced keys) to FILE (JSON)
  tests/lab/sysctl-guard check FILE    compare the machine with FILE; exit 1 listing every key that changed

Why: a test container with `systempaths=unconfined` writes /proc/sys of the machine itself for keys that are not
network-namespaced (measured: vm.swappiness). Roles must write only network-namespaced sysctls; this proves it.
Run it on the host, never inside a container.
"""
from __future__ import annotations

import fnmatch
import json
import os
import sys

PROC = "/proc/sys"
TREES = ("vm", "kernel", "fs")

# Counters and values the kernel changes by itself, or write-only triggers.
VOLATILE = [
    "kernel.random.*", "kernel.ns_last_pid", "kernel.pty.nr", "kernel.perf_event_max_sample_rate",
    "kernel.sched_domain.*", "kernel.tainted",
    "fs.dentry-state", "fs.inode-nr", "fs.inode-state", "fs.file-nr", "fs.aio-nr", "fs.quota.*",
    "fs.binfmt_misc.*", "fs.fscache.*",
    "vm.drop_caches", "vm.compact_memory", "vm.stat_refresh", "vm.stat_interval",
]
# Namespaced keys: a container has its own copy, so the machine cannot be changed through them.
NAMESPACED = [
    "kernel.hostname", "kernel.domainname",                         # UTS namespace
    "kernel.shm*", "kernel.msg*", "kernel.sem", "kernel.sem_next_id", "fs.mqueue.*",  # IPC namespace
]


def ignored(key: str) -> bool:
    return any(fnmatch.fnmatchcase(key, pat) for pat in VOLATILE + NAMESPACED)


def snapshot() -> dict[str, str]:
    out: dict[str, str] = {}
    for tree in TREES:
        for dirpath, dirnames, filenames in os.walk(os.path.join(PROC, tree)):
            dirnames.sort()
            for fn in sorted(filenames):
                path = os.path.join(dirpath, fn)
                key = os.path.relpath(path, PROC).replace("/", ".")
                if ignored(key):
                    continue
                try:
                    with open(path, "rb") as f:
                        value = f.read().decode("utf-8", "replace")
                except OSError:
                    continue  # write-only or not readable here
                out[key] = " ".join(value.split())
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[1] not in ("record", "check"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    cmd, path = argv[1], argv[2]
    now = snapshot()
    if cmd == "record":
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w") as f:
            json.dump(now, f, indent=1, sort_keys=True)
        print(f"sysctl-guard: recorded {len(now)} non-namespaced sysctls to {path}")
        return 0
    with open(path) as f:
        before = json.load(f)
    changed = [(k, before[k], now.get(k)) for k in sorted(before) if not ignored(k) and before[k] != now.get(k)]
    if changed:
        print(f"sysctl-guard: {len(changed)} of the machine's non-namespaced sysctls changed since {path}:")
        for k, a, b in changed:
            print(f"  {k}: {a!r} -> {b!r}")
        return 1
    print(f"sysctl-guard: the machine's {len(before)} non-namespaced sysctls are unchanged")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
