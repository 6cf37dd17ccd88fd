"""Hooks: every place sagemaker-s3ag touches SageMaker Python SDK v2, and why.

The two choke points settle every request (:mod:`sagemaker_s3ag.sdk.choke`); the SDK hooks below only
do what must happen earlier than a request exists: refuse before anything is uploaded, and carry a
job's settings (a :class:`~sagemaker_s3ag.sdk.context.Launch`) with the call that builds it.

================================================  ========  ===============================================
hook point                                        when      why
================================================  ========  ===============================================
``botocore.client.BaseClient._make_api_call``     always    choke point 1: every CreateTrainingJob,
                                                            CreateProcessingJob, CreateHyperParameter-
                                                            TuningJob, UpdateTrainingJob, CreatePipeline
                                                            and UpdatePipeline any client sends, and AWS
                                                            Batch SubmitServiceJob training payloads
``workflow.pipeline.Pipeline.definition``         always    choke point 2: every job step of a definition
``workflow._steps_compiler.StepsCompiler.         always    the object behind each step the SDK compiles
_build_step``                                               (steps reached by depends_on or properties too)
``tuner.HyperparameterTuner.fit``                 always    a tuner over grant-aware estimators: check their
                                                            channels before it uploads code; launch the
                                                            tuning job with their strictest settings
``aws_batch.training_queue.TrainingQueue.submit``  always    a grant-aware estimator queued with AWS Batch:
                                                            its settings, checked before the upload (the
                                                            ``SubmitServiceJob`` payload is settled by
                                                            choke point 1)
``estimator.EstimatorBase.fit``, ``PyTorch.fit``, patch()   a stock estimator launches like a grant-aware
``AlgorithmEstimator.fit``,                                 one: checked before ``_prepare_for_training``
``AmazonAlgorithmEstimatorBase.fit``,                       uploads code, settings in context (each class
``JumpStartEstimator.fit``                                  that overrides ``fit``: the outermost acts)
``processing.Processor.run``, ``ScriptProcessor``, patch()   the same for processors (``FrameworkProcessor``
``FrameworkProcessor``, ``PySparkProcessor``,               uploads its code inside ``run()``)
``SparkJarProcessor`` ``.run``
``EstimatorBase.enable_remote_debug``,            patch()   refused with TIP on before the estimator
``enable_default_profiling``, ``update_profiler``           changes (choke point 1 refuses the
                                                            UpdateTrainingJob of any other path)
================================================  ========  ===============================================

``patch()`` checks each of its entries against the installed SDK before it wraps any (all or nothing);
an always-on hook is wrapped when its module is imported, and one the SDK lacks is reported with a
warning. The test suite checks every entry against the oldest and newest SDK v2 supported
(``sagemaker_s3ag.sdk.v2.SUPPORTED``).
"""

from __future__ import annotations

from typing import Any, Callable

from sagemaker_s3ag.sdk import choke
from sagemaker_s3ag.sdk.common import Hook, launch_tuner, outermost, queue_submit, refusing
from sagemaker_s3ag.sdk.common import install as install_hooks
from sagemaker_s3ag.sdk.processing import launch_run
from sagemaker_s3ag.sdk.v2.mixins import launch_fit, training_preview


def tuner_fit(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``HyperparameterTuner.fit``: launched with its governed estimators' settings, checked before any upload."""
    return launch_tuner(instance, training_preview, wrapped, args, kwargs)


def queued_preview(job: Any, inputs: Any) -> dict[str, Any]:
    """What AWS Batch's ``TrainingQueue`` will send for an estimator (a ``sagemaker.modules`` trainer: nothing known yet)."""
    return training_preview(job, inputs) if hasattr(job, "input_mode") else {}


# Installed with the first grant-aware object or patch() (when their module is imported), never removed.
ALWAYS: tuple[Hook, ...] = (
    ("sagemaker.workflow.pipeline", "Pipeline.definition", choke.definition),
    ("sagemaker.workflow._steps_compiler", "StepsCompiler._build_step", choke.build_step),
    ("sagemaker.tuner", "HyperparameterTuner.fit", tuner_fit),
    ("sagemaker.aws_batch.training_queue", "TrainingQueue.submit", queue_submit(queued_preview)),
)

_fit, _run = outermost(launch_fit), outermost(launch_run)

# Installed by patch(), removed by unpatch().
PATCHED: tuple[Hook, ...] = (
    ("sagemaker.estimator", "EstimatorBase.fit", _fit),
    ("sagemaker.pytorch.estimator", "PyTorch.fit", _fit),
    ("sagemaker.algorithm", "AlgorithmEstimator.fit", _fit),
    ("sagemaker.amazon.amazon_estimator", "AmazonAlgorithmEstimatorBase.fit", _fit),
    ("sagemaker.jumpstart.estimator", "JumpStartEstimator.fit", _fit),
    ("sagemaker.processing", "Processor.run", _run),
    ("sagemaker.processing", "ScriptProcessor.run", _run),
    ("sagemaker.processing", "FrameworkProcessor.run", _run),
    ("sagemaker.spark.processing", "PySparkProcessor.run", _run),
    ("sagemaker.spark.processing", "SparkJarProcessor.run", _run),
    (
        "sagemaker.estimator",
        "EstimatorBase.enable_remote_debug",
        refusing("remote-debug", "enable_remote_debug()", "remote debugging"),
    ),
    (
        "sagemaker.estimator",
        "EstimatorBase.enable_default_profiling",
        refusing("profiler", "enable_default_profiling()", "SageMaker Profiler"),
    ),
    ("sagemaker.estimator", "EstimatorBase.update_profiler", refusing("profiler", "update_profiler()", "SageMaker Profiler")),
)

# Targets a supported SDK may not define: overrides newer than sagemaker 2.200 (PyTorch.fit came with
# 2.250; before, EstimatorBase.fit serves PyTorch too) and features it may not have (remote debugging
# came with 2.210). Where the class does not define one, patch() leaves it out: the inherited method
# is wrapped already, or there is no such feature to refuse.
OPTIONAL = frozenset({"PyTorch.fit", "EstimatorBase.enable_remote_debug"})

# (module, "Class.attribute", factory): attributes patch() adds to stock classes.
ADDED: tuple[tuple[str, str, Callable[[], Any]], ...] = ()


def install() -> None:
    """The choke points and the :data:`ALWAYS` hooks, once per process."""
    install_hooks(ALWAYS)
