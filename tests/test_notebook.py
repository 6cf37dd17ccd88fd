"""The quickstart notebook of the installed SDK major: stored clean, and it runs offline against the emulator (nbclient).

``notebooks/quickstart.ipynb`` (SDK v2, ``GrantAwareEstimator``) and ``notebooks/quickstart_v3.ipynb``
(SDK v3, ``GrantAwareModelTrainer``) tell the same story; each major's environment runs its own.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbclient  # test dependencies, with nbformat and ipykernel (the python3 kernel)
import nbformat
import pytest
from conftest import SDK_MAJOR

from sagemaker_s3ag import RULES
from sagemaker_s3ag.core.identity import ENV_VARS, METADATA_FILE_ENV

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
if SDK_MAJOR == 2:
    NOTEBOOK = NOTEBOOKS / "quickstart.ipynb"
    PLAN, LAUNCH, DECISION, DESCRIBE = "est.plan(", "est.fit(", "est.latest_decision", "describe_job("
    ADJUSTED, PATCH_ADJUSTED = "pipe-mode debugger profiler", "debugger profiler"  # v2's defaults go too
    STUDIO_SESSION = "sagemaker.Session()"
else:
    NOTEBOOK = NOTEBOOKS / "quickstart_v3.ipynb"
    PLAN, LAUNCH, DECISION, DESCRIBE = "trainer.plan(", "trainer.train(", "trainer.latest_decision", "describe_job("
    ADJUSTED, PATCH_ADJUSTED = "pipe-mode remote-debug", "pipe-mode"
    STUDIO_SESSION = "session = Session()"


def test_stored_without_outputs_or_execution_counts():
    raw = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    assert raw["nbformat"] == 4
    nbformat.validate(nbformat.reads(NOTEBOOK.read_text(encoding="utf-8"), as_version=4))
    code = [cell for cell in raw["cells"] if cell["cell_type"] == "code"]
    assert len(code) >= 6
    for cell in code:
        assert cell["outputs"] == [], cell["source"]
        assert cell["execution_count"] is None, cell["source"]
    assert raw["metadata"]["kernelspec"]["name"] == "python3"
    assert raw["cells"][0]["cell_type"] == "markdown"
    intro = "".join(raw["cells"][0]["source"])
    assert STUDIO_SESSION in intro and "emulator" in intro  # what Studio would use, and what stands in here


def _cell(nb, source_fragment: str):
    found = [cell for cell in nb.cells if cell.cell_type == "code" and source_fragment in cell.source]
    (cell,) = [cell for cell in found if cell.source.strip() == source_fragment] or found  # a cell of just that wins
    return cell


def _stream(cell, name: str) -> str:
    return "".join(o["text"] for o in cell.outputs if o["output_type"] == "stream" and o["name"] == name)


def _result(cell) -> dict:
    (result,) = [o for o in cell.outputs if o["output_type"] == "execute_result"]
    return result["data"]


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """The notebook, executed in a fresh python3 kernel of this interpreter, in an empty directory."""
    from jupyter_client.kernelspec import KernelSpecManager

    # ipykernel provides the native "python3" kernel (this interpreter) whether or not a spec is installed
    assert "python3" in KernelSpecManager().find_kernel_specs()
    workdir = tmp_path_factory.mktemp("quickstart")
    env = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
    env[METADATA_FILE_ENV] = str(workdir / "no-studio-metadata.json")  # not in a Studio space
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=120, resources={"metadata": {"path": str(workdir)}})
    client.execute(env=env)
    return nb, workdir


def test_runs_without_error(executed):
    nb, _ = executed
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert [cell.execution_count for cell in code] == list(range(1, len(code) + 1))
    assert not [o for cell in code for o in cell.outputs if o["output_type"] == "error"]


def test_the_emulator_stands_in_for_studio(executed):
    nb, _ = executed
    assert "emulated session in us-east-1, default bucket s3ag-demo\n" in _stream(_cell(nb, "Emulator()"), "stdout")


def test_rules_are_listed_before_launching(executed):
    nb, _ = executed
    rules = _cell(nb, "from sagemaker_s3ag import RULES")
    launch = _cell(nb, LAUNCH)
    assert nb.cells.index(rules) < nb.cells.index(launch)
    ids = [line.split()[0] for line in _stream(rules, "stdout").splitlines() if line[:1] not in (" ", "")]
    assert ids == [rule.id for rule in RULES]


def test_the_plan_is_rendered_before_launching(executed):
    nb, _ = executed
    plan = _cell(nb, PLAN)
    assert nb.cells.index(plan) < nb.cells.index(_cell(nb, LAUNCH))
    html = _result(plan)["text/html"]
    assert "sagemaker-s3ag plan" in html and "<code>pipe-mode</code>" in html
    assert "credentials: <b>access-grants</b>" in html
    assert not _stream(plan, "stderr")  # a plan warns about nothing


def test_launch_warns_about_pipe_mode(executed):
    nb, _ = executed
    stderr = _stream(_cell(nb, LAUNCH), "stderr")
    assert "GrantAwareWarning: [s3ag:pipe-mode]" in stderr


def test_decision_renders_as_html(executed):
    nb, _ = executed
    data = _result(_cell(nb, DECISION))
    page = data["text/html"]
    assert "<code>pipe-mode</code>" in page
    assert "credentials: <b>access-grants</b>" in page
    assert f"adjustments: <b>{ADJUSTED}</b>" in page
    assert "<code>s3://s3ag-demo/train/</code>" in page and "<code>s3://s3ag-demo/models/</code>" in page
    assert "credentials:          access-grants" in data["text/plain"]


def test_record_read_back_from_the_job(executed):
    nb, _ = executed
    data = _result(_cell(nb, DESCRIBE))
    page = data["text/html"]
    assert "<th style='text-align:left'>credentials</th><td>access-grants</td>" in page
    assert f"<th style='text-align:left'>adjustments</th><td>{ADJUSTED}</td>" in page
    assert "granted  READ      s3://s3ag-demo/train/" in data["text/plain"]
    assert "granted  WRITE     s3://s3ag-demo/models/" in data["text/plain"]


def test_patch_then_unpatch(executed):
    nb, _ = executed
    stdout = _stream(_cell(nb, "sagemaker_s3ag.patch("), "stdout")
    assert "  credentials:          access-grants\n" in stdout
    assert f"  adjustments:          {PATCH_ADJUSTED}\n" in stdout
    assert stdout.endswith("patched now: False\n")


def test_runs_in_its_own_directory_and_leaves_the_stored_file_alone(executed):
    _, workdir = executed
    assert sorted(p.name for p in workdir.iterdir()) == []
    raw = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    assert all(cell.get("outputs", []) == [] for cell in raw["cells"])
