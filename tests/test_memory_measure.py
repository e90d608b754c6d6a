"""The instrument the memory bounds rely on (tests/memory.py): a child's peak is its own, not its parent's."""
from __future__ import annotations

import json
import subprocess
import sys

from memory import REPO

BALLAST_MB = 600

# A parent that holds BALLAST_MB resident, then measures two children: one that allocates nothing, one that
# allocates 300 MiB. It prints what run_python reports and what ru_maxrss (the old measure) says for each.
_PARENT = r"""
import json, sys
sys.path.insert(0, "tests")
from memory import run_python
ballast = b"x" * (int(sys.argv[1]) << 20)
probe = "import resource; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
idle, idle_peak = run_python(probe)
busy, busy_peak = run_python("held = b'y' * (300 << 20)\n" + probe)
print(json.dumps({"idle": [idle_peak, float(idle.stdout)], "busy": [busy_peak, float(busy.stdout)]}))
"""


def test_child_peak_is_the_childs_own_not_inherited_from_its_parent():
    proc = subprocess.run([sys.executable, "-c", _PARENT, str(BALLAST_MB)], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    (idle_peak, idle_maxrss), (busy_peak, busy_maxrss) = got["idle"], got["busy"]
    print(f"child of a {BALLAST_MB} MiB parent: idle VmHWM {idle_peak:.0f} MiB (ru_maxrss {idle_maxrss:.0f}), "
          f"300 MiB child VmHWM {busy_peak:.0f} MiB (ru_maxrss {busy_maxrss:.0f})")
    assert idle_peak < 150, got  # an interpreter that imported nothing much
    assert 300 <= busy_peak < 300 + 150, got  # and what the child itself allocated is counted
