"""`make audit`: pip-audit over the installed environment, skipped when its service is out of reach.

pip-audit asks an advisory service (PyPI's JSON API by default) about every
installed distribution. Where that service cannot be reached, pip-audit either
raises a connection error or, behind a registry mirror that answers 404 for
the JSON API, reports every package as "not found on PyPI" and exits 0 with
"No known vulnerabilities found", which would pass without auditing anything.
This wrapper tells the three outcomes apart:

- a known vulnerability: print it, exit 1 (the check fails);
- the service unreachable, or no package could be looked up: print why, exit 0;
- everything audited and clean: exit 0.

Usage: ``python scripts/audit.py [PIP-AUDIT ARGS...]`` (stdlib only).
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

# Substrings of the errors requests/urllib3 raise when a host is out of reach.
_NETWORK_ERRORS = (
    "ConnectionError",
    "NameResolutionError",
    "Max retries exceeded",
    "Failed to resolve",
    "Temporary failure in name resolution",
    "Connection refused",
    "ConnectTimeout",
    "ReadTimeout",
    "timed out",
    "Network is unreachable",
)


@dataclass(frozen=True)
class Verdict:
    """What `make audit` concludes from one pip-audit run.

    Attributes:
        exit_code: 0 (clean or skipped) or 1 (vulnerable, or pip-audit failed otherwise).
        message: One paragraph for the person running ``make audit``.
    """

    exit_code: int
    message: str


def judge(returncode: int, stdout: str, stderr: str) -> Verdict:
    """Classify a ``pip-audit --format json`` run.

    Args:
        returncode: pip-audit's exit status.
        stdout: Its JSON report (empty when it crashed).
        stderr: Its log and traceback.

    Returns:
        The verdict: vulnerabilities fail even when some packages were skipped.
    """
    try:
        report = json.loads(stdout)
    except ValueError:
        report = None
    if isinstance(report, dict) and isinstance(report.get("dependencies"), list):
        return _judge_report(report["dependencies"])
    if any(marker in stderr for marker in _NETWORK_ERRORS):
        last = stderr.strip().splitlines()[-1] if stderr.strip() else "connection error"
        return Verdict(0, f"audit skipped: the advisory service is unreachable ({last[:200]})")
    tail = "\n".join(stderr.strip().splitlines()[-5:])
    return Verdict(1, f"pip-audit failed (exit {returncode}) without a report:\n{tail}")


def _judge_report(deps: list[dict[str, Any]]) -> Verdict:
    vulnerable = [d for d in deps if d.get("vulns")]
    if vulnerable:
        lines = []
        for dep in vulnerable:
            for vuln in dep["vulns"]:
                fixes = ", ".join(vuln.get("fix_versions") or []) or "no fix yet"
                lines.append(
                    f"  {dep.get('name')} {dep.get('version')}: {vuln.get('id')} ({fixes})"
                )
        return Verdict(1, "known vulnerabilities:\n" + "\n".join(lines))
    audited = [d for d in deps if not d.get("skip_reason")]
    if not audited:
        return Verdict(
            0,
            f"audit skipped: the advisory service answered for none of the {len(deps)} "
            "installed packages (unreachable or mirrored without vulnerability data)",
        )
    skipped = len(deps) - len(audited)
    return Verdict(0, f"no known vulnerabilities in {len(audited)} packages ({skipped} skipped)")


def main(argv: list[str]) -> int:
    """Run pip-audit on this interpreter's environment and print the verdict."""
    cmd = [sys.executable, "-m", "pip_audit", "--format", "json", "--progress-spinner", "off"]
    cmd += ["--skip-editable"]  # the project itself is not on any index
    try:
        proc = subprocess.run([*cmd, *argv], capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        print("audit skipped: pip-audit got no answer within 600 s")
        return 0
    verdict = judge(proc.returncode, proc.stdout, proc.stderr)
    print(verdict.message)
    return verdict.exit_code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
