"""kube-controller-manager stand-in (python3 -m kubesim.controllers)."""
