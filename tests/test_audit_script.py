"""`scripts/audit.py` (``make audit``): a finding fails, an unreachable service skips."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "audit.py"


@pytest.fixture(scope="module")
def audit() -> ModuleType:
    spec = importlib.util.spec_from_file_location("agentkit_audit_script", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def _pip_audit_report(vulnerable: bool) -> str:
    """A report written by pip-audit's own JSON formatter (the shape `make audit` parses)."""
    from packaging.version import Version
    from pip_audit._format.json import JsonFormat
    from pip_audit._service.interface import (
        ResolvedDependency,
        SkippedDependency,
        VulnerabilityResult,
    )

    h11 = ResolvedDependency(name="h11", version=Version("0.14.0"))
    vulns = [
        VulnerabilityResult(
            id="GHSA-vqfr-h8mv-ghfj",
            description="request smuggling",
            fix_versions=[Version("0.16.0")],
            aliases={"CVE-2025-43859"},
        )
    ]
    result = {
        h11: vulns if vulnerable else [],
        SkippedDependency(name="agentkit", skip_reason="distribution marked as editable"): [],
    }
    report: str = JsonFormat(output_desc=False, output_aliases=False).format(result, [])
    return report


def test_a_known_vulnerability_fails(audit: ModuleType) -> None:
    verdict = audit.judge(1, _pip_audit_report(vulnerable=True), "")
    assert verdict.exit_code == 1
    assert "h11 0.14.0: GHSA-vqfr-h8mv-ghfj (0.16.0)" in verdict.message


def test_a_clean_report_passes(audit: ModuleType) -> None:
    verdict = audit.judge(0, _pip_audit_report(vulnerable=False), "")
    assert verdict.exit_code == 0
    assert verdict.message.startswith("no known vulnerabilities in 1 packages (1 skipped)")


def test_an_unreachable_service_skips_with_a_message(audit: ModuleType) -> None:
    stderr = (
        "Traceback (most recent call last):\n  ...\nrequests.exceptions.ConnectionError: "
        "HTTPSConnectionPool(host='api.osv.dev', port=443): Max retries exceeded with url: "
        "/v1/query (Caused by NameResolutionError(...))\n"
    )
    verdict = audit.judge(1, "", stderr)
    assert verdict.exit_code == 0
    assert verdict.message.startswith("audit skipped: the advisory service is unreachable")


def test_a_mirror_without_advisories_skips_instead_of_passing_silently(audit: ModuleType) -> None:
    """pip-audit says 'No known vulnerabilities' and exits 0 when every lookup 404s."""
    deps = [
        {"name": n, "skip_reason": f"Dependency not found on PyPI and could not be audited: {n}"}
        for n in ("anyio", "h11")
    ]
    verdict = audit.judge(0, json.dumps({"dependencies": deps, "fixes": []}), "")
    assert verdict.exit_code == 0
    assert verdict.message.startswith("audit skipped: the advisory service answered for none")


def test_any_other_failure_fails(audit: ModuleType) -> None:
    verdict = audit.judge(2, "", "usage: pip-audit [-h]\npip-audit: error: unknown flag\n")
    assert verdict.exit_code == 1 and "unknown flag" in verdict.message
