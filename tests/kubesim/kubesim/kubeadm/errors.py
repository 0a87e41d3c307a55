"""Failure handling: every kubeadm failure is a KubeadmError rendered by kubesim.output."""


class KubeadmError(Exception):
    """A kubeadm error; ``phase`` adds kubeadm's "error execution phase <phase>: " wrapper."""

    def __init__(self, message, phase=None):
        super().__init__(message)
        self.message = message
        self.phase = phase

    def text(self):
        if self.phase:
            return "error execution phase %s: %s" % (self.phase, self.message)
        return self.message


class PreflightError(Exception):
    """Fatal preflight errors: list of (name, message)."""

    def __init__(self, errors, phase=True):
        super().__init__("preflight checks failed")
        self.errors = errors
        self.phase = phase


def aggregate(messages):
    """k8s.io/apimachinery utilerrors.NewAggregate(...).Error()."""
    if len(messages) == 1:
        return messages[0]
    return "[" + ", ".join(messages) + "]"
