"""Hooks: every place sagemaker-s3ag touches SageMaker Python SDK v3, and why.

The two choke points settle every request (:mod:`sagemaker_s3ag.sdk.choke`); the SDK hooks below only
do what must happen earlier than a request exists: refuse before anything is uploaded, refuse a
``DatasetDefinition`` input that SDK v3 would drop before any request exists, and carry a job's
settings (a :class:`~sagemaker_s3ag.sdk.context.Launch`) with the call that builds it.

=====================================================  ========  ==========================================
hook point                                             when      why
=====================================================  ========  ==========================================
``botocore.client.BaseClient._make_api_call``          always    choke point 1: every CreateTrainingJob
                                                                 (``ModelTrainer`` and ``TrainingJob.create``
                                                                 send it on sagemaker-core's own client),
                                                                 CreateProcessingJob, CreateHyperParameter-
                                                                 TuningJob, UpdateTrainingJob,
                                                                 CreatePipeline, UpdatePipeline, and AWS
                                                                 Batch SubmitServiceJob training payloads
``mlops.workflow.pipeline.Pipeline.definition``        always    choke point 2: every job step of a
                                                                 definition
``mlops.workflow._steps_compiler.StepsCompiler.        always    the object behind each step the SDK
_build_step``                                                    compiles (reached by depends_on or
                                                                 properties too)
``train.tuner.HyperparameterTuner.tune``               always    a tuner over grant-aware trainers: check
                                                                 their channels before it uploads code;
                                                                 launch the tuning job with their
                                                                 strictest settings
``train.aws_batch.training_queue.TrainingQueue.submit`` always   a grant-aware trainer queued with AWS
                                                                 Batch: its settings, checked before the
                                                                 upload (the SubmitServiceJob payload is
                                                                 settled by choke point 1)
``train.model_trainer.ModelTrainer.train``             patch()   a stock trainer launches like a
                                                                 grant-aware one: checked before
                                                                 ``_create_training_job_args`` uploads
``core.processing.Processor.run``, ``ScriptProcessor``, patch()   the same for processors, and their
``FrameworkProcessor``; ``core.spark.processing``                DatasetDefinition inputs, which v3 drops
``_SparkProcessorBase``, ``PySparkProcessor``,                   silently (``FrameworkProcessor`` uploads its
``SparkJarProcessor`` ``.run``                                   code inside ``run()``)
``ModelTrainer.latest_decision`` (added)               patch()   a stock trainer (a pydantic model takes no
                                                                 new attribute) shows its decision
=====================================================  ========  ==========================================

``patch()`` checks each of its entries against the installed SDK before it wraps any (all or nothing);
an always-on hook is wrapped when its module is imported, and one the SDK lacks is reported with a
warning. The test suite checks every entry against the oldest and newest SDK v3 supported
(``sagemaker_s3ag.sdk.v3.SUPPORTED``).
"""

from __future__ import annotations

from typing import Any, Callable

from sagemaker_s3ag.sdk import choke
from sagemaker_s3ag.sdk.common import Hook, launch_tuner, outermost, queue_submit
from sagemaker_s3ag.sdk.common import install as install_hooks
from sagemaker_s3ag.sdk.processing import launch_run
from sagemaker_s3ag.sdk.v3.mixins import LATEST_DECISION, launch_train, trainer_preview, tuner_preview


def tuner_tune(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``HyperparameterTuner.tune``: launched with its governed trainers' settings, checked before any upload."""
    return launch_tuner(instance, tuner_preview, wrapped, args, kwargs)


# Installed with the first grant-aware object or patch() (when their module is imported), never removed.
ALWAYS: tuple[Hook, ...] = (
    ("sagemaker.mlops.workflow.pipeline", "Pipeline.definition", choke.definition),
    ("sagemaker.mlops.workflow._steps_compiler", "StepsCompiler._build_step", choke.build_step),
    ("sagemaker.train.tuner", "HyperparameterTuner.tune", tuner_tune),
    ("sagemaker.train.aws_batch.training_queue", "TrainingQueue.submit", queue_submit(trainer_preview)),
)

_train, _run = outermost(launch_train), outermost(launch_run)

# Installed by patch(), removed by unpatch().
PATCHED: tuple[Hook, ...] = (
    ("sagemaker.train.model_trainer", "ModelTrainer.train", _train),
    ("sagemaker.core.processing", "Processor.run", _run),
    ("sagemaker.core.processing", "ScriptProcessor.run", _run),
    ("sagemaker.core.processing", "FrameworkProcessor.run", _run),
    ("sagemaker.core.spark.processing", "_SparkProcessorBase.run", _run),
    ("sagemaker.core.spark.processing", "PySparkProcessor.run", _run),
    ("sagemaker.core.spark.processing", "SparkJarProcessor.run", _run),
)

# Targets a supported SDK may not define (none: every one is in sagemaker 3.3).
OPTIONAL: frozenset[str] = frozenset()

# (module, "Class.attribute", factory): attributes patch() adds to stock classes.
ADDED: tuple[tuple[str, str, Callable[[], Any]], ...] = (
    ("sagemaker.train.model_trainer", "ModelTrainer.latest_decision", lambda: LATEST_DECISION),
)


def install() -> None:
    """The choke points and the :data:`ALWAYS` hooks, once per process."""
    install_hooks(ALWAYS)
