"""`agentkit.__version__`: written once, read by the build, pinned here, and in the changelog."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys
import tomllib

from packaging.version import Version

import agentkit

ROOT = pathlib.Path(__file__).resolve().parents[2]
VERSION = "0.2.0.dev0"  # bump with a CHANGELOG.md release heading


def test_the_version_is_pinned_and_valid() -> None:
    assert agentkit.__version__ == VERSION
    assert str(Version(VERSION)) == VERSION  # PEP 440, normalised


def test_the_build_reads_the_one_place_it_is_written() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    attr = project["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    assert attr == "agentkit._version.__version__"
    assert project["project"]["license"] == "Apache-2.0"  # SPDX string, not the old table


def test_installed_metadata_agrees() -> None:
    # From another folder: a stale *.egg-info in the checkout must not answer for the install.
    code = "import importlib.metadata as m; print(m.version('agentkit'))"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd="/", capture_output=True, text=True, timeout=60
    )
    assert out.stdout.strip() == VERSION, out.stderr


def test_the_changelog_has_a_heading_for_this_version() -> None:
    headings = re.findall(r"^## \[([^\]]+)\]", (ROOT / "CHANGELOG.md").read_text(), re.M)
    # a .dev version is unreleased work: it sits under [Unreleased], above the last release
    wanted = "Unreleased" if Version(VERSION).is_devrelease else VERSION
    assert headings and headings[0] == wanted


def test_the_cli_prints_it() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "agentkit.cli", "--version"], capture_output=True, text=True
    )
    assert (proc.returncode, proc.stdout.strip()) == (0, f"agentkit {VERSION}")
