"""Put first on PYTHONPATH by ``s3ag run``: patch the SageMaker SDK when the program imports it."""

import importlib.machinery
import importlib.util
import os
import sys


def _s3ag_patch() -> None:
    try:
        from sagemaker_s3ag._run import patch_from_environment
    except ImportError:  # an interpreter without sagemaker-s3ag: say so, and let the program run
        sys.stderr.write(f"s3ag run: sagemaker-s3ag is not installed for {sys.executable}; nothing is patched\n")
        return
    patch_from_environment()


def _chain() -> None:
    """Run the ``sitecustomize`` this one shadows, if the environment had one."""
    here = os.path.dirname(os.path.abspath(__file__))
    rest = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is not None and spec.loader is not None:
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)


_s3ag_patch()
_chain()
