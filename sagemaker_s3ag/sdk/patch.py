"""patch(): every stock training and processing class behaves like its grant-aware twin.

For notebooks and pipelines you would rather not edit::

    import sagemaker_s3ag
    sagemaker_s3ag.patch(on_fallback="deny")      # v2: Estimator, PyTorch, ..., Processor, ...
                                                  # v3: ModelTrainer, Processor, ScriptProcessor, ...
    ...
    sagemaker_s3ag.unpatch()                      # stock behaviour back

    with sagemaker_s3ag.patched(on_violation="error"):
        est.fit(...)

or, without touching the code at all: ``s3ag run -- python my_pipeline.py``.

Built like an OpenTelemetry instrumentor: the SDK versions it knows are data, checked (with
``packaging``) before anything is wrapped; each target is one ``wrapt.wrap_function_wrapper`` on
the class that defines the method, undone by restoring ``__wrapped__`` while the attribute is still
our wrapper; patching is idempotent and thread-safe. A grant-aware object under ``patch()`` keeps
its own settings and is handled once.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import threading
from collections.abc import Iterator
from typing import Any, Optional

import wrapt

from sagemaker_s3ag.core.errors import UnsupportedSDKError
from sagemaker_s3ag.core.settings import Settings
from sagemaker_s3ag.sdk import choke, v2, v3
from sagemaker_s3ag.sdk.context import patch_settings, set_patch_settings
from sagemaker_s3ag.sdk.installed import adapter, installed_version

logger = logging.getLogger(__name__)

SUPPORTED = (v2.SUPPORTED, v3.SUPPORTED)

# -- patch / unpatch --------------------------------------------------------------------------

_lock = threading.RLock()
_applied: list[tuple[type, str, Any]] = []  # (owner class, attribute, the wrapper we set)


def is_patched() -> bool:
    """Whether ``patch()`` is in effect."""
    return patch_settings() is not None


def knows(version: str) -> bool:
    """Whether ``patch()`` knows this ``sagemaker`` version (one of :data:`SUPPORTED`)."""
    from packaging.requirements import Requirement

    return any(Requirement(spec).specifier.contains(version, prereleases=True) for spec in SUPPORTED)


def _check_sdk() -> Any:
    """The installed major's hooks (:mod:`sagemaker_s3ag.sdk.v2.hooks` / ``v3.hooks``), if ``patch()`` knows its version."""
    installed = installed_version()
    if not installed:
        raise UnsupportedSDKError("patch() needs the SageMaker Python SDK (pip install sagemaker)")
    if not knows(installed):
        raise UnsupportedSDKError(
            f"patch() supports {' or '.join(SUPPORTED)}; sagemaker {installed} is installed, so nothing was patched. "
            "Upgrade sagemaker-s3ag, or use the grant-aware classes."
        )
    return adapter()


def _resolve(hooks: Any) -> list[tuple[type, str, Any]]:
    """Every target's owning class, before anything is wrapped: all or nothing (an optional one may be absent)."""
    resolved = []
    for module_name, path, wrapper in hooks.PATCHED:
        try:
            module = importlib.import_module(module_name)
        except ImportError as err:
            raise UnsupportedSDKError(
                f"{module_name} cannot be imported from this SageMaker SDK ({err}); nothing was patched"
            ) from err
        class_name, attribute = path.split(".")
        owner = getattr(module, class_name, None)
        if owner is not None and attribute not in vars(owner) and path in hooks.OPTIONAL:
            continue  # an override or a feature this SDK does not have yet
        if owner is None or attribute not in vars(owner):
            raise UnsupportedSDKError(f"{module_name}.{path} is missing from this SageMaker SDK; nothing was patched")
        resolved.append((owner, attribute, wrapper))
    return resolved


def patch(**settings: Any) -> None:
    """Make every stock training and processing class of the installed SDK grant-aware, with these settings.

    Takes the same keywords as the grant-aware classes (``identity_propagation``, ``on_violation``,
    ``on_fallback``, ``pipe_mode_replacement``, ``preflight_timeout``, ``script_locations``,
    ``background_session_duration``). Calling it again changes the
    settings; one ``unpatch()`` undoes it all.

    Raises:
        UnsupportedSDKError: the installed SDK is not one it knows; nothing was patched.
        ValueError / TypeError: a bad setting; nothing was patched.
    """
    chosen = Settings(**settings)
    with _lock:
        _take_over_from_blocks()
        _patch(chosen)


def govern(**settings: Any) -> None:
    """Govern every SageMaker request any botocore client sends with these settings, without the SDK's hooks.

    What ``s3ag run`` does as soon as a program imports ``botocore`` (a program may never import
    ``sagemaker``); ``patch()`` adds the SDK's hooks when it does. ``unpatch()`` ends both.
    """
    chosen = Settings(**settings)
    with _lock:
        _take_over_from_blocks()
        choke.install()
        set_patch_settings(chosen)


def _patch(chosen: Settings) -> None:
    with _lock:
        current = patch_settings()
        if current is not None and _applied:
            if chosen != current:
                logger.info("sagemaker-s3ag patch() settings changed to %s", chosen)
            set_patch_settings(chosen)
            return
        hooks = _check_sdk()
        resolved = _resolve(hooks)
        hooks.install()
        for owner, attribute, wrapper in resolved:
            wrapt.wrap_function_wrapper(owner, attribute, wrapper)
            _applied.append((owner, attribute, vars(owner)[attribute]))
        for module_name, path, make in hooks.ADDED:
            class_name, attribute = path.split(".")
            owner = getattr(importlib.import_module(module_name), class_name)
            if attribute not in vars(owner):
                setattr(owner, attribute, make())
                _applied.append((owner, attribute, vars(owner)[attribute]))
        set_patch_settings(chosen)
        logger.info("sagemaker-s3ag patched %d SDK methods with %s", len(_applied), chosen)


def unpatch() -> None:
    """Undo ``patch()``: the stock methods are back. Does nothing when nothing is patched.

    Open ``patched()`` blocks end with it: when they exit, they leave the state as it is then.
    """
    with _lock:
        _take_over_from_blocks()
        _unpatch()


def _unpatch() -> None:
    with _lock:
        set_patch_settings(None)
        while _applied:
            owner, attribute, ours = _applied.pop()
            if vars(owner).get(attribute) is not ours:  # only if nobody wrapped it again since
                logger.warning("sagemaker-s3ag left %s.%s alone: it was re-wrapped after patch()", owner.__name__, attribute)
            elif hasattr(ours, "__wrapped__"):
                setattr(owner, attribute, ours.__wrapped__)  # type: ignore[union-attr]
            else:  # an attribute patch() added
                delattr(owner, attribute)


_blocks: list[tuple[object, Settings]] = []  # open patched() blocks, oldest first
_outside: Optional[Settings] = None  # what was in effect before the oldest open block


def _take_over_from_blocks() -> None:
    """An explicit ``patch()`` / ``unpatch()``: open blocks no longer own the state, and leave it alone when they end."""
    global _outside
    _blocks.clear()
    _outside = None


@contextlib.contextmanager
def patched(**settings: Any) -> Iterator[None]:
    """``patch(**settings)`` for the block, then back to how it was (patched or not, old settings)::

        with sagemaker_s3ag.patched(on_fallback="deny"):
            est.fit(...)

    The patch is process-wide: other threads see it while the block runs. Blocks may end in any
    order (threads): the newest open block's settings apply, and when the last one ends the state
    from before the first one is back. A block undoes only what it did: after an explicit
    ``patch()`` or ``unpatch()`` while it was open, it leaves the state as that call made it.
    """
    global _outside
    token = object()
    with _lock:
        chosen = Settings(**settings)
        before = patch_settings()
        _patch(chosen)
        if not _blocks:
            _outside = before
        _blocks.append((token, chosen))
    try:
        yield
    finally:
        with _lock:
            if any(t is token for t, _s in _blocks):  # still ours to undo
                _blocks[:] = [(t, s) for t, s in _blocks if t is not token]
                if _blocks:
                    _patch(_blocks[-1][1])
                elif _outside is None:
                    _unpatch()
                else:
                    _patch(_outside)
