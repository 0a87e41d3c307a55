"""cmd/kubeadm/app/cmd/util/cmdutil.go: kubeadm's interactive confirmation (reset, upgrade apply)."""
import sys

from .errors import KubeadmError


def interactively_confirm(action, question, phase="preflight", stream=None):
    """InteractivelyConfirmAction: print ``[action] question [y/N]: `` on stdout, read one line of stdin
    (bufio.Scanner: the line without its end, an empty answer at EOF) and go on only for y/yes in any case;
    nothing is trimmed, so " y" is a no, as in kubeadm."""
    sys.stdout.write("[%s] %s [y/N]: " % (action, question))
    sys.stdout.flush()
    stream = sys.stdin if stream is None else stream
    try:
        answer = stream.readline()
    except (OSError, ValueError) as e:
        raise KubeadmError("couldn't read from standard input: %s" % e, phase=phase)
    answer = answer[:-1] if answer.endswith("\n") else answer
    answer = answer[:-1] if answer.endswith("\r") else answer
    if answer.lower() in ("y", "yes"):
        return
    raise KubeadmError("won't proceed; the user didn't answer (Y|y) in order to continue", phase=phase)
