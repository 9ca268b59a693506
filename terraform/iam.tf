# One role per function, each allowed only what its entry point does.

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "fn" {
  for_each           = local.functions
  name               = "${local.name}-${each.key}"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
}

locals {
  table_arns = [aws_dynamodb_table.approvals.arn, "${aws_dynamodb_table.approvals.arn}/index/*"]
  table_rw = [
    "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
    "dynamodb:Query", "dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "dynamodb:TransactWriteItems",
    "dynamodb:ConditionCheckItem",
  ]
  vpc_statement = var.use_existing_vpc ? [{
    actions   = ["ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"]
    resources = ["*"]
  }] : []
  xray_statement = var.enable_xray ? [{
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }] : []

  # What each function may do besides writing its own logs.
  function_statements = {
    api = [
      { actions = local.table_rw, resources = local.table_arns },
      { actions = ["states:StartExecution"], resources = [local.state_machine_arn] },
      { actions = ["states:StopExecution", "states:DescribeExecution"], resources = [local.execution_arn_glob] },
      # Task tokens are not resources: SendTask* cannot be scoped by ARN.
      { actions = ["states:SendTaskSuccess", "states:SendTaskFailure"], resources = ["*"] },
      { actions = ["secretsmanager:GetSecretValue"], resources = [aws_secretsmanager_secret.bot.arn] },
      { actions = ["kms:Decrypt", "kms:GenerateDataKey"], resources = [aws_kms_key.main.arn] },
    ]
    tasks = [
      { actions = local.table_rw, resources = local.table_arns },
      { actions = ["states:SendTaskSuccess", "states:SendTaskFailure"], resources = ["*"] },
      # It runs the same service, which reads its credentials at start.
      { actions = ["secretsmanager:GetSecretValue"], resources = [aws_secretsmanager_secret.bot.arn] },
      { actions = ["kms:Decrypt", "kms:GenerateDataKey"], resources = [aws_kms_key.main.arn] },
    ]
    router = [
      { actions = ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"], resources = [aws_dynamodb_table.approvals.stream_arn] },
      { actions = ["sqs:SendMessage"], resources = concat([for q in aws_sqs_queue.outbox : q.arn], [aws_sqs_queue.router_dlq.arn]) },
      { actions = ["kms:Decrypt", "kms:GenerateDataKey"], resources = [aws_kms_key.main.arn] },
    ]
    drain = [
      { actions = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"], resources = [for q in aws_sqs_queue.outbox : q.arn] },
      # It runs the service: settling a row, marking the card delivered
      # (a conditional transaction) and keeping Slack's message references.
      { actions = local.table_rw, resources = local.table_arns },
      { actions = ["sns:Publish"], resources = [aws_sns_topic.events.arn] },
      { actions = ["secretsmanager:GetSecretValue"], resources = [aws_secretsmanager_secret.bot.arn] },
      { actions = ["kms:Decrypt", "kms:GenerateDataKey"], resources = [aws_kms_key.main.arn] },
    ]
  }
}

data "aws_iam_policy_document" "fn" {
  for_each = local.functions
  statement {
    sid       = "OwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.fn[each.key].arn}:*"]
  }
  dynamic "statement" {
    for_each = concat(local.function_statements[each.key], local.vpc_statement, local.xray_statement)
    content {
      actions   = statement.value.actions
      resources = statement.value.resources
    }
  }
}

resource "aws_iam_role_policy" "fn" {
  for_each = local.functions
  name     = "${local.name}-${each.key}"
  role     = aws_iam_role.fn[each.key].id
  policy   = data.aws_iam_policy_document.fn[each.key].json
}

# The state machine: invoke the tasks function, deliver its logs, trace.
data "aws_iam_policy_document" "sfn_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["states.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "sfn" {
  name               = "${local.name}-state-machine"
  assume_role_policy = data.aws_iam_policy_document.sfn_assume.json
}

data "aws_iam_policy_document" "sfn" {
  statement {
    sid       = "InvokeTasks"
    actions   = ["lambda:InvokeFunction"]
    resources = [aws_lambda_function.fn["tasks"].arn, "${aws_lambda_function.fn["tasks"].arn}:*"]
  }
  # CloudWatch Logs delivery for Step Functions cannot be scoped to a log
  # group (AWS documents Resource "*" for these actions).
  statement {
    sid = "LogDelivery"
    actions = [
      "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
      "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies", "logs:DescribeLogGroups",
    ]
    resources = ["*"]
  }
  dynamic "statement" {
    for_each = local.xray_statement
    content {
      actions   = statement.value.actions
      resources = statement.value.resources
    }
  }
}

resource "aws_iam_role_policy" "sfn" {
  name   = "${local.name}-state-machine"
  role   = aws_iam_role.sfn.id
  policy = data.aws_iam_policy_document.sfn.json
}
