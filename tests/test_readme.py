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


def reliability_figures() -> str:
    """The README's reliability figures, worked out from the tests that produce them."""
    import test_fault_matrix as matrix
    import test_hostile_input as hostile
    import test_rules_properties as properties

    cells = len(matrix.KINDS) * len(matrix.FAULTS) * len(matrix.POLICIES)
    examples = sum(
        test._hypothesis_internal_use_settings.max_examples
        for test in vars(properties).values()
        if callable(test) and hasattr(test, "_hypothesis_internal_use_settings")
    )
    hostile_tests = sum(1 for name in vars(hostile) if name.startswith("test_"))
    return "\n".join(
        [
            f"* The fault-and-input matrix (`tests/test_fault_matrix.py`): {len(matrix.KINDS)} location kinds "
            f"({', '.join(k.name for k in matrix.KINDS)}) × {len(matrix.FAULTS)} answers ({', '.join(matrix.FAULTS)}) "
            f"× {len(matrix.POLICIES)} `on_fallback` settings = {cells} cells on each SDK major, each checking the "
            f"recorded verdict, the warning or refusal, that nothing was created on a refusal, and one budget of wall time.",
            f"* Property tests (`tests/test_rules_properties.py`, hypothesis): {examples} generated requests and tag lists "
            "a run, random request shapes included: only the documented errors escape, no rule crashes, no input is mutated.",
            f"* Hostile input and faults (`tests/test_hostile_input.py`): {hostile_tests} regression tests, one or more per "
            "finding of a hostile review (https URLs, failed domain look-ups, misspelt settings, stale "
            "`patched()` blocks, botocore's history recorder, malformed tags, names, nonsense arguments, hung calls at "
            "exit, unbounded caches, grants listed over many buckets, vended credentials spelt any way, requests "
            "that hold themselves, answers with fields of the wrong type); manifest channels in `tests/test_preflight.py`.",
            "* Canary credentials (`tests/v2/test_secrets.py`, `tests/v3/test_secrets.py`, the history tests): leaks found: 0.",
        ]
    )


def test_reliability_figures_are_the_suites():
    start = README.index("<!-- reliability:begin -->")
    body = README[start + len("<!-- reliability:begin -->\n") : README.index("<!-- reliability:end -->")]
    assert body.strip() == reliability_figures(), "README reliability figures are stale: regenerate from tests/test_readme.py"
