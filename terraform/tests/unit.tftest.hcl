# Offline unit tests of the stack with a mocked AWS provider:
#   terraform test   (run from terraform/)

mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_region" {
    defaults = { name = "us-east-1" }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::123456789012:role/mock" }
  }
  mock_resource "aws_kms_key" {
    defaults = { arn = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000" }
  }
  mock_resource "aws_lambda_function" {
    defaults = { arn = "arn:aws:lambda:us-east-1:123456789012:function:hitl-dev-tasks" }
  }
  mock_resource "aws_dynamodb_table" {
    defaults = {
      arn        = "arn:aws:dynamodb:us-east-1:123456789012:table/hitl-dev-approvals"
      stream_arn = "arn:aws:dynamodb:us-east-1:123456789012:table/hitl-dev-approvals/stream/2026-01-01T00:00:00.000"
    }
  }
  mock_resource "aws_sqs_queue" {
    defaults = { arn = "arn:aws:sqs:us-east-1:123456789012:mock.fifo" }
  }
  mock_resource "aws_sns_topic" {
    defaults = { arn = "arn:aws:sns:us-east-1:123456789012:mock" }
  }
  mock_resource "aws_cloudwatch_log_group" {
    defaults = { arn = "arn:aws:logs:us-east-1:123456789012:log-group:mock" }
  }
  mock_resource "aws_secretsmanager_secret" {
    defaults = { arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:hitl-dev/bot-AbCdEf" }
  }
  mock_resource "aws_sfn_state_machine" {
    defaults = { arn = "arn:aws:states:us-east-1:123456789012:stateMachine:hitl-dev-approval" }
  }
  mock_resource "aws_ecr_repository" {
    defaults = { repository_url = "123456789012.dkr.ecr.us-east-1.amazonaws.com/hitl-dev-bot" }
  }
}

run "data_is_durable_and_encrypted" {
  command = plan

  assert {
    condition     = aws_dynamodb_table.approvals.billing_mode == "PAY_PER_REQUEST"
    error_message = "the table must be on-demand"
  }
  assert {
    condition     = one(aws_dynamodb_table.approvals.ttl).attribute_name == "expires_at" && one(aws_dynamodb_table.approvals.ttl).enabled
    error_message = "TTL must be on expires_at"
  }
  assert {
    condition     = one(aws_dynamodb_table.approvals.point_in_time_recovery).enabled
    error_message = "point-in-time recovery must be on"
  }
  assert {
    condition     = one(aws_dynamodb_table.approvals.server_side_encryption).enabled
    error_message = "the table must be encrypted with the stack's key"
  }
  assert {
    condition     = aws_dynamodb_table.approvals.stream_enabled && aws_dynamodb_table.approvals.stream_view_type == "NEW_IMAGE"
    error_message = "the outbox router needs the table's stream with new images"
  }
  assert {
    condition     = one([for g in aws_dynamodb_table.approvals.global_secondary_index : g.name if g.hash_key == "gsi1pk"]) == "pending"
    error_message = "the sparse pending index must be keyed on gsi1pk"
  }
  assert {
    condition     = one(aws_ecr_repository.bot.image_scanning_configuration).scan_on_push
    error_message = "ECR must scan on push"
  }
  assert {
    condition     = alltrue([for c in ["slack", "teams", "sns"] : aws_sqs_queue.outbox[c].fifo_queue && aws_sqs_queue.outbox_dlq[c].fifo_queue])
    error_message = "each channel needs a FIFO outbox queue and a FIFO dead-letter queue"
  }
  assert {
    condition     = length(aws_cloudwatch_metric_alarm.dead_letters) == 4
    error_message = "every dead-letter queue needs an alarm"
  }
}

run "functions_follow_the_variables" {
  command = plan

  variables {
    lambda_timeout     = 60
    lambda_memory_size = 512
    slack_bot_token    = "xoxb-not-in-the-environment"
  }

  assert {
    condition     = aws_lambda_function.fn["api"].timeout == 60 && alltrue([for f in aws_lambda_function.fn : f.memory_size == 512])
    error_message = "lambda_timeout and lambda_memory_size must reach the functions"
  }
  assert {
    condition     = alltrue([for k, f in aws_lambda_function.fn : f.package_type == "Image" && one(f.image_config).command[0] == k])
    error_message = "every function runs the one image, its entry point named by the image command"
  }
  assert {
    condition     = aws_lambda_function_url.api.authorization_type == "NONE"
    error_message = "Slack and Teams must reach the function URL"
  }
  assert {
    condition     = length(aws_iam_role.fn) == 4 && length(distinct([for r in aws_iam_role.fn : r.name])) == 4
    error_message = "each function needs its own role"
  }
  assert {
    condition     = alltrue([for f in aws_lambda_function.fn : length(f.vpc_config) == 0])
    error_message = "no VPC unless asked"
  }
  assert {
    condition     = length(setintersection(keys(one(aws_lambda_function.fn["api"].environment).variables), ["SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "TEAMS_APP_PASSWORD", "HITL_TOKEN"])) == 0
    error_message = "secrets must not be in the environment"
  }
}

run "existing_vpc" {
  command = plan

  variables {
    use_existing_vpc   = true
    vpc_id             = "vpc-0123456789abcdef0"
    private_subnet_ids = ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]
  }

  assert {
    condition     = alltrue([for f in aws_lambda_function.fn : one(f.vpc_config).subnet_ids == toset(["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"])])
    error_message = "every function must join the given subnets"
  }
  assert {
    condition     = length(aws_security_group.lambda) == 1
    error_message = "a security group is created when none is given"
  }
}

run "existing_vpc_needs_subnets" {
  command = plan

  variables {
    use_existing_vpc = true
    vpc_id           = "vpc-0123456789abcdef0"
  }

  expect_failures = [aws_lambda_function.fn]
}

run "long_poll_below_timeout" {
  command = plan

  variables {
    lambda_timeout        = 20
    long_poll_max_seconds = 20
  }

  expect_failures = [aws_lambda_function.fn]
}

run "state_machine_from_the_one_asl_file" {
  command = apply

  assert {
    condition     = jsondecode(aws_sfn_state_machine.approval.definition).States.AwaitDecision.Resource == "arn:aws:states:::lambda:invoke.waitForTaskToken"
    error_message = "the decision wait must use the callback pattern"
  }
  assert {
    condition     = jsondecode(aws_sfn_state_machine.approval.definition).States.AwaitDecision.Parameters.Payload["task_token.$"] == "$$.Task.Token"
    error_message = "the task token reference must survive templating"
  }
  assert {
    condition     = jsondecode(aws_sfn_state_machine.approval.definition).States.Wake.Parameters.FunctionName == aws_lambda_function.fn["tasks"].arn
    error_message = "the tasks function must be filled in"
  }
  assert {
    condition     = aws_sfn_state_machine.approval.type == "STANDARD" && one(aws_sfn_state_machine.approval.logging_configuration).level == "ALL"
    error_message = "a Standard state machine with full logging"
  }
}

# The binary reads its Lambda long-poll cap from HITL_LAMBDA_MAX_WAIT_SECS;
# a cap under any other name is ignored and long-polls run into the
# function's timeout.
run "long_poll_cap_reaches_the_binary" {
  command = apply

  variables {
    lambda_timeout        = 30
    long_poll_max_seconds = 12
  }

  assert {
    condition     = alltrue([for f in aws_lambda_function.fn : lookup(one(f.environment).variables, "HITL_LAMBDA_MAX_WAIT_SECS", "") == "12"])
    error_message = "every function must get long_poll_max_seconds as HITL_LAMBDA_MAX_WAIT_SECS"
  }
}
