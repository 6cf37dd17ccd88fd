"""HyperparameterTuner over grant-aware (or patched) estimators, on the real SDK v2 and moto.

The CreateHyperParameterTuningJob request is read as botocore sent it (fixture ``calls``): the
rules apply to every training job definition of the tuning job, and the tuning job carries the
``s3ag:`` record. ``tuner.latest_decision`` is the decision (job_type ``"tuning"``).
"""

from __future__ import annotations

import json

import pytest
from conftest import (
    BUCKET,
    IMAGE,
    NO_IDENTITY,
    ROLE,
    BaseFlavour,
    expected_record,
    flavour_fixtures,
    ours,
    tuning_requests,
    uploaded_keys,
)
from sagemaker.estimator import Estimator
from sagemaker.inputs import TrainingInput
from sagemaker.pytorch import PyTorch
from sagemaker.tuner import ContinuousParameter, HyperparameterTuner
from sagemaker.workflow.pipeline import Pipeline
from sagemaker.workflow.pipeline_context import PipelineSession
from sagemaker.workflow.steps import TuningStep

import sagemaker_s3ag
from sagemaker_s3ag import ConsiderationError, GrantFallbackError, grant_aware

pytestmark = pytest.mark.filterwarnings("ignore:Running within a PipelineSession:UserWarning")

TRAIN = f"s3://{BUCKET}/train/"
VAL = f"s3://{BUCKET}/val/"
OUT = f"s3://{BUCKET}/out/"
METRICS = [{"Name": "val:loss", "Regex": "loss=(.*)"}]
RANGES = {"lr": ContinuousParameter(0.01, 0.1)}


# --------------------------------------------------------------------------- helpers


class Flavour(BaseFlavour):
    """A grant-aware estimator, or a stock one under ``patch()`` with the same settings."""

    def estimator(self, sess, settings=None, cls=Estimator, **kwargs):
        kwargs = {
            "image_uri": IMAGE,
            "role": ROLE,
            "instance_count": 1,
            "instance_type": "ml.m5.xlarge",
            "sagemaker_session": sess,
            "output_path": OUT,
            **kwargs,
        }
        return self.make(cls, settings, **kwargs)


flavour, ga = flavour_fixtures(Flavour)


def tuner_for(est, **kwargs):
    return HyperparameterTuner(
        est,
        "val:loss",
        RANGES,
        metric_definitions=METRICS,
        objective_type="Minimize",
        max_jobs=2,
        max_parallel_jobs=1,
        **kwargs,
    )


def multi_tuner(estimators):
    names = list(estimators)
    return HyperparameterTuner.create(
        estimator_dict=estimators,
        objective_metric_name_dict={n: "val:loss" for n in names},
        hyperparameter_ranges_dict={n: RANGES for n in names},
        metric_definitions_dict={n: METRICS for n in names},
        max_jobs=2,
        max_parallel_jobs=1,
    )


def tuning_jobs(session) -> list[str]:
    summaries = session.sagemaker_client.list_hyper_parameter_tuning_jobs()["HyperParameterTuningJobSummaries"]
    return [j["HyperParameterTuningJobName"] for j in summaries]


def channel(name, uri, **extra):
    return {
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri, "S3DataDistributionType": "FullyReplicated"}},
        "ChannelName": name,
        **extra,
    }


ALGORITHM_FILE = {"TrainingInputMode": "File", "MetricDefinitions": METRICS, "TrainingImage": IMAGE}


# --------------------------------------------------------------------------- single estimator


def test_tuner_fit_fixes_the_definition_and_tags_the_tuning_job(flavour, session, calls, grant_warnings):
    est = flavour.estimator(session, input_mode="Pipe")
    tuner = tuner_for(est)
    tuner.fit({"train": TRAIN}, wait=False)

    (request,) = tuning_requests(calls)
    definition = request["TrainingJobDefinition"]
    assert definition["AlgorithmSpecification"] == ALGORITHM_FILE
    assert definition["InputDataConfig"] == [channel("train", TRAIN)]
    assert definition["OutputDataConfig"] == {"S3OutputPath": OUT}
    assert request["Tags"] == expected_record("unknown", "pipe-mode")
    assert [op for op, _ in calls if op == "CreateTrainingJob"] == []
    assert tuning_jobs(session) == [request["HyperParameterTuningJobName"]]

    decision = tuner.latest_decision
    assert decision.job_type == "tuning"
    assert decision.job_name == request["HyperParameterTuningJobName"]
    assert decision.credentials == "unknown"  # tuning is not on AWS's list of TIP-compatible features
    assert decision.adjustments == ("pipe-mode",)
    assert [(f.rule, f.action, f.where) for f in decision.findings] == [
        ("pipe-mode", "replaced", "TrainingJobDefinition.AlgorithmSpecification.TrainingInputMode"),
        ("tuning", "noted", "(tuning job)"),
    ]
    assert [(o.uri, o.permission, o.outcome) for o in decision.locations] == [
        (TRAIN, "READ", "granted"),
        (OUT, "WRITE", "granted"),
    ]
    assert ours(grant_warnings) == [
        "[s3ag:pipe-mode] TrainingJobDefinition.AlgorithmSpecification.TrainingInputMode: Pipe mode cannot use "
        "S3 Access Grants; the job's input mode is now File",
        "[s3ag:tuning] (tuning job): hyperparameter tuning is not on AWS's list of TIP-compatible features: whether "
        "its training jobs read S3 with your grants is not documented, so the job is recorded s3ag:credentials=unknown",
    ]


def test_channel_level_pipe_is_fixed_inside_the_definition(flavour, session, calls, grant_warnings):
    est = flavour.estimator(session)
    tuner = tuner_for(est)
    tuner.fit({"train": TrainingInput(TRAIN, input_mode="Pipe"), "val": VAL}, wait=False)

    (request,) = tuning_requests(calls)
    definition = request["TrainingJobDefinition"]
    assert definition["AlgorithmSpecification"] == ALGORITHM_FILE
    assert definition["InputDataConfig"] == [channel("train", TRAIN, InputMode="File"), channel("val", VAL)]
    assert [(f.rule, f.where) for f in tuner.latest_decision.findings] == [
        ("pipe-mode", "TrainingJobDefinition.InputDataConfig[train].InputMode"),
        ("tuning", "(tuning job)"),
    ]
    assert request["Tags"] == expected_record("unknown", "pipe-mode")


def test_pipe_mode_replacement_fastfile_applies_to_the_definition(ga, session, calls, grant_warnings):
    est = ga.estimator(session, settings={"pipe_mode_replacement": "FastFile"}, input_mode="Pipe")
    tuner_for(est).fit({"train": TRAIN}, wait=False)
    (request,) = tuning_requests(calls)
    assert request["TrainingJobDefinition"]["AlgorithmSpecification"]["TrainingInputMode"] == "FastFile"


def test_control_stock_estimator_without_patch_is_untouched(session, calls, grant_warnings):
    est = Estimator(
        image_uri=IMAGE,
        role=ROLE,
        instance_count=1,
        instance_type="ml.m5.xlarge",
        sagemaker_session=session,
        output_path=OUT,
        input_mode="Pipe",
    )
    tuner = tuner_for(est)
    tuner.fit({"train": TrainingInput(TRAIN, input_mode="Pipe")}, wait=False)

    (request,) = tuning_requests(calls)
    definition = request["TrainingJobDefinition"]
    assert definition["AlgorithmSpecification"]["TrainingInputMode"] == "Pipe"
    assert definition["InputDataConfig"] == [channel("train", TRAIN, InputMode="Pipe")]
    assert "Tags" not in request
    assert not hasattr(tuner, "latest_decision")
    assert ours(grant_warnings) == []


def test_after_unpatch_the_tuner_is_stock_again(session, calls, grant_warnings):
    try:
        sagemaker_s3ag.patch(identity_propagation=True)
        est = Estimator(
            image_uri=IMAGE,
            role=ROLE,
            instance_count=1,
            instance_type="ml.m5.xlarge",
            sagemaker_session=session,
            output_path=OUT,
            input_mode="Pipe",
        )
        tuner_for(est).fit({"train": TRAIN}, job_name="tune-patched", wait=False)
    finally:
        sagemaker_s3ag.unpatch()
    est = Estimator(
        image_uri=IMAGE,
        role=ROLE,
        instance_count=1,
        instance_type="ml.m5.xlarge",
        sagemaker_session=session,
        output_path=OUT,
        input_mode="Pipe",
    )
    tuner_for(est).fit({"train": TRAIN}, job_name="tune-stock", wait=False)

    patched, stock = tuning_requests(calls)
    assert patched["TrainingJobDefinition"]["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    assert patched["Tags"] == expected_record("unknown", "pipe-mode")
    assert stock["TrainingJobDefinition"]["AlgorithmSpecification"]["TrainingInputMode"] == "Pipe"
    assert "Tags" not in stock


# --------------------------------------------------------------------------- refusals


def test_on_violation_error_refuses_and_creates_no_tuning_job(flavour, session, calls, grant_warnings):
    est = flavour.estimator(session, settings={"on_violation": "error"}, input_mode="Pipe")
    tuner = tuner_for(est)
    with pytest.raises(ConsiderationError) as err:
        tuner.fit({"train": TRAIN}, wait=False)
    assert err.value.rule == "pipe-mode"
    # Refused on the estimator's preview (where="AlgorithmSpecification...") or on the tuning request
    # (where="TrainingJobDefinition.AlgorithmSpecification..."): either way before CreateHyperParameterTuningJob.
    ((rule, action, where),) = [(f.rule, f.action, f.where) for f in err.value.findings]
    assert (rule, action) == ("pipe-mode", "refused")
    assert where.endswith("AlgorithmSpecification.TrainingInputMode")
    assert tuning_requests(calls) == []
    assert tuning_jobs(session) == []
    assert getattr(tuner, "latest_decision", None) is None


def test_on_violation_error_refuses_a_channel_level_pipe(ga, session, calls, grant_warnings):
    est = ga.estimator(session, settings={"on_violation": "error"})
    with pytest.raises(ConsiderationError) as err:
        tuner_for(est).fit({"train": TrainingInput(TRAIN, input_mode="Pipe")}, wait=False)
    ((rule, where),) = [(f.rule, f.where) for f in err.value.findings]
    assert rule == "pipe-mode" and where.endswith("InputDataConfig[train].InputMode")
    assert tuning_requests(calls) == []


def test_on_fallback_deny_without_any_grant_creates_no_tuning_job(flavour, session, access_grants, calls, grant_warnings):
    access_grants.grants.clear()
    est = flavour.estimator(session, settings={"on_fallback": "deny"}, input_mode="Pipe")
    with pytest.raises(GrantFallbackError) as err:
        tuner_for(est).fit({"train": TRAIN}, wait=False)
    assert err.value.rule == "fallback"
    assert (OUT, "WRITE") in err.value.locations
    assert set(err.value.locations) <= {(TRAIN, "READ"), (OUT, "WRITE")}
    assert tuning_requests(calls) == []
    assert tuning_jobs(session) == []


def test_on_fallback_deny_names_the_ungranted_location_of_the_definition(flavour, session, access_grants, calls, grant_warnings):
    """Only the output is granted: the training channel, known only in the tuning request, is refused."""
    access_grants.grants.clear()
    access_grants.grant(f"{OUT}*", "READWRITE")
    est = flavour.estimator(session, settings={"on_fallback": "deny"})
    with pytest.raises(GrantFallbackError) as err:
        tuner_for(est).fit({"train": TRAIN}, wait=False)
    assert err.value.locations == ((TRAIN, "READ"),)
    (finding,) = err.value.findings
    assert finding.where.endswith("InputDataConfig[train].DataSource.S3DataSource.S3Uri")
    assert tuning_requests(calls) == []


def test_on_fallback_warn_records_the_fallback_on_the_tuning_job(session, access_grants, calls, grant_warnings):
    access_grants.grants.clear()
    access_grants.grant(f"{OUT}*", "READWRITE")
    est = Flavour("grant-aware").estimator(session)
    tuner = tuner_for(est)
    tuner.fit({"train": TRAIN}, wait=False)
    (request,) = tuning_requests(calls)
    assert request["Tags"] == expected_record("unknown", "none", fallback="fallback 1/2: no matching grant")
    assert tuner.latest_decision.credentials == "unknown"  # mixed if TIP reaches the tuning job's training jobs
    tuning, fallback = ours(grant_warnings)
    assert tuning.startswith("[s3ag:tuning] (tuning job): ")
    assert fallback.startswith("[s3ag:fallback] tuning job ")


def test_tuning_refusal_comes_before_the_framework_code_upload(session, tmp_path, calls, grant_warnings):
    """Refused in HyperparameterTuner.fit, with the estimator's own inputs, before the SDK uploads any code."""
    entry = tmp_path / "train.py"
    entry.write_text("print('hello')\n")
    est = grant_aware(PyTorch)(
        entry_point=str(entry),
        role=ROLE,
        framework_version="2.1",
        py_version="py310",
        instance_count=1,
        instance_type="ml.m5.xlarge",
        sagemaker_session=session,
        output_path=OUT,
        input_mode="Pipe",
        identity_propagation=True,
        on_violation="error",
    )
    with pytest.raises(ConsiderationError) as err:
        tuner_for(est).fit({"train": TRAIN}, wait=False)
    assert "nothing was uploaded or created" in str(err.value)
    assert tuning_requests(calls) == []
    assert uploaded_keys(session) == []


# --------------------------------------------------------------------------- multi-algorithm tuner


def test_multi_algorithm_tuner_fixes_every_definition(flavour, session, calls, grant_warnings):
    first = flavour.estimator(session, input_mode="Pipe")
    second = flavour.estimator(session)
    tuner = multi_tuner({"first": first, "second": second})
    tuner.fit(
        {"first": {"train": TRAIN}, "second": {"train": TrainingInput(TRAIN, input_mode="Pipe"), "val": VAL}},
        include_cls_metadata={},
        wait=False,
    )

    (request,) = tuning_requests(calls)
    assert "TrainingJobDefinition" not in request
    definitions = {d["DefinitionName"]: d for d in request["TrainingJobDefinitions"]}
    assert sorted(definitions) == ["first", "second"]
    assert definitions["first"]["AlgorithmSpecification"] == ALGORITHM_FILE
    assert definitions["first"]["InputDataConfig"] == [channel("train", TRAIN)]
    assert definitions["second"]["AlgorithmSpecification"] == ALGORITHM_FILE
    assert definitions["second"]["InputDataConfig"] == [channel("train", TRAIN, InputMode="File"), channel("val", VAL)]
    assert request["Tags"] == expected_record("unknown", "pipe-mode")
    assert sorted(f.where for f in tuner.latest_decision.findings) == [
        "(tuning job)",
        "TrainingJobDefinitions[first].AlgorithmSpecification.TrainingInputMode",
        "TrainingJobDefinitions[second].InputDataConfig[train].InputMode",
    ]


def test_multi_algorithm_tuner_with_on_violation_error_refuses(ga, session, calls, grant_warnings):
    first = ga.estimator(session, settings={"on_violation": "error"})
    second = ga.estimator(session, settings={"on_violation": "error"}, input_mode="Pipe")
    tuner = multi_tuner({"first": first, "second": second})
    with pytest.raises(ConsiderationError) as err:
        tuner.fit({"first": {"train": TRAIN}, "second": {"train": TRAIN}}, include_cls_metadata={}, wait=False)
    ((rule, where),) = [(f.rule, f.where) for f in err.value.findings]
    assert rule == "pipe-mode" and where.endswith("AlgorithmSpecification.TrainingInputMode")
    assert where in (
        "AlgorithmSpecification.TrainingInputMode",
        "TrainingJobDefinitions[second].AlgorithmSpecification.TrainingInputMode",
    )
    assert tuning_requests(calls) == []
    assert tuning_jobs(session) == []


def test_multi_algorithm_tuner_applies_the_strictest_settings(session, calls, grant_warnings):
    """A multi-algorithm tuner applies the strictest settings of its estimators, not the first one's."""
    lenient = Flavour("grant-aware").estimator(session)
    strict = Flavour("grant-aware").estimator(session, settings={"on_violation": "error"}, input_mode="Pipe")
    tuner = multi_tuner({"lenient": lenient, "strict": strict})
    with pytest.raises(ConsiderationError):
        tuner.fit({"lenient": {"train": TRAIN}, "strict": {"train": TRAIN}}, include_cls_metadata={}, wait=False)
    assert tuning_requests(calls) == []


# --------------------------------------------------------------------------- tags


def test_user_tag_lists_are_not_mutated_and_a_second_fit_has_one_record(flavour, session, calls, grant_warnings):
    est_tags = [{"Key": "team", "Value": "ml"}]
    tuner_tags = [{"Key": "project", "Value": "p1"}]
    est = flavour.estimator(session, input_mode="Pipe", tags=est_tags)
    tuner = tuner_for(est, tags=tuner_tags)
    tuner.fit({"train": TRAIN}, job_name="tune-first", wait=False)
    tuner.fit({"train": TRAIN}, job_name="tune-second", wait=False)

    first, second = tuning_requests(calls)
    user = [{"Key": "project", "Value": "p1"}, {"Key": "team", "Value": "ml"}]
    expected = user + expected_record("unknown", "pipe-mode")
    assert first["Tags"] == expected
    assert second["Tags"] == expected
    assert est_tags == [{"Key": "team", "Value": "ml"}]
    # The SDK itself copies the estimator's tags into the tuner's list (_prepare_tags_for_tuning);
    # the s3ag: record must never get into either list.
    assert [t["Key"] for t in tuner_tags if t["Key"].startswith("s3ag:")] == []
    assert [f.rule for f in tuner.latest_decision.findings] == ["pipe-mode", "tuning"]  # no "tags" finding


def test_tuner_fit_gives_the_estimator_its_tag_list_back(session, grant_warnings):
    """Under a tuner, the estimator's training job is never built: its announcement is withdrawn and its tag list given back."""
    est_tags = [{"Key": "team", "Value": "ml"}]
    est = Flavour("grant-aware").estimator(session, tags=est_tags)
    tuner_for(est).fit({"train": TRAIN}, wait=False)
    assert est.tags is est_tags


# --------------------------------------------------------------------------- TuningStep


def test_tuning_step_in_a_pipeline_is_fixed_and_recorded_as_a_pipeline_job(session, calls, grant_warnings):
    ps = PipelineSession(boto_session=session.boto_session, sagemaker_client=session.sagemaker_client, default_bucket=BUCKET)
    est = Flavour("grant-aware").estimator(ps, input_mode="Pipe")
    tuner = tuner_for(est)
    step = TuningStep(name="Tune", step_args=tuner.fit({"train": TRAIN}))
    pipeline = Pipeline(name="S3agTuning", steps=[step], sagemaker_session=ps)
    args = json.loads(pipeline.definition())["Steps"][0]["Arguments"]

    assert args["TrainingJobDefinition"]["AlgorithmSpecification"] == ALGORITHM_FILE
    assert args["Tags"] == expected_record(
        "iam-role",
        "pipe-mode",
        fallback=f"fallback 2/2: {NO_IDENTITY}",
        launched_by="pipeline",
    )
    assert tuning_requests(calls) == []


def test_a_hanging_endpoint_costs_a_tuner_one_budget(ga, session, access_grants, grant_warnings):
    """The members' checks before upload and the tuning job share one preflight (one budget, answers reused)."""
    import time

    access_grants.hang("GetDataAccess")
    try:
        est = ga.estimator(session, settings={"preflight_timeout": 2.0})
        started = time.monotonic()
        tuner_for(est).fit({"train": TRAIN}, wait=False)
        elapsed = time.monotonic() - started
    finally:
        access_grants.release()
    assert 2.0 <= elapsed < 4.0
