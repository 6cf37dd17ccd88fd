"""The test suite on both SageMaker Python SDK majors, each in its own virtualenv: ``nox``.

SDK v2 and v3 are the same ``sagemaker`` distribution, so they cannot share an environment. ``nox``
(with uv, when it is installed, to resolve SDK v3's large dependency tree in seconds) builds one per
major from this project's own ``pyproject.toml`` and runs ``pytest`` in each::

    nox                      # both majors and the linters, as CI does
    nox -s "tests(v3)"       # one major
    nox -s lint              # ruff, import-linter (the layers), mypy (strict on core/)
    nox -s hooks             # every SDK hook point against the oldest SDK of each supported major
    nox -s demo              # s3ag demo on the newest SDK
"""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["tests", "lint", "hooks"]
nox.options.error_on_missing_interpreters = True

SDK = {"2": "sagemaker>=2.200,<3", "3": "sagemaker>=3.3,<4"}
OLDEST = {"2": "sagemaker==2.200.*", "3": "sagemaker==3.3.*"}  # the lower bounds of SDK


@nox.session
@nox.parametrize("sdk", list(SDK), ids=[f"v{major}" for major in SDK])
def tests(session: nox.Session, sdk: str) -> None:
    """pytest on one SDK major (tests/ plus tests/v2 or tests/v3)."""
    session.install("-e", ".[test]", SDK[sdk])
    session.run("python", "-m", "pytest", "-q", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff (lint and format); import-linter: the layers import only downwards, core/ never imports the SDK; mypy, strict on core/."""
    session.install("ruff>=0.6", "mypy>=1.10", "import-linter>=2.1", "packaging", "wrapt")
    session.install("-e", ".", "--no-deps")  # the SDK itself is not needed: mypy reads it as Any
    session.run("ruff", "check", "sagemaker_s3ag", "tests", "benchmarks", "noxfile.py")
    session.run("ruff", "format", "--check", "sagemaker_s3ag", "tests", "benchmarks", "noxfile.py")
    session.run("lint-imports")
    session.run("mypy")


@nox.session
@nox.parametrize("sdk", list(OLDEST), ids=[f"v{major}" for major in OLDEST])
def hooks(session: nox.Session, sdk: str) -> None:
    """Every hook point of sdk/v2/hooks.py or sdk/v3/hooks.py exists in the oldest SDK of the major we support."""
    session.install("-e", ".[test]", OLDEST[sdk], "pytz")  # sagemaker 2.200's workflow modules need pytz, undeclared
    session.run("python", "-m", "pytest", "-q", "tests/test_hook_points.py")


@nox.session
def demo(session: nox.Session) -> None:
    """``s3ag demo`` in a fresh environment."""
    session.install("-e", ".[demo]")
    session.run("s3ag", "demo")
