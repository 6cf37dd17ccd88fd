"""The test suite on both SageMaker Python SDK majors, each in its own virtualenv: ``nox``.

SDK v2 and v3 are the same ``sagemaker`` distribution, so they cannot share an environment. ``nox``
(with uv, when it is installed, to resolve SDK v3's large dependency tree in seconds) builds one per
major from this project's own ``pyproject.toml`` and runs ``pytest`` in each::

    nox                      # both majors, as CI does
    nox -s "tests(v3)"       # one major
    nox -s demo              # s3ag demo on the newest SDK
"""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["tests"]
nox.options.error_on_missing_interpreters = True

SDK = {"2": "sagemaker>=2.200,<3", "3": "sagemaker>=3.3,<4"}


@nox.session
@nox.parametrize("sdk", list(SDK), ids=[f"v{major}" for major in SDK])
def tests(session: nox.Session, sdk: str) -> None:
    """pytest on one SDK major (tests/ plus tests/v2 or tests/v3)."""
    session.install("-e", ".[test]", SDK[sdk])
    session.run("python", "-m", "pytest", "-q", *session.posargs)


@nox.session
def demo(session: nox.Session) -> None:
    """``s3ag demo`` in a fresh environment."""
    session.install("-e", ".[demo]")
    session.run("s3ag", "demo")
