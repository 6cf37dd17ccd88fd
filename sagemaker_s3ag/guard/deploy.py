"""Deploy: the guard's CloudFormation template, its Lambda package, and the trail it needs.

From a shell (the stack takes the zip's bucket and key as parameters; nothing in the template is
edited)::

    s3ag guard package sagemaker-s3ag-guard.zip
    aws s3 cp sagemaker-s3ag-guard.zip s3://my-artifacts/sagemaker-s3ag-guard.zip
    s3ag guard template > guard.yaml
    aws cloudformation deploy --template-file guard.yaml --stack-name s3ag-guard \\
        --capabilities CAPABILITY_IAM --parameter-overrides CodeBucket=my-artifacts
"""

from __future__ import annotations

import importlib.util
import py_compile
import sys
import tempfile
import zipfile
from importlib import resources
from pathlib import Path

# What the function needs: the package root, the core and the guard. The Lambda runtime has boto3.
PACKAGED = ("", "core", "guard")
_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed times: the same package gives the same zip, byte for byte

TRAIL = """\
The guard reacts to EventBridge events of type "AWS API Call via CloudTrail". EventBridge receives them
only from a CloudTrail trail that logs management events in the Region of the stack:

  * a trail (a single-Region trail in that Region, a multi-Region trail, or an organization trail) with
    logging on, and management events with read/write "Write" or "All" selected. The first copy of
    management events is free of CloudTrail charges; without any trail, no event reaches the rule.
    To check:    aws cloudtrail describe-trails
                 aws cloudtrail get-trail-status --name TRAIL
                 aws cloudtrail get-event-selectors --trail-name TRAIL
    To create:   aws cloudtrail create-trail --name s3ag-audit --s3-bucket-name BUCKET --is-multi-region-trail
                 aws cloudtrail start-logging --name s3ag-audit
    (the bucket needs CloudTrail's bucket policy: see "Amazon S3 bucket policy for CloudTrail").
  * data events are not needed; S3 Access Grants calls (GetDataAccess) are management events too.

Events reach EventBridge on a best-effort basis, typically within a few minutes of the call, and at
least once: the guard is idempotent, and a job may already be running when it is judged. Calls it sees:
CreateTrainingJob, CreateProcessingJob, CreateHyperParameterTuningJob, CreatePipeline, UpdatePipeline and UpdateTrainingJob
(failed calls are filtered out by the rule). CloudTrail may leave out or withhold request fields; the
guard then says "unchecked", never "ok". The training jobs a tuning job starts are logged as service
events, not API calls: the tuning job itself is judged.
"""


def template_text() -> str:
    """The CloudFormation template (YAML) that deploys the guard."""
    return resources.files("sagemaker_s3ag.guard").joinpath("template.yaml").read_text(encoding="utf-8")


RUNTIME = "python3.12"  # the template's Lambda runtime


def build_package(destination: str | Path) -> list[str]:
    """Write the Lambda deployment zip to ``destination``; returns the files it holds.

    The zip holds ``sagemaker_s3ag``'s root, ``core`` and ``guard`` modules as installed here (no
    SageMaker SDK, no wrapt: the handler needs neither), with fixed timestamps so that one version
    always gives the same bytes, and their bytecode for this Python (unchecked-hash ``.pyc``: a
    Lambda function cannot write its own, so without it each cold start compiles the modules).
    The bytecode is used only when this Python is the runtime's (:data:`RUNTIME`).
    """
    root = Path(__file__).resolve().parent.parent  # the installed sagemaker_s3ag
    sources: list[Path] = []
    for folder in PACKAGED:
        base = root / folder if folder else root
        sources.extend(
            path
            for path in sorted(base.glob("*"))
            if path.is_file() and (path.suffix == ".py" or path.name in ("py.typed", "template.yaml"))
        )
    files: dict[str, bytes] = {}
    for path in sources:
        name = path.relative_to(root.parent).as_posix()
        files[name] = path.read_bytes()
        if path.suffix == ".py":
            files[Path(importlib.util.cache_from_source(name)).as_posix()] = _bytecode(path)
    with zipfile.ZipFile(Path(destination), "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, files[name])
    return sorted(files)


def runtime_matches() -> bool:
    """Whether this Python is the template's Lambda runtime (so the package's bytecode is used)."""
    return RUNTIME == f"python{sys.version_info.major}.{sys.version_info.minor}"


def _bytecode(source: Path) -> bytes:
    with tempfile.TemporaryDirectory() as scratch:
        target = Path(scratch) / "module.pyc"
        py_compile.compile(
            str(source),
            cfile=str(target),
            dfile=source.name,
            doraise=True,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )
        return target.read_bytes()
