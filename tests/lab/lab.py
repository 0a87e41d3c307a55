"""kubeforge lab: systemd containers on an internal Docker network, reached over SSH like real machines.

  tests/lab/lab up     [--name lab] [--control-planes 1] [--workers 2] [--loadbalancers 0]
                       [--distro bookworm|trixie] [--subnet 172.30.10.0/24] [--no-repo] [--converge [--no-smoke-test]]
  tests/lab/lab down   [--name lab]
  tests/lab/lab status [--name lab]
  tests/lab/lab inventory-path [NAME]
  tests/lab/lab group-vars --subnet S [--distro D]    (print the lab settings as YAML)

`up` is idempotent: it builds images when their recipe changed, starts the Docker engine when it does not
answer, creates the network, the repository server at .2, the hosts from .10, the package cache on the
host (listening at the network's gateway .1:3142), and writes the inventory under .cache/lab/<name>/.
`down` removes what `up` created for that lab, and the processes the harness started once no lab needs them.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

sys.path.insert(0, str(HERE))
import labcore  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="tests/lab/lab", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)

    def common(sp, name_positional=False):
        if name_positional:
            sp.add_argument("name", nargs="?", default=labcore.DEFAULT_NAME)
        else:
            sp.add_argument("--name", default=labcore.DEFAULT_NAME, help="lab name (container/network prefix)")

    up = sub.add_parser("up", help="create or complete the lab")
    common(up)
    up.add_argument("--control-planes", type=int, default=1)
    up.add_argument("--workers", type=int, default=2)
    up.add_argument("--loadbalancers", type=int, default=0)
    up.add_argument("--distro", choices=sorted(labcore.DISTROS), default="bookworm")
    up.add_argument("--subnet", default=labcore.DEFAULT_SUBNET)
    up.add_argument("--no-repo", action="store_true", help="do not start the repository server at .2")
    up.add_argument("--converge", action="store_true",
                    help="then run site.yml and smoke_test.yml on the lab and print `kubectl get nodes -o wide` "
                         "and the total time")
    up.add_argument("--playbook", default=str(labcore.ROOT / "site.yml"), help="playbook for --converge")
    up.add_argument("--no-smoke-test", action="store_true",
                    help="--converge without smoke_test.yml after site.yml (it asks nginx on every node's NodePort)")

    down = sub.add_parser("down", help="remove the lab and what the harness started for it")
    common(down)
    st = sub.add_parser("status", help="show the lab's containers, network, cache")
    common(st)
    ip = sub.add_parser("inventory-path", help="print the inventory directory of a lab")
    common(ip, name_positional=True)
    gv = sub.add_parser("group-vars", help="print the lab settings (group_vars/all) for a subnet")
    gv.add_argument("--subnet", default=labcore.DEFAULT_SUBNET)
    gv.add_argument("--distro", choices=sorted(labcore.DISTROS), default="bookworm")

    a = p.parse_args(argv)
    try:
        if a.cmd == "up":
            lab = labcore.Lab(a.name, subnet=a.subnet, distro=a.distro, control_planes=a.control_planes,
                              workers=a.workers, loadbalancers=a.loadbalancers, repo=not a.no_repo)
            lab.up()
            if a.converge:
                return lab.converge(a.playbook, smoke_test=not a.no_smoke_test)
        elif a.cmd == "down":
            return labcore.Lab.existing(a.name).down()
        elif a.cmd == "status":
            return labcore.Lab.existing(a.name).status()
        elif a.cmd == "inventory-path":
            print(labcore.inventory_dir(a.name))
        elif a.cmd == "group-vars":
            import yaml
            sys.stdout.write(yaml.safe_dump(labcore.lab_group_vars(a.subnet, a.distro), sort_keys=False))
    except labcore.LabError as e:
        labcore.say(f"ERROR: {e}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
