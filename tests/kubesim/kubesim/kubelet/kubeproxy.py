"""kube-proxy in iptables mode on the real host (issue 14), run by the kubelet stand-in while the kube-proxy
DaemonSet's pod is on its node.

As pkg/proxy/iptables/proxier.go writes them, into the nat table with `iptables-restore --noflush`:
- jumps from PREROUTING and OUTPUT to KUBE-SERVICES ("kubernetes service portals") and from POSTROUTING to
  KUBE-POSTROUTING ("kubernetes postrouting rules"); KUBE-MARK-MASQ (`--or-mark 0x4000`), KUBE-POSTROUTING
  (RETURN unless marked, clear the mark, MASQUERADE --random-fully);
- per Service port with endpoints: `KUBE-SVC-<hash>` reached from KUBE-SERVICES for the cluster IP (traffic not
  from the cluster CIDR marked for masquerade), one `KUBE-SEP-<hash>` per ready endpoint (statistic random
  probability 1/n, 1/(n-1), ..., the last unconditional; hairpin traffic marked; DNAT to the endpoint); for a
  NodePort, `KUBE-EXT-<hash>` (mark for masquerade, jump to the SVC chain) from KUBE-NODEPORTS, which
  KUBE-SERVICES reaches last for local destinations (`-m addrtype --dst-type LOCAL`);
- chain names hashed as kube-proxy does: base32(sha256(servicePortName + protocol [+ endpoint]))[:16];
- in the filter table KUBE-FORWARD from FORWARD: marked traffic and established connections accepted.
Chains of Services that went away are flushed and deleted; on pod teardown every KUBE-* chain goes.
Not covered: the filter table's REJECT rules for Services without endpoints, externalIPs, LoadBalancer,
sessionAffinity, externalTrafficPolicy/internalTrafficPolicy Local, topology hints, ipvs and nftables modes
(only iptables is modelled: another mode is logged and iptables used), conntrack clean-up, IPv6.
"""

import base64
import hashlib
import subprocess

import yaml

NAT_JUMPS = [("PREROUTING", "kubernetes service portals", "KUBE-SERVICES"),
             ("OUTPUT", "kubernetes service portals", "KUBE-SERVICES"),
             ("POSTROUTING", "kubernetes postrouting rules", "KUBE-POSTROUTING")]
FILTER_JUMPS = [("FORWARD", "kubernetes forwarding rules", "KUBE-FORWARD")]


def port_proto_hash(name, protocol):
    return base64.b32encode(hashlib.sha256((name + protocol).encode()).digest()).decode()[:16]


def sep_hash(name, protocol, endpoint):
    return base64.b32encode(hashlib.sha256((name + protocol + endpoint).encode()).digest()).decode()[:16]


def _run(argv, stdin=None):
    return subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False)


def build_rules(services, slices, cluster_cidr=""):
    """(nat rules text, set of the per-service chains) for iptables-restore --noflush."""
    by_service = {}
    for sl in slices:
        if sl.get("addressType", "IPv4") != "IPv4":
            continue
        key = (sl["metadata"]["namespace"], (sl["metadata"].get("labels") or {}).get("kubernetes.io/service-name"))
        by_service.setdefault(key, []).append(sl)
    chains = ["KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-MARK-MASQ"]
    rules = ["-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN",
             "-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000",
             '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" '
             "-j MASQUERADE --random-fully",
             "-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000"]
    svc_chains = set()
    for svc in sorted(services, key=lambda s: (s["metadata"]["namespace"], s["metadata"]["name"])):
        spec = svc.get("spec") or {}
        ns, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
        cluster_ip = spec.get("clusterIP")
        if not cluster_ip or cluster_ip == "None" or ":" in cluster_ip:
            continue
        for sp in spec.get("ports") or []:
            pname = sp.get("name") or ""
            proto = (sp.get("protocol") or "TCP").lower()
            spn = f"{ns}/{name}" + (f":{pname}" if pname else "")
            endpoints = []
            for sl in by_service.get((ns, name), []):
                port = next((p.get("port") for p in sl.get("ports") or []
                             if (p.get("name") or "") == pname and (p.get("protocol") or "TCP").lower() == proto),
                            None)
                if port is None:
                    continue
                for ep in sl.get("endpoints") or []:
                    if (ep.get("conditions") or {}).get("ready", True) is False:
                        continue
                    for addr in ep.get("addresses") or []:
                        endpoints.append(f"{addr}:{port}")
            endpoints = sorted(set(endpoints))
            if not endpoints:
                continue  # kube-proxy rejects these in the filter table (not modelled)
            h = port_proto_hash(spn, proto)
            svc_chain, ext_chain = f"KUBE-SVC-{h}", f"KUBE-EXT-{h}"
            chains.append(svc_chain)
            svc_chains.add(svc_chain)
            comment = f'-m comment --comment "{spn} cluster IP"'
            match = f"-m {proto} -p {proto} -d {cluster_ip}/32 --dport {sp['port']}"
            rules.append(f"-A KUBE-SERVICES {comment} {match} -j {svc_chain}")
            if cluster_cidr:
                rules.append(f"-A {svc_chain} {comment} {match} ! -s {cluster_cidr} -j KUBE-MARK-MASQ")
            if spec.get("type") in ("NodePort", "LoadBalancer") and sp.get("nodePort"):
                chains.append(ext_chain)
                svc_chains.add(ext_chain)
                rules.append(f'-A KUBE-NODEPORTS -m comment --comment "{spn}" -m {proto} -p {proto} '
                             f"--dport {sp['nodePort']} -j {ext_chain}")
                rules.append(f'-A {ext_chain} -m comment --comment "masquerade traffic for {spn} external '
                             f'destinations" -j KUBE-MARK-MASQ')
                rules.append(f"-A {ext_chain} -j {svc_chain}")
            n = len(endpoints)
            for i, ep in enumerate(endpoints):
                sep = f"KUBE-SEP-{sep_hash(spn, proto, ep)}"
                chains.append(sep)
                svc_chains.add(sep)
                prob = "" if i == n - 1 else f" -m statistic --mode random --probability {1.0 / (n - i):.10f}"
                rules.append(f'-A {svc_chain} -m comment --comment "{spn} -> {ep}"{prob} -j {sep}')
                ip = ep.rsplit(":", 1)[0]
                rules.append(f'-A {sep} -m comment --comment "{spn}" -s {ip}/32 -j KUBE-MARK-MASQ')
                rules.append(f'-A {sep} -m comment --comment "{spn}" -m {proto} -p {proto} -j DNAT '
                             f"--to-destination {ep}")
    rules.append('-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the '
                 'last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS')
    return chains, rules, svc_chains


class KubeProxy:
    def __init__(self, client, node_name, log):
        self.client = client
        self.node_name = node_name
        self.log = log
        self.active = False
        self.cluster_cidr = ""
        self.applied = None
        self.chains = set()

    def start(self, config_text):
        conf = yaml.safe_load(config_text or "") or {}
        mode = conf.get("mode") or "iptables"
        if mode != "iptables":
            self.log(f'"kube-proxy (stand-in): mode {mode} is not modelled, using iptables"')
        self.cluster_cidr = conf.get("clusterCIDR") or ""
        if "," in self.cluster_cidr:
            self.cluster_cidr = next((c for c in self.cluster_cidr.split(",") if ":" not in c), "")
        if not self.active:
            self.log(f'"Using iptables Proxier" clusterCIDR="{self.cluster_cidr}"')
        self.active = True

    def _ensure_jumps(self):
        for table, jumps in (("nat", NAT_JUMPS), ("filter", FILTER_JUMPS)):
            for chain, comment, target in jumps:
                _run(["iptables", "-w", "-t", table, "-N", target])  # exists already: refused, harmless
                spec = ["-m", "comment", "--comment", comment, "-j", target]
                if _run(["iptables", "-w", "-t", table, "-C", chain, *spec]).returncode != 0:
                    r = _run(["iptables", "-w", "-t", table, "-I", chain, *spec])
                    if r.returncode != 0:
                        raise RuntimeError(f"iptables -t {table} -I {chain}: {r.stderr.strip()}")

    def sync(self, services, slices):
        if not self.active:
            return
        chains, rules, svc_chains = build_rules(services, slices, self.cluster_cidr)
        stale = sorted(self.chains - svc_chains)
        text = "*nat\n" + "".join(f":{c} - [0:0]\n" for c in chains + stale) + "\n".join(rules) + "\n" \
            + "".join(f"-X {c}\n" for c in stale) + "COMMIT\n"
        filt = ("*filter\n:KUBE-FORWARD - [0:0]\n"
                "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP\n"
                '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 '
                "-j ACCEPT\n"
                '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack '
                "--ctstate RELATED,ESTABLISHED -j ACCEPT\nCOMMIT\n")
        if text + filt == self.applied:
            return
        try:
            self._ensure_jumps()
        except RuntimeError as exc:
            self.log(f'"Failed to ensure chain jumps" err="{exc}"')
            return
        r = _run(["iptables-restore", "-w", "--noflush"], stdin=filt + text)
        if r.returncode != 0:
            self.log(f'"Failed to execute iptables-restore" err="{r.stderr.strip()}"')
            return
        self.applied = text + filt
        self.chains = svc_chains
        self.log(f'"SyncProxyRules complete" services={sum(1 for c in svc_chains if c.startswith("KUBE-SVC-"))} '
                 f'endpoints={sum(1 for c in svc_chains if c.startswith("KUBE-SEP-"))}')

    def stop(self):
        """The stand-in removes its rules when the pod goes (kube-proxy --cleanup does the same)."""
        if not self.active:
            return
        self.active = False
        for table, jumps in (("nat", NAT_JUMPS), ("filter", FILTER_JUMPS)):
            for chain, comment, target in jumps:
                _run(["iptables", "-w", "-t", table, "-D", chain, "-m", "comment", "--comment", comment,
                      "-j", target])
        chains = sorted(self.chains) + ["KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-MARK-MASQ"]
        text = "*nat\n" + "".join(f":{c} - [0:0]\n" for c in chains) + "".join(f"-X {c}\n" for c in chains) \
            + "COMMIT\n*filter\n:KUBE-FORWARD - [0:0]\n-X KUBE-FORWARD\nCOMMIT\n"
        r = _run(["iptables-restore", "-w", "--noflush"], stdin=text)
        if r.returncode != 0:
            self.log(f'"kube-proxy cleanup failed" err="{r.stderr.strip()}"')
        self.applied = None
        self.chains = set()
        self.log('"kube-proxy (stand-in) stopped, its rules removed"')
