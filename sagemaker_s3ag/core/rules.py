"""Rules: what a SageMaker job may ask for when it reads S3 through S3 Access Grants with TIP on.

Each rule is a declared object with a stable id and a pure ``apply`` over the API request
(CreateTrainingJob / CreateProcessingJob): it returns a new request and its findings and never
changes the request it was given (it copies only the parts it changes). ``enforce`` runs them all::

    >>> from sagemaker_s3ag import enforce
    >>> fixed, findings = enforce(request, "training")   # raises ConsiderationError on a refusal

Source: https://docs.aws.amazon.com/sagemaker/latest/dg/trustedidentitypropagation-s3-access-grants-jobs.html
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from sagemaker_s3ag.core.errors import ConsiderationError
from sagemaker_s3ag.core.findings import Finding
from sagemaker_s3ag.core.locations import s3_locations
from sagemaker_s3ag.core.request import (
    MAX_S3_URI,
    JobType,
    Request,
    as_list,
    as_mapping,
    copy_request,
    is_unresolved,
    job_input_mode,
    processing_inputs,
    s3_uri_of,
    show,
    training_channels,
)

logger = logging.getLogger(__name__)

DOCS = "https://docs.aws.amazon.com/sagemaker/latest/dg/trustedidentitypropagation-s3-access-grants-jobs.html"


@dataclass(frozen=True)
class RuleContext:
    """What a rule needs besides the request.

    Attributes:
        job_type: ``"training"`` or ``"processing"``.
        pipe_mode_replacement: ``"File"`` or ``"FastFile"`` for training channels.
        sdk_defaults: request fields the SDK filled in on its own (e.g. v2's default
            ``DebugHookConfig`` and ``ProfilerConfig``); changing them needs no warning.
    """

    job_type: JobType
    pipe_mode_replacement: str = "File"
    sdk_defaults: frozenset[str] = field(default_factory=frozenset)

    def explicit(self, request_field: str) -> bool:
        """Whether the user (not the SDK) put ``request_field`` into the request."""
        return request_field not in self.sdk_defaults


Apply = Callable[[Request, RuleContext], "tuple[Request, list[Finding]]"]


@dataclass(frozen=True)
class Rule:
    """One S3 Access Grants rule.

    Attributes:
        id: stable id, used in tags, warnings and ``ConsiderationError.rule``.
        title: a few words.
        summary: what it checks, one line.
        why: why AWS requires it.
        fix: what ``on_violation="fix"`` does, and when the job is refused instead.
        job_types: the jobs it applies to.
        apply: ``(request, context) -> (new_request, findings)``; never mutates ``request``.
    """

    id: str
    title: str
    summary: str
    why: str
    fix: str
    job_types: frozenset[JobType]
    apply: Apply

    @property
    def doc_url(self) -> str:
        """Where AWS documents the rule."""
        return DOCS


# --------------------------------------------------------------------------- pipe-mode


def _pipe_mode(request: Request, ctx: RuleContext) -> tuple[Request, list[Finding]]:
    if ctx.job_type == "processing":
        return _pipe_mode_processing(request)
    findings: list[Finding] = []
    replacement = ctx.pipe_mode_replacement
    job_mode = job_input_mode(request)
    channels = as_list(request.get("InputDataConfig"))
    has_s3 = False
    others: list[tuple[int, Mapping[str, Any]]] = []  # channels with no S3 source
    for index, name, channel in training_channels(request):
        source = as_mapping(as_mapping(channel.get("DataSource")).get("S3DataSource"))
        if not source:
            others.append((index, channel))
            continue
        has_s3 = True
        mode = channel.get("InputMode") or job_mode
        if mode == "File" or mode == "FastFile":  # the common case, settled without more work
            continue
        where = f"InputDataConfig[{name}]"
        if mode != "Pipe":
            if is_unresolved(mode):
                findings.append(
                    Finding(
                        "pipe-mode",
                        "refused",
                        f"{where}.InputMode",
                        f"the input mode is {show(mode)}, which is only known when the pipeline runs and "
                        f"could be Pipe; pass a literal 'File' or 'FastFile' for channel {name!r}",
                    )
                )
            continue
        blocker = _pipe_only(channel, source)
        if blocker:
            findings.append(
                Finding(
                    "pipe-mode",
                    "refused",
                    where,
                    f"channel {name!r} uses Pipe mode with {blocker}, which SageMaker allows only in "
                    "Pipe mode; store the data uncompressed / in its final format and use File mode",
                )
            )
            continue
        if channel.get("InputMode") == "Pipe":
            channels[index] = {**channel, "InputMode": replacement}
            findings.append(
                Finding(
                    "pipe-mode",
                    "replaced",
                    f"{where}.InputMode",
                    f"Pipe mode cannot use S3 Access Grants; channel {name!r} now uses {replacement}",
                )
            )
    # The job-wide mode goes too when any S3 channel exists, even one with its own mode: the SDK
    # copies a single TrainingInput's mode there, and the service may look at it. For the same
    # reason a job-wide mode only known at run time is refused even then.
    job_pipe = job_mode == "Pipe" and has_s3
    if has_s3 and is_unresolved(job_mode) and not any(f.action == "refused" for f in findings):
        findings.append(
            Finding(
                "pipe-mode",
                "refused",
                "AlgorithmSpecification.TrainingInputMode",
                f"the job's input mode is {show(job_mode)}, which is only known when the pipeline runs and "
                "could be Pipe; pass a literal 'File' or 'FastFile'",
            )
        )
    if job_pipe and not any(f.action == "refused" for f in findings):
        for index, channel in others:
            if not channel.get("InputMode"):
                channels[index] = {**channel, "InputMode": "Pipe"}  # keep non-S3 channels as they were
        findings.append(
            Finding(
                "pipe-mode",
                "replaced",
                "AlgorithmSpecification.TrainingInputMode",
                f"Pipe mode cannot use S3 Access Grants; the job's input mode is now {replacement}",
            )
        )
    if not any(f.changed for f in findings):
        return request, findings
    new = dict(request)
    new["InputDataConfig"] = channels
    if job_pipe:
        new["AlgorithmSpecification"] = {**as_mapping(request.get("AlgorithmSpecification")), "TrainingInputMode": replacement}
    return new, findings


def _pipe_only(channel: Mapping[str, Any], source: Mapping[str, Any]) -> str | None:
    """What in a Pipe-mode training channel (with this S3 source) SageMaker supports only in Pipe mode."""
    if channel.get("CompressionType") == "Gzip":
        return "CompressionType 'Gzip'"
    if channel.get("RecordWrapperType") == "RecordIO":
        return "RecordWrapperType 'RecordIO'"
    if source.get("S3DataType") == "AugmentedManifestFile":
        return "S3DataType 'AugmentedManifestFile'"
    return None


def _pipe_mode_processing(request: Request) -> tuple[Request, list[Finding]]:
    findings: list[Finding] = []
    inputs = as_list(request.get("ProcessingInputs"))
    for index, name, item in processing_inputs(request):
        s3_input = as_mapping(item.get("S3Input"))
        if not s3_input:
            continue
        where = f"ProcessingInputs[{name}].S3Input"
        mode = s3_input.get("S3InputMode")
        if is_unresolved(mode):
            findings.append(
                Finding(
                    "pipe-mode",
                    "refused",
                    f"{where}.S3InputMode",
                    f"the input mode is {show(mode)}, which is only known when the pipeline runs and "
                    f"could be Pipe; pass a literal 'File' for input {name!r}",
                )
            )
        elif mode == "Pipe" and s3_input.get("S3CompressionType") == "Gzip":
            findings.append(
                Finding(
                    "pipe-mode",
                    "refused",
                    where,
                    f"input {name!r} uses Pipe mode with S3CompressionType 'Gzip', which SageMaker allows "
                    "only in Pipe mode; store the data uncompressed and use File mode",
                )
            )
        elif mode == "Pipe":
            inputs[index] = {**item, "S3Input": {**s3_input, "S3InputMode": "File"}}
            findings.append(
                Finding(
                    "pipe-mode",
                    "replaced",
                    f"{where}.S3InputMode",
                    f"Pipe mode cannot use S3 Access Grants; input {name!r} now uses File",
                )
            )
    if not any(f.changed for f in findings):
        return request, findings
    return {**request, "ProcessingInputs": inputs}, findings


# --------------------------------------------------------------------------- debugger / profiler


def _remove(request: Request, ctx: RuleContext, rule: str, keys: Mapping[str, str]) -> tuple[Request, list[Finding]]:
    """Drop each present, non-empty ``key`` (whose message is ``keys[key]``) from the request."""
    present = [k for k in keys if request.get(k)]
    if not present:
        return request, []
    new = dict(request)
    findings = []
    for key in present:
        del new[key]
        findings.append(Finding(rule, "removed", key, keys[key], explicit=ctx.explicit(key)))
    return new, findings


def _debugger(request: Request, ctx: RuleContext) -> tuple[Request, list[Finding]]:
    return _remove(
        request,
        ctx,
        "debugger",
        {
            "DebugHookConfig": "SageMaker Debugger cannot run with trusted identity propagation; hook removed",
            "DebugRuleConfigurations": "SageMaker Debugger rules cannot run with trusted identity propagation; rules removed",
            "TensorBoardOutputConfig": "TensorBoard output is written by SageMaker Debugger, which cannot run "
            "with trusted identity propagation; removed (write TensorBoard logs to the output path instead)",
        },
    )


def _profiler(request: Request, ctx: RuleContext) -> tuple[Request, list[Finding]]:
    new, findings = _remove(
        request,
        ctx,
        "profiler",
        {"ProfilerRuleConfigurations": "SageMaker Profiler rules cannot run with trusted identity propagation; rules removed"},
    )
    config = request.get("ProfilerConfig")
    if config is not None and (is_unresolved(config) or as_mapping(config).get("DisableProfiler") is not True):
        new = {**new, "ProfilerConfig": {"DisableProfiler": True}}
        findings.append(
            Finding(
                "profiler",
                "replaced",
                "ProfilerConfig",
                "SageMaker Profiler cannot run with trusted identity propagation; profiler disabled",
                explicit=ctx.explicit("ProfilerConfig"),
            )
        )
    return new, findings


def _remote_debug(request: Request, ctx: RuleContext) -> tuple[Request, list[Finding]]:
    config = request.get("RemoteDebugConfig") or {}
    enabled = config if is_unresolved(config) else as_mapping(config).get("EnableRemoteDebug")
    if enabled is not True and not is_unresolved(enabled):
        return request, []
    new = dict(request)
    del new["RemoteDebugConfig"]
    return new, [
        Finding(
            "remote-debug",
            "removed",
            "RemoteDebugConfig",
            "remote debugging cannot run with trusted identity propagation; removed",
            explicit=ctx.explicit("RemoteDebugConfig"),
        )
    ]


# --------------------------------------------------------------------------- dataset-definition


def _dataset_definition(request: Request, ctx: RuleContext) -> tuple[Request, list[Finding]]:
    findings = []
    for _index, name, item in processing_inputs(request):
        definition = item.get("DatasetDefinition")
        if definition is None:
            continue
        # Any value but None is a DatasetDefinition input to SageMaker (or a malformed one botocore refuses):
        # refused either way, and its source named only when the request says it.
        fields = as_mapping(definition)
        source = "Athena" if "AthenaDatasetDefinition" in fields else "Redshift" if "RedshiftDatasetDefinition" in fields else ""
        what = f"{'an' if source == 'Athena' else 'a'} {source} DatasetDefinition" if source else "a DatasetDefinition"
        findings.append(
            Finding(
                "dataset-definition",
                "refused",
                f"ProcessingInputs[{name}].DatasetDefinition",
                f"input {name!r} is {what}, which SageMaker cannot read with trusted "
                f"identity propagation; materialise the query to S3 first ({source or 'Athena or Redshift'} UNLOAD, or a job "
                "without TIP) and pass that prefix as an S3 input (S3Input.S3Uri='s3://…')",
            )
        )
    return request, findings


# --------------------------------------------------------------------------- s3-uri


def _s3_uri(request: Request, ctx: RuleContext) -> tuple[Request, list[Finding]]:
    findings = []
    for where, _permission, uri, *_kind in s3_locations(request, ctx.job_type):
        if type(uri) is str and uri[:5] == "s3://" and len(uri) <= MAX_S3_URI and _is_s3_uri(uri):
            continue  # the common case
        if uri is None or is_unresolved(uri):
            continue
        if not isinstance(uri, str) or not uri:
            problem = f"{uri!r} is not an S3 URI"
        elif len(uri) > MAX_S3_URI:
            problem = f"the location is {len(uri)} characters long; SageMaker takes at most {MAX_S3_URI}"
        elif uri[:7].lower() == "file://":
            continue  # local mode: SageMaker's own local runner reads it, not S3
        else:
            try:
                s3_uri_of(uri)
                continue
            except ValueError as err:
                problem = str(err)
        findings.append(Finding("s3-uri", "refused", where, problem))
    return request, findings


@functools.lru_cache(maxsize=4096)
def _is_s3_uri(uri: str) -> bool:
    try:
        s3_uri_of(uri)
        return True
    except ValueError:
        return False


# --------------------------------------------------------------------------- names

_JOB_NAMES = {"TrainingJobName": 63, "ProcessingJobName": 63, "HyperParameterTuningJobName": 32}
_JOB_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9])*")
_CHANNEL_NAME = re.compile(r"[A-Za-z0-9.\-_]{1,64}")


def _names(request: Request, ctx: RuleContext) -> tuple[Request, list[Finding]]:
    findings = [
        Finding(
            "names", "refused", key, f"{show(value)} is not a job name SageMaker takes: 1 to {limit} letters, digits and hyphens"
        )
        for key, limit in _JOB_NAMES.items()
        if isinstance(value := request.get(key), str) and not (len(value) <= limit and _JOB_NAME.fullmatch(value))
    ]
    if ctx.job_type == "training":
        seen: set[str] = set()
        for index, _name, channel in training_channels(request):
            name = channel.get("ChannelName")
            if type(name) is str and name not in seen and _CHANNEL_NAME.fullmatch(name):
                seen.add(name)  # the common case
                continue
            where = f"InputDataConfig[#{index}].ChannelName"
            if name is None or is_unresolved(name):
                continue  # a missing name is botocore's to refuse (a required field)
            if not isinstance(name, str) or not _CHANNEL_NAME.fullmatch(name):
                findings.append(
                    Finding(
                        "names",
                        "refused",
                        where,
                        f"{show(name)} is not a channel name SageMaker takes: 1 to 64 letters, digits and . - _",
                    )
                )
            elif name in seen:
                findings.append(Finding("names", "refused", where, f"channel {name!r} is given twice"))
            else:
                seen.add(name)
    return request, findings


# --------------------------------------------------------------------------- registry

RULES: tuple[Rule, ...] = (
    Rule(
        id="pipe-mode",
        title="No Pipe input mode",
        summary="No S3 training channel or processing S3 input may end up in Pipe mode.",
        why="S3 Access Grants cannot be used with Pipe input mode.",
        fix="Pipe becomes `pipe_mode_replacement` (File or FastFile) on training channels and File on "
        "processing inputs. Refused when the channel also uses something only Pipe mode supports "
        "(Gzip compression, RecordIO wrapping, AugmentedManifestFile) or when the mode is a pipeline "
        "parameter, which cannot be verified before the pipeline runs.",
        job_types=frozenset({"training", "processing"}),
        apply=_pipe_mode,
    ),
    Rule(
        id="debugger",
        title="No SageMaker Debugger",
        summary="No DebugHookConfig, DebugRuleConfigurations or TensorBoardOutputConfig on a training job.",
        why="A training job with trusted identity propagation cannot use SageMaker Debugger; the API "
        "documents TensorBoardOutputConfig as Debugger's TensorBoard output.",
        fix="Removed. SDK v2's default hook goes quietly (INFO log); a hook, rules or TensorBoard output "
        "you configured are removed with a warning, or refused with on_violation='error'.",
        job_types=frozenset({"training"}),
        apply=_debugger,
    ),
    Rule(
        id="profiler",
        title="No SageMaker Profiler",
        summary="No ProfilerRuleConfigurations; ProfilerConfig absent or {'DisableProfiler': True}.",
        why="A training job with trusted identity propagation cannot use SageMaker Profiler.",
        fix="Rules removed and the profiler disabled. SDK v2's default profiler goes quietly; one you "
        "configured goes with a warning, or is refused with on_violation='error'.",
        job_types=frozenset({"training"}),
        apply=_profiler,
    ),
    Rule(
        id="remote-debug",
        title="No remote debugging",
        summary="No RemoteDebugConfig with EnableRemoteDebug on a training job.",
        why="A training job with trusted identity propagation cannot use remote debugging.",
        fix="RemoteDebugConfig removed with a warning, or refused with on_violation='error' (SDK v3's "
        "with_remote_debug_config() included). enable_remote_debug() on a grant-aware SDK v2 estimator is refused.",
        job_types=frozenset({"training"}),
        apply=_remote_debug,
    ),
    Rule(
        id="dataset-definition",
        title="No DatasetDefinition inputs",
        summary="No Athena or Redshift DatasetDefinition input on a processing job.",
        why="A processing job with trusted identity propagation cannot use DatasetDefinition inputs.",
        fix="Always refused: materialise the query to S3 first and pass the S3 prefix as an input.",
        job_types=frozenset({"processing"}),
        apply=_dataset_definition,
    ),
    Rule(
        id="names",
        title="Names SageMaker takes",
        summary="Job names are 1-63 (tuning: 32) letters, digits and hyphens; training channel names are unique, "
        "1-64 letters, digits and . - _.",
        why="The record, the warnings and the preflight's AuditContext name the job and its channels; a name the "
        "API refuses would fail the job only after its code and data were uploaded.",
        fix="Always refused, before anything is uploaded.",
        job_types=frozenset({"training", "processing"}),
        apply=_names,
    ),
    Rule(
        id="s3-uri",
        title="Well-formed S3 locations",
        summary="Every S3 input, output and checkpoint location is an s3://bucket/prefix URI, or an S3 "
        "https:// URL (checked as the s3:// URI it names), of at most 1024 characters.",
        why="S3 Access Grants match grants by S3 prefix; a malformed location, or an https:// URL that names no "
        "bucket (an access point, another host), can match no grant and could not be checked.",
        fix="Always refused, naming the channel.",
        job_types=frozenset({"training", "processing"}),
        apply=_s3_uri,
    ),
)

RULES_BY_ID: Mapping[str, Rule] = {rule.id: rule for rule in RULES}
if len(RULES_BY_ID) != len(RULES):  # pragma: no cover - guarded by a test too
    raise RuntimeError("duplicate rule ids")


def enforce(
    request: Mapping[str, Any],
    job_type: JobType,
    *,
    on_violation: str = "fix",
    pipe_mode_replacement: str = "File",
    sdk_defaults: frozenset[str] = frozenset(),
) -> tuple[Request, list[Finding]]:
    """Apply every rule for ``job_type`` to a request, as with trusted identity propagation on.

    Returns the fixed request (a new dict; ``request`` is left as it was) and the findings.
    ``enforce(enforce(r)[0])`` changes nothing more.

    Raises:
        ConsiderationError: something cannot be fixed, or ``on_violation="error"`` and you asked
            for something the rules forbid. It lists every refusal and names the first rule.
        ValueError: the request holds itself, or nests or repeats far beyond any SageMaker request.
    """
    if job_type not in ("training", "processing", "tuning"):
        raise ValueError(f"job_type must be 'training', 'processing' or 'tuning', not {job_type!r}")
    if on_violation not in ("fix", "error"):
        raise ValueError(f"on_violation must be 'fix' or 'error', not {on_violation!r}")
    if pipe_mode_replacement not in ("File", "FastFile"):
        raise ValueError(f"pipe_mode_replacement must be 'File' or 'FastFile', not {pipe_mode_replacement!r}")
    if job_type == "tuning":
        current, findings = _apply_tuning(request, RuleContext("training", pipe_mode_replacement, sdk_defaults))
    else:
        replacement = "File" if job_type == "processing" else pipe_mode_replacement
        current, findings = _apply_all(request, RuleContext(job_type, replacement, sdk_defaults))
    if on_violation == "error":
        findings = [
            replace(f, action="refused", message=f"{f.message} (refused: on_violation='error')")
            if f.changed and f.explicit
            else f
            for f in findings
        ]
    refusals = [f for f in findings if f.action == "refused"]
    if refusals:
        raise refusal_error(refusals)
    # Rules copy only what they change; the caller gets a request that shares nothing with its own.
    return copy_request(current), findings


def check(request: Mapping[str, Any], job_type: JobType) -> list[Finding]:
    """Every rule for ``job_type`` on a request as it was sent, without changing or refusing anything.

    Each finding is something TIP forbids in the request; its action says what :func:`enforce`
    would do (``removed`` / ``replaced``: fix it; ``refused``: refuse the job), and its message
    states the problem only, since nothing was changed. The account-wide guard judges jobs launched
    elsewhere with it::

        >>> from sagemaker_s3ag.core.rules import check
        >>> sorted({f.rule for f in check(request, "training")})
        ['debugger', 'pipe-mode']

    Never raises for a request of any shape; ``job_type`` must be ``"training"``, ``"processing"``
    or ``"tuning"``.
    """
    if job_type == "tuning":
        findings = _apply_tuning(request, RuleContext("training"))[1]
    elif job_type in ("training", "processing"):
        findings = _apply_all(request, RuleContext(job_type))[1]
    else:
        raise ValueError(f"job_type must be 'training', 'processing' or 'tuning', not {job_type!r}")
    # A fix's message reads "<the problem>; <what was changed>": only the problem is true here.
    return [replace(f, message=f.message.split("; ")[0]) if f.changed else f for f in findings]


def _apply_all(request: Mapping[str, Any], ctx: RuleContext) -> tuple[Request, list[Finding]]:
    """Every rule for ``ctx.job_type``, in registry order; a crashing rule becomes a refusal."""
    current: Request = request  # type: ignore[assignment]
    findings: list[Finding] = []
    for rule in RULES:
        if ctx.job_type not in rule.job_types:
            continue
        try:
            current, found = rule.apply(current, ctx)
        except Exception as err:  # a crashing rule must not become a traceback or a silent pass
            logger.debug("rule %s crashed", rule.id, exc_info=True)
            found = [
                Finding(
                    rule.id,
                    "refused",
                    "(request)",
                    f"the rule could not check this request ({type(err).__name__}: {err}); please report "
                    "it, or pass identity_propagation=False to send the job unchecked",
                )
            ]
        findings.extend(found)
    return current, findings


def _apply_tuning(request: Mapping[str, Any], ctx: RuleContext) -> tuple[Request, list[Finding]]:
    """The training rules on each training job definition of a tuning job (and the tuning job's own name)."""
    new: Request = dict(request)
    findings: list[Finding] = _names({k: v for k, v in request.items() if k in _JOB_NAMES}, ctx)[1]

    def apply(place: str, definition: Mapping[str, Any]) -> Request:
        fixed, found = _apply_all(definition, ctx)
        findings.extend(replace(f, where=f"{place}.{f.where}") for f in found)
        return fixed

    single = request.get("TrainingJobDefinition")
    if isinstance(single, Mapping) and single:
        new["TrainingJobDefinition"] = apply("TrainingJobDefinition", single)
    several = request.get("TrainingJobDefinitions")
    if isinstance(several, (list, tuple)):
        new["TrainingJobDefinitions"] = [
            apply(f"TrainingJobDefinitions[{_definition_name(item, index)}]", item) if isinstance(item, Mapping) else item
            for index, item in enumerate(several)
        ]
    return new, findings


def _definition_name(definition: Mapping[str, Any], index: int) -> str:
    name = definition.get("DefinitionName")
    return name if isinstance(name, str) else str(index)


def update_findings(request: Mapping[str, Any], source: str) -> list[Finding]:
    """What an ``UpdateTrainingJob`` request would switch on that TIP forbids, each as a refusal.

    An update cannot be fixed (removing the field would leave nothing, or something else, to do),
    so switching remote debugging or the Profiler on for a running TIP job is refused outright.
    """
    why = f"cannot run with trusted identity propagation ({source})"
    findings = []
    remote = request.get("RemoteDebugConfig")
    enabled = remote.get("EnableRemoteDebug") if isinstance(remote, Mapping) and not is_unresolved(remote) else remote
    if enabled is True or is_unresolved(enabled):
        findings.append(Finding("remote-debug", "refused", "RemoteDebugConfig", f"remote debugging {why}"))
    profiler = request.get("ProfilerConfig")
    if profiler is not None and (not isinstance(profiler, Mapping) or profiler.get("DisableProfiler") is not True):
        findings.append(Finding("profiler", "refused", "ProfilerConfig", f"SageMaker Profiler {why}"))
    if request.get("ProfilerRuleConfigurations"):
        findings.append(Finding("profiler", "refused", "ProfilerRuleConfigurations", f"SageMaker Profiler rules {why}"))
    return findings


def refusal_error(refusals: list[Finding]) -> ConsiderationError:
    """One ``ConsiderationError`` listing every refusal."""
    lines = "\n".join(f"  - {f}" for f in refusals)
    message = (
        f"this job cannot read S3 through S3 Access Grants with trusted identity propagation "
        f"({len(refusals)} problem{'s' if len(refusals) > 1 else ''}; nothing was uploaded or created):\n"
        f"{lines}\nSee {DOCS}"
    )
    return ConsiderationError(message, rule=refusals[0].rule, findings=refusals)
