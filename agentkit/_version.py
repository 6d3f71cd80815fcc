"""The one place agentkit's version is written.

``pyproject.toml`` reads it at build time (``[tool.setuptools.dynamic]``), so the
installed package's metadata and ``agentkit.__version__`` cannot disagree.
A ``.devN`` suffix marks unreleased work on top of the last entry of ``CHANGELOG.md``.
"""

__version__ = "0.2.0.dev0"
