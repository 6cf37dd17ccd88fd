"""Benchmark: what the choke point costs a botocore call that is not a job request, side by side, in one run.

    python benchmarks/choke.py [--calls 20000]

Every variant makes the same ``ListTrainingJobs`` call on one SageMaker client whose HTTP is
answered in-process by a ``before-call`` handler, so only botocore's own work and ours is timed; the
variants take turns, round after round, and each keeps its best round (botocore's own time drifts by
more than the wrapper costs):

* stock: ``BaseClient._make_api_call`` as botocore ships it (the function the wrapper holds);
* wrapped, inert: after the choke point is installed (a grant-aware object was made), nothing patched;
* wrapped, patched: under ``patch()``, the call still not a job request;

plus the wrapper alone (the wrapped function does nothing), with and without the wrap, which is the
overhead itself without botocore's noise. Also: ``import sagemaker_s3ag`` in fresh interpreters, and
``--against DIR`` times the import of another checkout's package too (e.g. an older release). Prints
a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from typing import Any, Callable, Optional

import boto3
import botocore.client
import wrapt
from botocore.awsrequest import AWSResponse

from sagemaker_s3ag.core.settings import Settings
from sagemaker_s3ag.sdk import choke
from sagemaker_s3ag.sdk.context import set_patch_settings


def client() -> Any:
    session = boto3.Session(region_name="us-east-1", aws_access_key_id="AKIDBENCH", aws_secret_access_key="x")

    def answer(**_: Any) -> Any:
        return AWSResponse("https://sagemaker.invalid/", 200, {}, None), {
            "TrainingJobSummaries": [],
            "ResponseMetadata": {"HTTPStatusCode": 200},
        }

    session.events.register("before-call.sagemaker.ListTrainingJobs", answer)
    return session.client("sagemaker")


def per_call(call: Callable[[], Any], calls: int) -> float:
    """Microseconds per call over ``calls`` calls."""
    started = time.perf_counter()
    for _ in range(calls):
        call()
    return (time.perf_counter() - started) / calls * 1e6


def best_in_turns(
    variants: dict[str, Callable[[], Any]], calls: int, rounds: int = 7, settings: Optional[dict[str, Settings]] = None
) -> dict[str, float]:
    """Each variant's best round, the variants taking turns (``calls`` calls a round, under ``settings[name]`` if given)."""
    best = {name: float("inf") for name in variants}
    for _ in range(rounds):
        for name, call in variants.items():
            set_patch_settings((settings or {}).get(name))
            try:
                best[name] = min(best[name], per_call(call, calls))
            finally:
                set_patch_settings(None)
    return best


def wrapper_alone(calls: int) -> tuple[float, float]:
    """The wrapper's own cost: a do-nothing method, bare and wrapped exactly as the choke point wraps."""

    class Fake:
        meta = None

        def _make_api_call(self, operation_name: str, api_params: dict[str, Any]) -> None:
            return None

    bare_method = vars(Fake)["_make_api_call"]
    wrapt.wrap_function_wrapper(Fake, "_make_api_call", choke._api_call)
    fake = Fake()
    times = best_in_turns(
        {
            "bare": lambda: bare_method(fake, "ListTrainingJobs", {}),
            "wrapped": lambda: fake._make_api_call("ListTrainingJobs", {}),
        },
        calls,
    )
    return times["bare"], times["wrapped"]


def import_time(path: str, repeats: int = 7) -> float:
    """Median milliseconds of ``import sagemaker_s3ag`` in a fresh interpreter, from ``path``."""
    code = "import time; t = time.perf_counter(); import sagemaker_s3ag; print(time.perf_counter() - t)"
    env = {**os.environ, "PYTHONPATH": path}
    samples = [
        float(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd="/", check=True).stdout)
        for _ in range(repeats)
    ]
    return statistics.median(samples) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--against", help="another checkout whose sagemaker_s3ag import is timed too")
    args = parser.parse_args()

    sagemaker = client()
    if isinstance(vars(botocore.client.BaseClient)["_make_api_call"], wrapt.FunctionWrapper):
        sys.exit("the choke point is installed already: run this in a fresh interpreter")
    choke.install()
    unwrapped = vars(botocore.client.BaseClient)["_make_api_call"].__wrapped__

    times = best_in_turns(
        {
            "stock": lambda: unwrapped(sagemaker, "ListTrainingJobs", {}),
            "inert": lambda: sagemaker._make_api_call("ListTrainingJobs", {}),
            "patched": lambda: sagemaker._make_api_call("ListTrainingJobs", {}),
        },
        args.calls,
        settings={"patched": Settings(identity_propagation=True)},
    )
    stock, inert, patched = times["stock"], times["inert"], times["patched"]
    bare, wrapped = wrapper_alone(args.calls * 10)

    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    imports = [("this checkout", import_time(here))]
    if args.against:
        imports.append((args.against, import_time(args.against)))

    print(
        f"Choke point on a non-job botocore call: Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
        f"best of 7 turns of {args.calls} calls\n"
    )
    print("| call | µs per call | over stock |")
    print("|---|---:|---:|")
    print(f"| ListTrainingJobs, stock botocore | {stock:.1f} | |")
    print(f"| ListTrainingJobs, choke point installed, inert | {inert:.1f} | {inert - stock:+.2f} µs |")
    print(f"| ListTrainingJobs, under patch() | {patched:.1f} | {patched - stock:+.2f} µs |")
    print(f"| the wrapper alone (a do-nothing method), bare → wrapped | {bare:.2f} → {wrapped:.2f} | {wrapped - bare:+.2f} µs |")
    print("\n| `import sagemaker_s3ag` (fresh interpreter, median of 7) | ms |")
    print("|---|---:|")
    for name, ms in imports:
        print(f"| {name} | {ms:.1f} |")


if __name__ == "__main__":
    main()
