"""moto's server on 127.0.0.1 with Step Functions executions switched on,
plus the few fixes that let Terraform and the AWS SDK talk to it as to AWS.

usage: python moto_server.py PORT

Pinned to moto 5.2.5 (scripts/aws/requirements.txt): the fixes replace
handlers inside moto.
"""

import os
import sys
import uuid

port = sys.argv[1] if len(sys.argv) > 1 else "5000"
# The state machine interpreter calls its integrations (Lambda, SQS, ...)
# at localhost:$MOTO_PORT; without it executions silently stay RUNNING.
os.environ["MOTO_PORT"] = port

from moto.core.config import default_user_config  # noqa: E402

default_user_config["stepfunctions"] = {"execute_state_machine": True}
default_user_config["lambda"] = {"use_docker": False}

from moto.core.responses import ActionResult, EmptyResult  # noqa: E402
from moto.stepfunctions.responses import StepFunctionResponse  # noqa: E402

if not hasattr(StepFunctionResponse, "validate_state_machine_definition"):
    # terraform-provider-aws calls this before CreateStateMachine; moto lacks
    # it and the provider retries its 500 until it times out.
    StepFunctionResponse.validate_state_machine_definition = lambda self: ActionResult(
        {"result": "OK", "diagnostics": []}
    )

if not hasattr(StepFunctionResponse, "list_state_machine_versions"):
    # Read by the provider after create.
    StepFunctionResponse.list_state_machine_versions = lambda self: ActionResult(
        {"stateMachineVersions": []}
    )


def send_task_failure(self):
    # moto passes only `error`; AWS keeps `cause` too.
    self.stepfunction_backend.send_task_failure(
        self._get_param("taskToken"),
        error=self._get_param("error"),
        cause=self._get_param("cause"),
    )
    return EmptyResult()


StepFunctionResponse.send_task_failure = send_task_failure


def start_execution(self):
    # moto names an unnamed execution literally "None", so a second unnamed
    # start collides; AWS generates a UUID.
    ex = self.stepfunction_backend.start_execution(
        self._get_param("stateMachineArn"),
        self._get_param("name") or str(uuid.uuid4()),
        self._get_param("input", if_none="{}"),
    )
    return ActionResult({"executionArn": ex.execution_arn, "startDate": ex.start_date})


StepFunctionResponse.start_execution = start_execution

from moto.stepfunctions.parser.asl.eval.callback.callback import CallbackEndpoint  # noqa: E402

_heartbeat = CallbackEndpoint.notify_heartbeat


def notify_heartbeat(self):
    # AWS accepts a heartbeat for any open token, not only with HeartbeatSeconds.
    _heartbeat(self)
    return True


CallbackEndpoint.notify_heartbeat = notify_heartbeat

# moto's TransactWriteItems snapshots the tables and restores the snapshot
# when a condition fails, so a concurrent write in between is undone (and a
# losing transaction can bring back an item it never wrote). DynamoDB
# serializes them; so do we: every DynamoDB write takes one lock.
import functools  # noqa: E402
import threading  # noqa: E402

from moto.dynamodb.models import DynamoDBBackend  # noqa: E402

_ddb_writes = threading.RLock()


def _serialized(fn):
    @functools.wraps(fn)
    def locked(*args, **kwargs):
        with _ddb_writes:
            return fn(*args, **kwargs)

    return locked


for _name in ("transact_write_items", "put_item", "update_item", "delete_item",
              "batch_write_item"):
    if hasattr(DynamoDBBackend, _name):
        setattr(DynamoDBBackend, _name, _serialized(getattr(DynamoDBBackend, _name)))

from moto.server import main  # noqa: E402

main(["-H", "127.0.0.1", "-p", port])
