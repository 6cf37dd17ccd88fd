"""Put first on PYTHONPATH by ``s3ag run``: govern the program's SageMaker requests as soon as it can send one.

Standard library only, so an interpreter that never imports ``botocore`` pays almost nothing. Finders
on ``sys.meta_path`` wait for two imports, each acted on once its package has run, with the settings
in ``S3AG_PATCH_SETTINGS``: ``import botocore`` governs every SageMaker request any client sends (a
program of raw boto3 calls included); ``import sagemaker`` adds ``sagemaker_s3ag.patch()``'s SDK hooks.
Any ``sitecustomize`` this one shadows still runs.
"""

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys

_MISSING: list = []  # type: ignore[type-arg]


def _act(action: str) -> None:
    try:
        from sagemaker_s3ag.cli import run
    except ImportError:  # an interpreter without sagemaker-s3ag: say so once, and let the program run
        if not _MISSING:
            _MISSING.append(True)
            sys.stderr.write(f"s3ag run: sagemaker-s3ag is not installed for {sys.executable}; nothing is patched\n")
        return
    getattr(run, action)()


class _WhenImported(importlib.abc.MetaPathFinder):
    """Finds nothing itself: it wraps the real loader of ``name`` to act right after that package has run."""

    def __init__(self, name, action):  # type: ignore[no-untyped-def]
        self.name, self.action = name, action

    def find_spec(self, name, path=None, target=None):  # type: ignore[no-untyped-def]
        if name != self.name:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        loader = spec.loader
        run_package = loader.exec_module
        action = self.action

        def exec_module(module):  # type: ignore[no-untyped-def]
            run_package(module)
            _act(action)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def _chain() -> None:
    """Run the ``sitecustomize`` this one shadows, if the environment had one."""
    here = os.path.dirname(os.path.abspath(__file__))
    rest = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is not None and spec.loader is not None:
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)


if os.environ.get("S3AG_PATCH_SETTINGS") is not None:
    for _package, _action in (("botocore", "govern_from_environment"), ("sagemaker", "patch_from_environment")):
        if _package in sys.modules:
            _act(_action)
        else:
            sys.meta_path.insert(0, _WhenImported(_package, _action))
_chain()
