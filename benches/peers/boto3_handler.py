"""The Lambda handler users write today, the one sfn-batch grew out of: for each new
object in an S3 notification delivered through SQS, the input and output S3 URLs,
a job name and the state machine's ARN, then one StartExecution. The live path's
benchmark (benches/live.rs) runs it beside sfn-batch-lambda under the same Runtime
API, through awslambdaric (the runtime client of AWS's Python images), against the
same stub, on the same events.

    AWS_REGION=us-east-1 AWS_ACCOUNT_ID=123456789012 STATE_MACHINE_NAME=stub \\
        python -m awslambdaric boto3_handler.handler
"""

import json
import os
import urllib.parse

import boto3

REGION = os.environ["AWS_REGION"]
STATE_MACHINE_ARN = "arn:aws:states:{}:{}:stateMachine:{}".format(
    REGION, os.environ["AWS_ACCOUNT_ID"], os.environ["STATE_MACHINE_NAME"]
)
OUTPUT_BUCKET = os.environ.get("OUTPUT_BUCKET", "processed-data")

# Made once per process, at init, as the Lambda guides advise.
sfn = boto3.client("stepfunctions")


def handler(event, context):
    failures = []
    for message in event["Records"]:
        try:
            for record in json.loads(message["body"]).get("Records", []):
                start(record["s3"])
        except Exception as error:  # the message is delivered again
            print(f"failed: {message['messageId']}: {error}")
            failures.append({"itemIdentifier": message["messageId"]})
    return {"batchItemFailures": failures}


def start(s3):
    bucket = s3["bucket"]["name"]
    key = urllib.parse.unquote_plus(s3["object"]["key"])
    relative = key.split("/", 1)[-1]
    job_name = relative.rsplit(".", 1)[0].replace("/", "-")
    doc = {
        "PreprocessingJobName": job_name,
        "Input": f"s3://{bucket}/{key}",
        "Output": f"s3://{OUTPUT_BUCKET}/{relative}",
    }
    sfn.start_execution(
        stateMachineArn=STATE_MACHINE_ARN, name=job_name, input=json.dumps(doc)
    )
