#!/usr/bin/env python3
"""The script users write today, written well: read a CSV manifest, render each
row's input, and start one Step Functions execution per row from a thread pool
sharing one boto3 client. The benchmark runs it against the same local stub as
sfn-batch, on the same manifest, with the same names and inputs.

    boto3_launch.py --state-machine ARN --manifest rows.csv --batch-id ID --threads 32

Names are sfn-batch's default names (`<batch id>-<16 hex of SHA-256 of the state
machine ARN, a newline and the input rendered with an empty name>`), so that both
launch exactly the same executions. Prints one JSON line: rows, errors, seconds.
"""

import argparse
import csv
import hashlib
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.config import Config


def render(row, name):
    """The preprocessing template: {"PreprocessingJobName": "{name}", ...}."""
    doc = {"PreprocessingJobName": name, "Input": row["input"], "Output": row["output"]}
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--state-machine", required=True)
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--batch-id", required=True)
    parser.add_argument("--threads", type=int, default=16)
    args = parser.parse_args()

    # One client for all threads (boto3 clients are thread-safe), with a
    # connection per thread and the SDK's standard retries for throttles.
    client = boto3.client(
        "stepfunctions",
        config=Config(
            max_pool_connections=args.threads,
            retries={"mode": "standard", "max_attempts": 5},
        ),
    )
    prefix = (args.state_machine + "\n").encode()

    def start(row):
        identity = render(row, "")
        digest = hashlib.sha256(prefix + identity.encode()).hexdigest()[:16]
        name = f"{args.batch_id}-{digest}"
        try:
            client.start_execution(
                stateMachineArn=args.state_machine, name=name, input=render(row, name)
            )
            return True
        except client.exceptions.ExecutionAlreadyExists:
            return True
        except Exception as error:  # noqa: BLE001 - a batch script logs and goes on
            print(f"{name}: {error}", file=sys.stderr)
            return False

    started = time.monotonic()
    rows = errors = 0
    with open(args.manifest, newline="") as manifest:
        with ThreadPoolExecutor(max_workers=args.threads) as pool:
            for ok in pool.map(start, csv.DictReader(manifest)):
                rows += 1
                errors += not ok
    seconds = time.monotonic() - started
    print(json.dumps({"rows": rows, "errors": errors, "seconds": seconds}))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
