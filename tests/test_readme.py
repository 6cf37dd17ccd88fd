"""The README opens with the two commands, CI runs its test command verbatim, and its rules table is current."""

from __future__ import annotations

import re
from pathlib import Path

from sagemaker_s3ag.cli.main import rules_markdown

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _opening_commands() -> list[str]:
    block = re.search(r"```bash\n(.*?)```", README, re.S)
    assert block and README.index(block.group(0)) < 100, "the README must open with its commands"
    return block.group(1).strip().splitlines()


def test_readme_opens_with_demo_and_test_commands():
    demo, tests = _opening_commands()
    assert demo.endswith("nox -s demo")
    assert tests.endswith("&& nox")  # noxfile.py: pytest on each SDK major


def test_nox_runs_pytest_on_both_sdk_majors():
    noxfile = (ROOT / "noxfile.py").read_text(encoding="utf-8")
    assert '"2": "sagemaker>=2.200,<3"' in noxfile and '"3": "sagemaker>=3.3,<4"' in noxfile
    assert '"python", "-m", "pytest", "-q"' in noxfile


def test_ci_runs_the_readme_test_command_verbatim():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert _opening_commands()[1] in ci


def test_rules_table_is_generated_from_the_registry():
    start = README.index("<!-- rules:begin")
    body = README[README.index("-->", start) + 4 : README.index("<!-- rules:end -->")]
    assert body == rules_markdown(), "README rules table is stale: regenerate with `s3ag rules --markdown`"
