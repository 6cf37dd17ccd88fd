"""Put first on PYTHONPATH by ``s3ag run``: patch the SageMaker SDK when the program imports it.

Standard library only, so an interpreter that never imports ``sagemaker`` pays almost nothing: a
finder on ``sys.meta_path`` waits for ``import sagemaker`` and, once that package has run, calls
``sagemaker_s3ag.patch()`` with the settings in ``S3AG_PATCH_SETTINGS``. Any ``sitecustomize`` this one
shadows still runs.
"""

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys


def _patch_now() -> None:
    try:
        from sagemaker_s3ag.cli.run import patch_from_environment
    except ImportError:  # an interpreter without sagemaker-s3ag: say so, and let the program run
        sys.stderr.write(f"s3ag run: sagemaker-s3ag is not installed for {sys.executable}; nothing is patched\n")
        return
    patch_from_environment()


class _WhenSageMakerIsImported(importlib.abc.MetaPathFinder):
    """Finds nothing itself: it wraps the real loader of ``sagemaker`` to patch right after it runs."""

    def find_spec(self, name, path=None, target=None):  # type: ignore[no-untyped-def]
        if name != "sagemaker":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        loader = spec.loader
        run_package = loader.exec_module

        def exec_module(module):  # type: ignore[no-untyped-def]
            run_package(module)
            _patch_now()

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
    if "sagemaker" in sys.modules:
        _patch_now()
    else:
        sys.meta_path.insert(0, _WhenSageMakerIsImported())
_chain()
