"""Verify: what a finished job really used, from CloudTrail, beside what sagemaker-s3ag predicted.

``s3ag:credentials`` is a prediction made before launch. ``verify_job`` reads the job's description
(its S3 locations, role and times) and CloudTrail (the ``GetDataAccess`` calls in the job's window,
one ``LookupEvents`` pass; with an event data store, the S3 data events too) and puts, per location,
the observed evidence beside the prediction; the verdict is recorded on the job as ``s3ag:verified``
(``match``, ``mismatch`` or ``no-evidence``). In a notebook::

    from sagemaker_s3ag import verify_job
    verify_job("my-training-job-2026-11-30-10-00-00-000")

``verify_jobs`` does the same for many jobs with one CloudTrail pass for the whole window.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any, Optional

from sagemaker_s3ag.core.evidence import (
    RETENTION,
    SKEW,
    AccessCall,
    DataAccess,
    Observation,
    Window,
    compare,
    observe,
    observed_verdict,
    read_access_call,
    read_data_event,
    shifted,
    with_data_events,
)
from sagemaker_s3ag.core.locations import MANIFESTS, s3_locations
from sagemaker_s3ag.core.request import parse_s3_uri
from sagemaker_s3ag.core.tags import MAX_TAGS, record_from_tags
from sagemaker_s3ag.ops.cloudtrail import Progress, check_event_data_store, cloudtrail_client, lookup, query_data_events
from sagemaker_s3ag.ops.describe import describe_job_request, job_tags

VERIFIED_TAG = "s3ag:verified"
FINAL = ("match", "mismatch")  # a job verified so is not verified again unless asked
_CREATE = {"training": ("CreateTrainingJob", "trainingJobName"), "processing": ("CreateProcessingJob", "processingJobName")}
_TIMES = {
    "training": ("TrainingStartTime", "TrainingEndTime", "TrainingJobStatus"),
    "processing": ("ProcessingStartTime", "ProcessingEndTime", "ProcessingJobStatus"),
}
_ENDED = ("Completed", "Failed", "Stopped")


@dataclass(frozen=True)
class Verification:
    """A job's predicted and observed credentials, per S3 location, with the evidence.

    Attributes:
        job_name, job_type, arn: the job.
        predicted: ``s3ag:credentials`` as recorded before launch (``None``: no record).
        observed: ``access-grants``, ``iam-role``, ``mixed`` or ``unknown`` (some location without evidence).
        verdict: ``match``, ``mismatch`` or ``no-evidence``.
        observations: one per S3 location: ``granted`` / ``denied`` / ``no-evidence``, with event ids.
        window: the time searched.
        user: the IAM Identity Center user who launched it (from its ``Create*`` event), when found.
        searched: what was read, in a sentence.
        notes: what limits the evidence.
        recorded: whether ``s3ag:verified`` was written on the job.
    """

    job_name: str
    job_type: str
    arn: str
    predicted: Optional[str]
    observed: str
    verdict: str
    observations: tuple[Observation, ...]
    window: Window
    user: Optional[str] = None
    searched: str = ""
    notes: tuple[str, ...] = ()
    recorded: bool = False

    @property
    def headline(self) -> str:
        """One line: the verdict, and what disagrees when it is a mismatch."""
        if self.verdict == "mismatch":
            return f"MISMATCH: predicted {self.predicted}, observed {self.observed}"
        if self.verdict == "match":
            return f"match: predicted and observed {self.observed}"
        return f"no evidence: predicted {self.predicted or '(no record)'}, observed {self.observed}"

    def _rows(self) -> list[tuple[str, str, str, str]]:
        return [
            (o.uri, o.permission, o.evidence + (f" (read with {', '.join(o.used)})" if o.used else ""), o.detail)
            for o in self.observations
        ]

    def __str__(self) -> str:
        lines = [f"{self.job_type} job {self.job_name}: {self.headline}"]
        if self.user:
            lines.append(f"launched by IAM Identity Center user {self.user}")
        lines.extend(
            f"  {evidence:<12} {permission:<9} {uri}\n               {detail}"
            for uri, permission, evidence, detail in self._rows()
        )
        lines.extend(f"note: {note}" for note in self.notes)
        lines.append(f"searched: {self.searched}")
        return "\n".join(lines)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))

    def _repr_html_(self) -> str:
        rows = "".join("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in self._rows())
        notes = "".join(f"<p><em>{html.escape(n)}</em></p>" for n in self.notes)
        return (
            f"<p><strong>{html.escape(self.job_name)}</strong>: {html.escape(self.headline)}</p>"
            f"<table><tr><th>location</th><th>permission</th><th>evidence</th><th>detail</th></tr>{rows}</table>"
            f"{notes}<p><small>searched: {html.escape(self.searched)}</small></p>"
        )

    def to_dict(self) -> dict[str, Any]:
        """The verification as JSON-ready data."""
        return {
            "job_name": self.job_name,
            "job_type": self.job_type,
            "arn": self.arn,
            "predicted": self.predicted,
            "observed": self.observed,
            "verdict": self.verdict,
            "user": self.user,
            "window": [self.window.start.isoformat(), self.window.end.isoformat()],
            "locations": [
                {
                    "uri": o.uri,
                    "permission": o.permission,
                    "evidence": o.evidence,
                    "detail": o.detail,
                    "events": list(o.event_ids),
                    "used": list(o.used),
                }
                for o in self.observations
            ],
            "notes": list(self.notes),
            "searched": self.searched,
            "recorded": self.recorded,
        }


@dataclass(frozen=True)
class JobFacts:
    """What a verification needs from a job's description and tags."""

    job_name: str
    job_type: str
    arn: str
    request: Mapping[str, Any]
    record: Mapping[str, str]
    window: Window
    tags: int
    ended: bool = True  # the job is over: its window is closed and a verdict may be recorded

    @property
    def role_arn(self) -> str:
        role = self.request.get("RoleArn")
        return role if isinstance(role, str) else ""

    @property
    def predicted(self) -> Optional[str]:
        """``s3ag:credentials`` when the job carries a launch record (not only a later tag)."""
        if "s3ag:identity-propagation" in self.record or "s3ag:version" in self.record:
            return self.record.get("s3ag:credentials")
        return None

    def beyond_reach(self) -> list[str]:
        """Inputs whose data the evidence cannot reach: the data a manifest lists, DatasetDefinition queries."""
        found = [
            f"{loc.where} (a manifest: the data it lists is not checked)" for loc in _locations(self) if loc.kind in MANIFESTS
        ]
        inputs = self.request.get("ProcessingInputs")
        for item in inputs if isinstance(inputs, list) else ():
            if isinstance(item, Mapping) and item.get("DatasetDefinition"):
                found.append(f"ProcessingInputs[{item.get('InputName', '?')}] (a DatasetDefinition query)")
        return found


@dataclass
class Evidence:
    """CloudTrail's answers for one window: ``GetDataAccess`` calls, job creators, S3 data events."""

    calls: list[AccessCall] = field(default_factory=list)
    creators: dict[tuple[str, str], str] = field(default_factory=dict)  # (job type, name) -> userId
    data: list[DataAccess] = field(default_factory=list)
    lookups: int = 0
    searched: str = ""


def job_facts(client: Any, job_name: str, job_type: Optional[str] = None, now: Optional[datetime] = None) -> JobFacts:
    """A job's description and tags, as a verification reads them.

    Its window runs from its creation to its end; a job that ended without an end time (it failed
    before it started) ends at its last modification; one still running ends now, and is not final.

    Raises:
        JobRecordNotFound: no such job. ValueError: a training and a processing job share the name and
            ``job_type`` is not given.
    """
    job_type, description = describe_job_request(client, job_name, job_type)
    arn = description.get("TrainingJobArn" if job_type == "training" else "ProcessingJobArn")
    if not isinstance(arn, str) or not arn:
        raise ValueError(f"SageMaker described {job_type} job {job_name!r} without its ARN: it cannot be verified")
    tags = job_tags(client, arn)
    start_key, end_key, status_key = _TIMES[job_type]
    current = now or datetime.now(timezone.utc)
    created = description.get("CreationTime") or description.get(start_key) or current
    ended = description.get(status_key) in _ENDED
    end = description.get(end_key) or (description.get("LastModifiedTime") if ended else None)
    window = Window.of_job(created, end, current)
    return JobFacts(job_name, job_type, arn, description, record_from_tags(tags), window, len(tags), ended)


def gather(
    boto_session: Any,
    jobs: Sequence[JobFacts],
    *,
    event_data_store: Optional[str] = None,
    query_timeout: float = 300.0,
    progress: Optional[Progress] = None,
) -> Evidence:
    """One pass over CloudTrail for all ``jobs``: ``GetDataAccess`` and each job type's ``Create*`` events
    over the span of their windows (never one lookup per job), and the S3 data events when asked."""
    evidence = Evidence()
    if not jobs:
        return evidence
    start, end = min(j.window.start for j in jobs), max(j.window.end for j in jobs)
    client = cloudtrail_client(boto_session)
    passes = [("GetDataAccess", start, end)]
    for job_type in sorted({j.job_type for j in jobs}):
        first = min(j.window.start for j in jobs if j.job_type == job_type)
        last = shifted(max(j.window.start for j in jobs if j.job_type == job_type), 2 * SKEW)  # created near the start
        passes.append((_CREATE[job_type][0], first, last))
    for event_name, begin, finish in passes:
        found = lookup(boto_session, event_name, begin, finish, client=client, progress=progress)
        evidence.lookups += found.pages
        if event_name == "GetDataAccess":
            evidence.calls = [c for c in map(read_access_call, found.records) if c is not None]
        else:
            job_type = next(t for t, (name, _key) in _CREATE.items() if name == event_name)
            evidence.creators.update(_creators(found.records, job_type))
    evidence.searched = (
        f"CloudTrail event history in {boto_session.region_name}: GetDataAccess and "
        f"{', '.join(_CREATE[t][0] for t in sorted({j.job_type for j in jobs}))} events from {_show(start)} to "
        f"{_show(end)} ({evidence.lookups} LookupEvents call{'s' if evidence.lookups != 1 else ''})"
    )
    if event_data_store:
        buckets = {parse_s3_uri(loc.uri)[0] for j in jobs for loc in _locations(j) if _is_s3(loc.uri)}
        records = query_data_events(boto_session, event_data_store, start, end, buckets, timeout=query_timeout, progress=progress)
        evidence.data = [a for a in map(read_data_event, records) if a is not None]  # read once, for every job
        evidence.searched += f"; S3 data events in {event_data_store.rsplit('/', 1)[-1]}"
    return evidence


def judge_job(facts: JobFacts, evidence: Evidence, now: Optional[datetime] = None) -> Verification:
    """A job's verification from CloudTrail's answers (pure: no AWS call)."""
    user = evidence.creators.get((facts.job_type, facts.job_name.lower()))
    observations = observe(
        _locations(facts), evidence.calls, facts.window, role_arn=facts.role_arn, user=user, job_name=facts.job_name
    )
    notes: list[str] = []
    if evidence.data:
        observations = with_data_events(observations, evidence.data, facts.window, role_arn=facts.role_arn, user=user)
        if any("iam-role" in o.used for o in observations):
            notes.append("reads by the execution role are shown, not counted: other jobs and notebooks may share the role")
    beyond = facts.beyond_reach()
    notes.extend(f"not verified: {place}" for place in beyond)
    if not facts.ended:
        notes.append("the job has not ended: its window is still open, so no verdict is recorded")
    moment = now or datetime.now(timezone.utc)
    if facts.window.start < moment - RETENTION:
        notes.append("the job is older than CloudTrail's 90-day event history: its GetDataAccess calls are gone")
    if facts.window.end > moment - timedelta(minutes=15):
        notes.append("CloudTrail delivers events within about 15 minutes: recent calls may be missing yet")
    predicted = facts.predicted
    if predicted == "iam-role" and all(o.evidence == "no-evidence" for o in observations):
        notes.append("predicted iam-role: SageMaker then makes no GetDataAccess call, so none is consistent, not proof")
    if predicted is None:
        notes.append("the job has no s3ag: launch record: nothing was predicted, and no verdict is recorded")
    if user is None:
        notes.append("its Create call was not found with an IAM Identity Center user: calls on behalf of any user count")
    notes.append(
        "how SageMaker's own GetDataAccess calls appear is not documented: only calls made by the SageMaker service "
        "as the job's role on behalf of a user, in the job's window, count"
    )
    return Verification(
        facts.job_name,
        facts.job_type,
        facts.arn,
        predicted,
        observed_verdict(observations),
        compare(predicted, observations, complete=not beyond),
        tuple(observations),
        facts.window,
        user,
        evidence.searched,
        tuple(notes),
    )


def record_verdict(client: Any, facts: JobFacts, verification: Verification) -> tuple[bool, str]:
    """Write ``s3ag:verified`` on the job. Never past 50 tags, never on a job that predicted nothing or
    is still running, and never downgrading ``match`` or ``mismatch`` to ``no-evidence`` (evidence ages
    out of CloudTrail after 90 days). Returns (written, why not; "" when there is nothing to say)."""
    from botocore.exceptions import BotoCoreError, ClientError

    if facts.predicted is None or not facts.ended:
        return False, ""
    earlier = facts.record.get(VERIFIED_TAG)
    if earlier in FINAL and verification.verdict == "no-evidence":
        return False, f"the job keeps its earlier s3ag:verified={earlier}: the evidence found then is not found now"
    if earlier == verification.verdict:
        return True, ""
    if earlier is None and facts.tags >= MAX_TAGS:
        return False, f"not recorded: the job has {MAX_TAGS} tags"
    try:
        client.add_tags(ResourceArn=facts.arn, Tags=[{"Key": VERIFIED_TAG, "Value": verification.verdict}])
    except (ClientError, BotoCoreError) as err:
        return False, f"not recorded: {err}"
    return True, ""


def verify_job(
    job_name: str,
    sagemaker_session: Any = None,
    *,
    job_type: Optional[str] = None,
    event_data_store: Optional[str] = None,
    record: bool = True,
    query_timeout: float = 300.0,
    progress: Optional[Progress] = None,
) -> Verification:
    """What a job really used, per S3 location, from CloudTrail, beside the prediction; recorded on the job.

    Args:
        job_name: a training or processing job.
        sagemaker_session: the session to ask (default: a new one, from the environment); CloudTrail is read
            in its Region, with its credentials (``cloudtrail:LookupEvents``; with ``event_data_store``,
            ``cloudtrail:StartQuery``/``DescribeQuery``/``GetQueryResults``; ``sagemaker:AddTags`` to record).
        job_type: ``"training"`` or ``"processing"``, when a training and a processing job share the name.
        event_data_store: a CloudTrail Lake event data store with S3 data events: then what the job's
            reads and writes used is shown too.
        record: write ``s3ag:verified`` on the job (not for a job still running or with no record).

    Raises:
        JobRecordNotFound: no such job. CloudTrailError: CloudTrail could not be read. ValueError: a
            malformed event data store, or a name shared by a training and a processing job.
    """
    from sagemaker_s3ag.sdk.installed import sdk_class

    if event_data_store is not None:
        check_event_data_store(event_data_store)
    if sagemaker_session is None:
        sagemaker_session = sdk_class("Session")()
    client = sagemaker_session.sagemaker_client
    facts = job_facts(client, job_name, job_type)
    evidence = gather(
        sagemaker_session.boto_session, [facts], event_data_store=event_data_store, query_timeout=query_timeout, progress=progress
    )
    verification = judge_job(facts, evidence)
    return _recorded(client, facts, verification) if record else verification


def verify_jobs(
    jobs: Sequence[tuple[str, str]],
    sagemaker_session: Any,
    *,
    event_data_store: Optional[str] = None,
    record: bool = True,
    workers: int = 8,
    query_timeout: float = 300.0,
    progress: Optional[Progress] = None,
) -> dict[str, Verification]:
    """``verify_job`` for many ``(job name, job type)``: descriptions concurrently, CloudTrail in one pass
    for all. Returns the verifications by job ARN (a training and a processing job may share a name)."""
    if event_data_store is not None:
        check_event_data_store(event_data_store)
    client = sagemaker_session.sagemaker_client
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="s3ag-verify") as pool:
        facts = list(pool.map(lambda job: job_facts(client, job[0], job[1]), jobs))
    evidence = gather(
        sagemaker_session.boto_session, facts, event_data_store=event_data_store, query_timeout=query_timeout, progress=progress
    )
    results: dict[str, Verification] = {}
    for item in facts:
        verification = judge_job(item, evidence)
        results[item.arn] = _recorded(client, item, verification) if record else verification
    return results


def _recorded(client: Any, facts: JobFacts, verification: Verification) -> Verification:
    written, why = record_verdict(client, facts, verification)
    if written:
        return replace(verification, recorded=True)
    return replace(verification, notes=(*verification.notes, why)) if why else verification


def _locations(facts: JobFacts) -> list[Any]:
    return s3_locations(facts.request, facts.job_type)  # type: ignore[arg-type]


def _is_s3(uri: Any) -> bool:
    try:
        parse_s3_uri(uri)
    except (ValueError, TypeError):
        return False
    return True


def _creators(records: Iterable[Mapping[str, Any]], job_type: str) -> dict[tuple[str, str], str]:
    """(job type, lower-cased name) → the IAM Identity Center user of each job's successful ``Create*`` call."""
    _operation, key = _CREATE[job_type]
    found: dict[tuple[str, str], str] = {}
    for record in records:
        parameters = record.get("requestParameters")
        identity = record.get("userIdentity")
        if record.get("errorCode") or not isinstance(parameters, Mapping) or not isinstance(identity, Mapping):
            continue
        name, behalf = parameters.get(key), identity.get("onBehalfOf")
        user = behalf.get("userId") if isinstance(behalf, Mapping) else None
        if isinstance(name, str) and isinstance(user, str):
            found[(job_type, name.lower())] = user
    return found


def _show(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
