"""Every SDK hook point sagemaker-s3ag uses exists in the installed SDK, and the hooks module's table lists it.

CI runs this file on the newest SDK of each major (with the rest of the suite) and on the oldest one
this package supports (``nox -s hooks``), so the supported range in ``pyproject.toml`` is a tested claim.
"""

from __future__ import annotations

import importlib
import os

import pytest

from sagemaker_s3ag.sdk.installed import adapter, installed_version
from sagemaker_s3ag.sdk.patch import knows

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")  # SDK v3's pipeline module makes clients at import

HOOKS = adapter()


def owner_of(module_name: str, path: str):
    class_name, _attribute = path.split(".")
    return getattr(importlib.import_module(module_name), class_name)


def test_the_installed_sdk_is_one_patch_knows():
    assert knows(installed_version())


@pytest.mark.parametrize(("module_name", "path"), [(m, p) for m, p, _w in HOOKS.PATCHED], ids=lambda v: str(v))
def test_every_patch_target_is_defined_by_its_class(module_name, path):
    """patch() wraps the class that defines the method (wrapt's guidance), so it must be defined right there;
    an optional one (an override, or a feature newer than the oldest SDK supported) may be absent."""
    owner = owner_of(module_name, path)  # the class itself must exist
    assert path.split(".")[1] in vars(owner) or path in HOOKS.OPTIONAL


@pytest.mark.parametrize(("module_name", "path"), [(m, p) for m, p, _w in HOOKS.ALWAYS], ids=lambda v: str(v))
def test_every_always_on_hook_exists_where_its_module_does(module_name, path):
    """An always-on hook is wrapped when its module is imported; a feature this SDK lacks (an older SDK
    without AWS Batch queues, say) has no module to import, and nothing to wrap."""
    try:
        owner = owner_of(module_name, path)
    except ModuleNotFoundError as err:
        if err.name == module_name or module_name.startswith(f"{err.name}."):
            pytest.skip(f"{module_name} is not in sagemaker {installed_version()}")
        raise
    assert path.split(".")[1] in vars(owner)


def test_every_attribute_patch_adds_is_free_on_its_class():
    for module_name, path, _factory in HOOKS.ADDED:  # SDK v3: ModelTrainer.latest_decision; SDK v2: none
        assert path.split(".")[1] not in vars(owner_of(module_name, path))


def test_the_hooks_module_docstring_lists_every_hook_point():
    table = HOOKS.__doc__ or ""
    for _module_name, path, _wrapper in (*HOOKS.ALWAYS, *HOOKS.PATCHED):
        class_name, attribute = path.split(".")
        assert f"{attribute}" in table and class_name in table, f"{path} is missing from {HOOKS.__name__}'s table"
    assert "BaseClient._make_api_call" in table and "Pipeline.definition" in table
