"""Mixins: grant-aware training on SDK v3 (``GrantAwareModelTrainer``, ``grant_aware(...)``, ``patch()``).

In a notebook::

    from sagemaker.core.training.configs import InputData
    from sagemaker_s3ag import GrantAwareModelTrainer

    trainer = GrantAwareModelTrainer(training_image=image, role=role, training_input_mode="Pipe")
    trainer.train(input_data_config=[InputData(channel_name="train", data_source="s3://bucket/train/")],
                  wait=False)
    trainer.latest_decision      # Pipe -> File (warned), tags written

``train()`` is one :func:`~sagemaker_s3ag.sdk.common.launch`: with TIP on it refuses what cannot be
fixed, from :func:`trainer_preview`, before ``_create_training_job_args`` uploads code or data
(``RemoteDebugConfig`` with ``on_violation="error"``, Pipe with RecordIO, ...); the choke point then
settles the CreateTrainingJob request sagemaker-core sends. ``train()`` takes no job name (the SDK
makes one up while uploading), so the preflight's ``AuditContext`` names none.

SDK v3 sends neither Debugger nor Profiler settings, so nothing is removed silently here; remote
debugging (``with_remote_debug_config``) and Pipe mode (``training_input_mode`` or a ``Channel``'s
``input_mode``) are fixed with a warning, or refused with ``on_violation="error"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional

from sagemaker.core.shapes import Channel
from sagemaker.core.training.configs import InputData
from sagemaker.train.model_trainer import ModelTrainer

from sagemaker_s3ag.core.decision import Decision
from sagemaker_s3ag.core.request import Request, looks_like_s3
from sagemaker_s3ag.core.settings import Settings
from sagemaker_s3ag.sdk.common import GrantAwareMixin, bind, launch, plan_preview, preview_uri
from sagemaker_s3ag.sdk.factory import register
from sagemaker_s3ag.sdk.installed import api_shape


def _channel(item: Any) -> Optional[Request]:
    """A ``Channel`` or ``InputData`` as the CreateTrainingJob channel the SDK will make of it."""
    if isinstance(item, Channel):
        return api_shape(item)  # type: ignore[no-any-return]
    source = getattr(item, "data_source", None)
    channel: Request = {"ChannelName": getattr(item, "channel_name", None)}
    if source is None or isinstance(source, str) or not hasattr(source, "model_dump"):
        # An S3 URI, a local path (uploaded later, to a place not known yet) or a pipeline value.
        channel.update(_s3_channel(channel["ChannelName"], preview_uri(source)), InputMode="File")  # as create_input_data_channel
    elif hasattr(source, "s3_uri"):
        channel["DataSource"] = {"S3DataSource": api_shape(source)}
    elif hasattr(source, "file_system_id"):
        channel["DataSource"] = {"FileSystemDataSource": api_shape(source)}
    else:
        return None  # a source the SDK itself refuses
    return channel


def _s3_channel(name: Any, uri: Any) -> Request:
    return {"ChannelName": name, "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri}}}


def trainer_preview(trainer: Any, input_data_config: Any = None) -> Request:
    """The parts of the CreateTrainingJob request the rules need, built before anything is uploaded.

    Channels are merged as ``_create_training_job_args`` merges them: those given to ``train()``
    replace the trainer's own of the same name. An S3 ``source_code.source_dir`` is read as the
    ``code`` channel (a local one is uploaded later, to a place named after the job).
    """
    merged = {getattr(c, "channel_name", None): c for c in trainer.input_data_config or ()}
    extra = []
    for item in input_data_config or ():
        name = getattr(item, "channel_name", None)
        if name in merged:
            merged[name] = item
        else:
            extra.append(item)
    channels = [c for c in (_channel(item) for item in [*merged.values(), *extra]) if c is not None]
    source_dir = getattr(trainer.source_code, "source_dir", None) if trainer.source_code else None
    if isinstance(source_dir, str) and looks_like_s3(source_dir):
        channels.append({**_s3_channel("code", source_dir), "InputMode": "File"})
    preview = _job_preview(trainer, channels)
    for field, value in (
        ("TensorBoardOutputConfig", trainer._tensorboard_output_config),
        ("RemoteDebugConfig", trainer._remote_debug_config),
    ):
        if value is not None:
            preview[field] = api_shape(value)
    return preview


def tuner_preview(trainer: Any, inputs: Any) -> Request:
    """What a v3 tuner's training job definition takes from ``trainer`` and ``tune(inputs=...)``, before any upload.

    As ``HyperparameterTuner._build_training_job_definition`` builds it: a plain S3 URI is a channel
    named ``training``, a dict maps channel names to URIs, and only a ``Channel`` keeps its own input
    mode; the trainer's own channels follow, unless ``inputs`` has one of the same name. The
    definition has no remote-debug or TensorBoard field, and an S3 ``source_dir`` is passed as a
    hyperparameter, not a channel.
    """
    if isinstance(inputs, str):
        items: list[Any] = [InputData(channel_name="training", data_source=inputs)]
    elif isinstance(inputs, dict):
        items = [InputData(channel_name=name, data_source=uri) for name, uri in inputs.items()]
    else:
        items = list(inputs) if isinstance(inputs, list) else []
    channels = []
    for item in items:
        channel = _channel(item)
        if channel is not None:
            if not isinstance(item, Channel):
                channel.pop("InputMode", None)  # the tuner leaves it unset
            channels.append(channel)
    named = {c["ChannelName"] for c in channels}
    channels += [c for c in (_channel(item) for item in trainer.input_data_config or ()) if c and c["ChannelName"] not in named]
    return _job_preview(trainer, channels)


def _job_preview(trainer: Any, channels: list[Request]) -> Request:
    preview: Request = {"AlgorithmSpecification": {"TrainingInputMode": trainer.training_input_mode}}
    if channels:
        preview["InputDataConfig"] = channels
    for field, value in (("OutputDataConfig", trainer.output_data_config), ("CheckpointConfig", trainer.checkpoint_config)):
        if value is not None:
            preview[field] = api_shape(value)
    return preview


def launch_train(trainer: Any, settings: Settings, train: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
    """A grant-aware ``train()`` (or a patched stock one): checked before anything is uploaded."""
    return launch(
        trainer,
        settings,
        "training",
        train,
        args,
        kwargs,
        preview=lambda call: trainer_preview(trainer, call.arguments.get("input_data_config")),
    )


def _private(trainer: Any) -> dict[str, Any]:
    """Where a ``ModelTrainer`` (a pydantic model that forbids extra fields) can keep our state."""
    state = trainer.__pydantic_private__
    if state is None:
        state = {}
        object.__setattr__(trainer, "__pydantic_private__", state)
    return state  # type: ignore[no-any-return]


_SETTINGS, _DECISION = "_s3ag_settings", "_s3ag_latest_decision"


def latest_decision(trainer: Any) -> Optional[Decision]:
    """The decision for the last job ``trainer`` built (grant-aware or patched), or ``None``."""
    return _private(trainer).get(_DECISION)


def remember(trainer: Any, decision: Optional[Decision]) -> None:
    _private(trainer)[_DECISION] = decision


# ``patch()`` gives stock ``ModelTrainer`` this property, so ``trainer.latest_decision`` works there too.
LATEST_DECISION = property(latest_decision, remember, doc="The decision for the last job this trainer built, or ``None``.")


class GrantAwareTrainingMixin(GrantAwareMixin):
    """Grant-aware ``train()`` for any ``ModelTrainer`` subclass.

    ``ModelTrainer`` is a pydantic model that forbids extra fields, so the settings and the latest
    decision are kept with its private attributes, behind properties.
    """

    @property  # type: ignore[override]
    def s3ag_settings(self) -> Settings:
        # Settings() for a trainer built without __init__ (model_construct, or a copy of one)
        return _private(self).setdefault(_SETTINGS, Settings())  # type: ignore[no-any-return]

    @s3ag_settings.setter
    def s3ag_settings(self, value: Settings) -> None:
        _private(self)[_SETTINGS] = value

    @property  # type: ignore[override]
    def latest_decision(self) -> Optional[Decision]:
        return latest_decision(self)

    @latest_decision.setter
    def latest_decision(self, value: Optional[Decision]) -> None:
        remember(self, value)

    def train(self, *args: Any, **kwargs: Any) -> Any:
        """Start the training job like the stock ``train()``, with the S3 Access Grants rules applied.

        With TIP on, what cannot be fixed raises :class:`~sagemaker_s3ag.ConsiderationError` before
        any code or data is uploaded; the rest is fixed in the CreateTrainingJob request. The
        decision is kept as ``self.latest_decision``.
        """
        return launch_train(self, self.s3ag_settings, super().train, args, kwargs)  # type: ignore[misc]

    def plan(self, *args: Any, **kwargs: Any) -> Decision:
        """What ``train()`` with these arguments would do: nothing is uploaded or created.

        Shows the rules' findings (a refusal too, as ``refused=True``), the Access Grants outcome
        per S3 location known before launch and the record that would be written::

            trainer.plan(input_data_config=[InputData(channel_name="train", data_source="s3://bucket/train/")])
        """
        call = bind(super().train, args, kwargs)  # type: ignore[misc]
        preview = trainer_preview(self, call.arguments.get("input_data_config"))
        return plan_preview(self, "training", self.s3ag_settings, preview)


class GrantAwareModelTrainer(GrantAwareTrainingMixin, ModelTrainer):
    """``sagemaker.train.ModelTrainer`` that enforces the S3 Access Grants rules and records them on the job.

    Same constructor as ``ModelTrainer``, plus keyword-only settings:

    * ``identity_propagation``: ``True``/``False``, or ``None`` (default) to detect it;
    * ``on_violation``: ``"fix"`` (default) or ``"error"``;
    * ``on_fallback``: ``"allow"``, ``"warn"`` (default) or ``"deny"``;
    * ``pipe_mode_replacement``: ``"File"`` (default) or ``"FastFile"``;
    * ``preflight_timeout``: seconds for the Access Grants preflight (default 5);
    * ``script_locations``: ``"warn"`` (default) or ``"deny"`` for S3 URIs your code reads with the role;
    * ``background_session_duration``: seconds your user background sessions last (default 7 days).

    Example::

        trainer = GrantAwareModelTrainer(training_image=image, role=role, training_input_mode="Pipe")
        trainer.train(input_data_config=[InputData(channel_name="train",
                                                   data_source="s3://bucket/train/")])
        trainer.latest_decision
    """


register(ModelTrainer, GrantAwareModelTrainer)
