"""Run: ``s3ag run -- python my_pipeline.py …`` runs a program with ``patch()`` applied, unchanged.

Like ``opentelemetry-instrument``: the settings travel in ``S3AG_PATCH_SETTINGS`` (JSON) and a
``sitecustomize`` module put first on ``PYTHONPATH`` patches the SDK right after the program imports
``sagemaker`` (the bootstrap is standard library only, so a program that never imports it pays
next to nothing). Any ``sitecustomize`` the environment already had still runs. Python subprocesses of the program
(a Jupyter kernel started by ``jupyter nbconvert --execute``, say) inherit both.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

from sagemaker_s3ag.core.settings import Settings
from sagemaker_s3ag.sdk.patch import govern, patch

SETTINGS_ENV = "S3AG_PATCH_SETTINGS"
BOOTSTRAP_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bootstrap")


def environment_for(settings: Mapping[str, Any], base: Mapping[str, str]) -> dict[str, str]:
    """``base`` plus what makes a Python program patch itself with ``settings``."""
    Settings(**settings)  # refuse bad settings here, not inside the program
    env = dict(base)
    env[SETTINGS_ENV] = json.dumps(dict(settings))
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and os.path.abspath(p) != BOOTSTRAP_DIR]
    env["PYTHONPATH"] = os.pathsep.join([BOOTSTRAP_DIR, *paths])
    return env


def run(command: Sequence[str], settings: Mapping[str, Any]) -> NoReturn:
    """Replace this process with ``command``, patched; its exit code is the exit code."""
    if not command:
        raise ValueError("nothing to run: give a command after --, e.g. s3ag run -- python train.py")
    program = shutil.which(command[0])
    if program is None:
        raise ValueError(f"{command[0]!r}: command not found")
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(program, list(command), environment_for(settings, os.environ))


def patch_from_environment() -> None:
    """In the program, once ``sagemaker`` is imported (from the bootstrap): ``patch()`` with its settings."""
    raw = os.environ.get(SETTINGS_ENV)
    if raw is None:
        return
    patch(**json.loads(raw))


def govern_from_environment() -> None:
    """In the program, once ``botocore`` is imported (from the bootstrap): raw boto3 requests are governed too.

    A program that never imports ``sagemaker`` still sends its SageMaker requests through botocore:
    choke point 1 settles them with the settings (the SDK's own hooks follow if it imports ``sagemaker``).
    """
    raw = os.environ.get(SETTINGS_ENV)
    if raw is None:
        return
    govern(**json.loads(raw))
