"""python3 -m kubesim.kubeadm"""
import sys

from kubesim.kubeadm.app import main

sys.exit(main())
