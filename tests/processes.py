"""Run a command as a child and measure its own peak memory.

A child forked from this (large) pytest process starts with pytest's resident pages counted
in its high-water mark, and RUSAGE_CHILDREN reports the largest child ever waited for; so
the command runs under GNU time (installed by scripts/install-system-packages.sh), whose
own small child is the command: %M is that command's peak RSS alone.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

TIME = "/usr/bin/time"


def run_measured(cmd: list[str], **kw) -> tuple[subprocess.CompletedProcess, float]:
    """``subprocess.run(cmd, **kw)`` under GNU time: (the completed process, peak RSS in MB)."""
    with tempfile.NamedTemporaryFile("r", suffix=".maxrss") as out:
        proc = subprocess.run([TIME, "-f", "%M", "-o", out.name, *cmd], **kw)
        kb = Path(out.name).read_text().strip().splitlines()[-1]
    return proc, int(kb) / 1024
