"""klog-style lines on stderr (what kubeadm's warnings look like)."""
import datetime
import os
import sys


def _line(level, msg, where="initconfiguration.go:333"):
    now = datetime.datetime.now()
    return "%s%s %s %7d %s] %s\n" % (level, now.strftime("%m%d"), now.strftime("%H:%M:%S.%f"), os.getpid(), where, msg)


def warning(msg, where="strict.go:54"):
    sys.stderr.write(_line("W", msg, where))
    sys.stderr.flush()


def info(msg, where="initconfiguration.go:123"):
    sys.stderr.write(_line("I", msg, where))
    sys.stderr.flush()
