"""kube-scheduler stand-in (python3 -m kubesim.scheduler)."""
