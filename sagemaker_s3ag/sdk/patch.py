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
import contextvars
import functools
import importlib
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Optional

from sagemaker_s3ag.core.errors import UnsupportedSDKError
from sagemaker_s3ag.core.settings import Settings

logger = logging.getLogger(__name__)

SUPPORTED = ("sagemaker >= 2.200, < 3", "sagemaker >= 3.3, < 4")

Wrapper = Callable[[Callable[..., Any], Any, tuple[Any, ...], dict[str, Any]], Any]


# -- the wrappers: the grant-aware steps, on stock objects ------------------------------------

_inside: contextvars.ContextVar[bool] = contextvars.ContextVar("s3ag_inside_call", default=False)


def _stock_settings(instance: Any) -> Optional[Settings]:
    """``patch()``'s settings for a stock object; ``None`` for a grant-aware one (it acts itself)."""
    from sagemaker_s3ag.sdk.common import GrantAwareMixin

    return None if isinstance(instance, GrantAwareMixin) else _settings


def _outermost(step: Callable[[Any, Settings, Any, tuple[Any, ...], Mapping[str, Any]], Any]) -> Wrapper:
    """A fit()/run() wrapper: the step runs once, in the outermost of nested overrides."""

    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        settings = _stock_settings(instance)
        if settings is None or _inside.get():
            return wrapped(*args, **kwargs)
        from sagemaker_s3ag.sdk.common import launch

        token = _inside.set(True)
        try:
            return _built_with(settings, launch(instance, settings, step, wrapped, args, kwargs))
        finally:
            _inside.reset(token)

    return wrapper


def _built_with(settings: Settings, result: Any) -> Any:
    """A Pipelines step's ``step_args``: its request is built later, by ``pipeline.definition()``.

    Build it under the settings it was defined with (a ``patched()`` block), even when that block
    has ended or the settings changed by then; other results are returned as they are.
    """
    func = getattr(result, "func", None)
    if not (callable(func) and hasattr(result, "func_args") and hasattr(result, "caller_name")):
        return result

    @functools.wraps(func)
    def build(*args: Any, **kwargs: Any) -> Any:
        with patched(**vars(settings)):
            return func(*args, **kwargs)

    result.func = build
    return result


def _fit(est: Any, settings: Settings, wrapped: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
    from sagemaker_s3ag.sdk.v2.mixins import before_fit

    return before_fit(est, settings, wrapped, args, kwargs)


def _run(proc: Any, settings: Settings, wrapped: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
    from sagemaker_s3ag.sdk.processing import before_run

    return before_run(proc, settings, wrapped, args, kwargs)


def _train(trainer: Any, settings: Settings, wrapped: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
    from sagemaker_s3ag.sdk.v3.mixins import before_train

    return before_train(trainer, settings, wrapped, args, kwargs)


def _create_training_job_args(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    settings = _stock_settings(instance)
    if settings is None:
        return wrapped(*args, **kwargs)
    from sagemaker_s3ag.sdk.v3.mixins import create_training_job_args

    return create_training_job_args(instance, settings, wrapped, args, kwargs)


def _prepare_for_training(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    settings = _stock_settings(instance)
    if settings is None:
        return wrapped(*args, **kwargs)
    from sagemaker_s3ag.sdk.v2.mixins import prepare_for_training

    return prepare_for_training(instance, settings, lambda: wrapped(*args, **kwargs))


def _normalize_args(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    settings = _stock_settings(instance)
    if settings is None:
        return wrapped(*args, **kwargs)
    from sagemaker_s3ag.sdk.processing import normalize_args

    return normalize_args(instance, settings, wrapped, args, kwargs, lambda: wrapped(*args, **kwargs))


def _refusing(rule: str, call: str, what: str) -> Wrapper:
    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        settings = _stock_settings(instance)
        if settings is not None:
            from sagemaker_s3ag.sdk.common import refuse_update

            refuse_update(instance, settings, rule, call, what)
        return wrapped(*args, **kwargs)

    return wrapper


# Every method that starts a training or processing job, on the class that defines it, by SDK major.
TARGETS: dict[int, tuple[tuple[str, str, Wrapper], ...]] = {
    2: (
        ("sagemaker.estimator", "EstimatorBase.fit", _outermost(_fit)),
        ("sagemaker.pytorch.estimator", "PyTorch.fit", _outermost(_fit)),
        ("sagemaker.algorithm", "AlgorithmEstimator.fit", _outermost(_fit)),
        ("sagemaker.amazon.amazon_estimator", "AmazonAlgorithmEstimatorBase.fit", _outermost(_fit)),
        ("sagemaker.jumpstart.estimator", "JumpStartEstimator.fit", _outermost(_fit)),
        ("sagemaker.estimator", "EstimatorBase._prepare_for_training", _prepare_for_training),
        ("sagemaker.estimator", "EstimatorBase.enable_remote_debug", _refusing("remote-debug", "enable_remote_debug()", "remote debugging")),
        ("sagemaker.estimator", "EstimatorBase.enable_default_profiling", _refusing("profiler", "enable_default_profiling()", "SageMaker Profiler")),
        ("sagemaker.estimator", "EstimatorBase.update_profiler", _refusing("profiler", "update_profiler()", "SageMaker Profiler")),
        ("sagemaker.processing", "Processor.run", _outermost(_run)),
        ("sagemaker.processing", "ScriptProcessor.run", _outermost(_run)),
        ("sagemaker.processing", "FrameworkProcessor.run", _outermost(_run)),
        ("sagemaker.spark.processing", "PySparkProcessor.run", _outermost(_run)),
        ("sagemaker.spark.processing", "SparkJarProcessor.run", _outermost(_run)),
        ("sagemaker.processing", "Processor._normalize_args", _normalize_args),
    ),
    3: (
        ("sagemaker.train.model_trainer", "ModelTrainer.train", _outermost(_train)),
        ("sagemaker.train.model_trainer", "ModelTrainer._create_training_job_args", _create_training_job_args),
        ("sagemaker.core.processing", "Processor.run", _outermost(_run)),
        ("sagemaker.core.processing", "ScriptProcessor.run", _outermost(_run)),
        ("sagemaker.core.processing", "FrameworkProcessor.run", _outermost(_run)),
        ("sagemaker.core.spark.processing", "_SparkProcessorBase.run", _outermost(_run)),
        ("sagemaker.core.spark.processing", "PySparkProcessor.run", _outermost(_run)),
        ("sagemaker.core.spark.processing", "SparkJarProcessor.run", _outermost(_run)),
        ("sagemaker.core.processing", "Processor._normalize_args", _normalize_args),
    ),
}

def _trainer_latest_decision() -> Any:
    from sagemaker_s3ag.sdk.v3.mixins import LATEST_DECISION

    return LATEST_DECISION


# Attributes patch() adds to stock classes, by SDK major: (module, Class.attribute, factory).
# A stock ModelTrainer (a pydantic model) cannot take a new attribute, so it gets a property.
ADDED: dict[int, tuple[tuple[str, str, Callable[[], Any]], ...]] = {
    2: (),
    3: (("sagemaker.train.model_trainer", "ModelTrainer.latest_decision", _trainer_latest_decision),),
}

# -- patch / unpatch --------------------------------------------------------------------------

_lock = threading.RLock()
_settings: Optional[Settings] = None
_applied: list[tuple[type, str, Any]] = []  # (owner class, attribute, the wrapper we set)


def patch_settings() -> Optional[Settings]:
    """The settings of the active ``patch()``, or ``None`` when nothing is patched."""
    return _settings


def is_patched() -> bool:
    """Whether ``patch()`` is in effect."""
    return _settings is not None


def knows(version: str) -> bool:
    """Whether ``patch()`` knows this ``sagemaker`` version (one of :data:`SUPPORTED`)."""
    from packaging.requirements import Requirement

    return any(Requirement(spec).specifier.contains(version, prereleases=True) for spec in SUPPORTED)


def _check_sdk() -> int:
    """The installed SDK's major, if ``patch()`` knows its version."""
    from sagemaker_s3ag.sdk.installed import installed_version, major

    installed = installed_version()
    if not installed:
        raise UnsupportedSDKError("patch() needs the SageMaker Python SDK (pip install sagemaker)")
    if not knows(installed):
        raise UnsupportedSDKError(
            f"patch() supports {' or '.join(SUPPORTED)}; sagemaker {installed} is installed, so nothing was patched. "
            "Upgrade sagemaker-s3ag, or use the grant-aware classes."
        )
    return major()


def _resolve(sdk_major: int) -> list[tuple[type, str, Wrapper]]:
    """Every target's owning class, before anything is wrapped: all or nothing."""
    resolved = []
    for module_name, path, wrapper in TARGETS[sdk_major]:
        try:
            module = importlib.import_module(module_name)
        except ImportError as err:
            raise UnsupportedSDKError(f"{module_name} cannot be imported from this SageMaker SDK ({err}); nothing was patched") from err
        class_name, attribute = path.split(".")
        owner = getattr(module, class_name, None)
        if owner is None or attribute not in vars(owner):
            raise UnsupportedSDKError(f"{module_name}.{path} is missing from this SageMaker SDK; nothing was patched")
        resolved.append((owner, attribute, wrapper))
    return resolved


def patch(**settings: Any) -> None:
    """Make every stock training and processing class of the installed SDK grant-aware, with these settings.

    Takes the same keywords as the grant-aware classes (``identity_propagation``, ``on_violation``,
    ``on_fallback``, ``pipe_mode_replacement``, ``preflight_timeout``). Calling it again changes the
    settings; one ``unpatch()`` undoes it all.

    Raises:
        UnsupportedSDKError: the installed SDK is not one it knows; nothing was patched.
        ValueError / TypeError: a bad setting; nothing was patched.
    """
    global _settings
    chosen = Settings(**settings)
    with _lock:
        if _settings is not None:
            if chosen != _settings:
                logger.info("sagemaker-s3ag patch() settings changed to %s", chosen)
            _settings = chosen
            return
        sdk_major = _check_sdk()
        resolved = _resolve(sdk_major)
        import wrapt

        from sagemaker_s3ag.sdk.choke import install

        install()
        for owner, attribute, wrapper in resolved:
            wrapt.wrap_function_wrapper(owner, attribute, wrapper)
            _applied.append((owner, attribute, vars(owner)[attribute]))
        for module_name, path, make in ADDED[sdk_major]:
            class_name, attribute = path.split(".")
            owner = getattr(importlib.import_module(module_name), class_name)
            if attribute not in vars(owner):
                setattr(owner, attribute, make())
                _applied.append((owner, attribute, vars(owner)[attribute]))
        _settings = chosen
        logger.info("sagemaker-s3ag patched %d SDK methods with %s", len(_applied), chosen)


def unpatch() -> None:
    """Undo ``patch()``: the stock methods are back. Does nothing when nothing is patched.

    Open ``patched()`` blocks end with it: when they exit, nothing is patched again.
    """
    global _settings, _outside
    from sagemaker_s3ag.sdk.choke import withdraw_patched

    with _lock:
        _blocks.clear()
        _outside = None
        withdraw_patched()
        while _applied:
            owner, attribute, ours = _applied.pop()
            if vars(owner).get(attribute) is not ours:  # only if nobody wrapped it again since
                logger.warning("sagemaker-s3ag left %s.%s alone: it was re-wrapped after patch()", owner.__name__, attribute)
            elif hasattr(ours, "__wrapped__"):
                setattr(owner, attribute, ours.__wrapped__)  # type: ignore[union-attr]
            else:  # an attribute patch() added
                delattr(owner, attribute)
        _settings = None


_blocks: list[tuple[object, Settings]] = []  # open patched() blocks, oldest first
_outside: Optional[Settings] = None  # what was in effect before the oldest open block


@contextlib.contextmanager
def patched(**settings: Any) -> Iterator[None]:
    """``patch(**settings)`` for the block, then back to how it was (patched or not, old settings)::

        with sagemaker_s3ag.patched(on_fallback="deny"):
            est.fit(...)

    The patch is process-wide: other threads see it while the block runs. Blocks may end in any
    order (threads): the newest open block's settings apply, and when the last one ends the state
    from before the first one is back.
    """
    global _outside
    token = object()
    with _lock:
        chosen = Settings(**settings)
        before = _settings
        patch(**vars(chosen))
        if not _blocks:
            _outside = before
        _blocks.append((token, chosen))
    try:
        yield
    finally:
        with _lock:
            _blocks[:] = [(t, s) for t, s in _blocks if t is not token]
            if _blocks:
                patch(**vars(_blocks[-1][1]))
            elif _outside is None:
                unpatch()
            else:
                patch(**vars(_outside))
