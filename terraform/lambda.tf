resource "aws_security_group" "lambda" {
  #checkov:skip=CKV2_AWS_5:Attached to every function's vpc_config through local.vpc_security_group_ids.
  count       = var.use_existing_vpc && var.lambda_security_group_id == "" ? 1 : 0
  name        = "${local.name}-lambda"
  description = "hitl functions: HTTPS out only (AWS APIs, Slack, Teams)"
  vpc_id      = var.vpc_id
  egress {
    description = "HTTPS to AWS APIs and the chat platforms"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }
}

resource "aws_lambda_function" "fn" {
  #checkov:skip=CKV_AWS_116:Asynchronous invocations are not used: the API is synchronous (function URL), tasks are invoked synchronously by Step Functions (which retries), and stream and queue failures go to the router and outbox dead-letter queues.
  #checkov:skip=CKV_AWS_117:Running in a VPC is optional (use_existing_vpc); the functions keep no network listener and reach only AWS APIs and the chat platforms.
  #checkov:skip=CKV_AWS_272:Code signing applies to zip packages; this is a container image, pinned by its immutable ECR tag and scanned on push.
  #checkov:skip=CKV_AWS_50:X-Ray is optional (enable_xray) to keep the default cost at zero.
  for_each      = local.functions
  function_name = "${local.name}-${each.key}"
  description   = each.value.description
  role          = aws_iam_role.fn[each.key].arn
  package_type  = "Image"
  image_uri     = local.image_uri
  architectures = ["x86_64"]
  memory_size   = var.lambda_memory_size
  timeout       = each.value.timeout
  kms_key_arn   = aws_kms_key.main.arn

  reserved_concurrent_executions = each.key == "api" ? var.api_reserved_concurrency : 10

  image_config {
    command = [each.key]
  }

  environment {
    variables = local.common_env
  }

  tracing_config {
    mode = var.enable_xray ? "Active" : "PassThrough"
  }

  dynamic "vpc_config" {
    for_each = var.use_existing_vpc ? [1] : []
    content {
      subnet_ids         = var.private_subnet_ids
      security_group_ids = local.vpc_security_group_ids
    }
  }

  # Logs go to the default group /aws/lambda/<name>, created first (with
  # retention and encryption); the binary writes JSON lines itself.
  depends_on = [aws_iam_role_policy.fn, aws_cloudwatch_log_group.fn]

  lifecycle {
    precondition {
      condition     = !var.use_existing_vpc || (var.vpc_id != "" && length(var.private_subnet_ids) > 0)
      error_message = "use_existing_vpc needs vpc_id and at least one of private_subnet_ids."
    }
    precondition {
      condition     = var.long_poll_max_seconds > 0 && var.long_poll_max_seconds < var.lambda_timeout - 5
      error_message = "long_poll_max_seconds must be positive and at least 5 s below lambda_timeout."
    }
  }
}

# Public by design: Slack and Teams must reach it. Every route
# authenticates itself (bearer credentials, Slack signatures, Bot Framework
# tokens); README "AWS" shows how to put a custom domain and throttling
# (CloudFront + WAF) in front.
resource "aws_lambda_function_url" "api" {
  #checkov:skip=CKV_AWS_258:Slack and Teams cannot sign AWS IAM requests; every route authenticates itself.
  function_name      = aws_lambda_function.fn["api"].function_name
  authorization_type = "NONE"
  invoke_mode        = "BUFFERED"
}

resource "aws_lambda_permission" "url_public" {
  #checkov:skip=CKV_AWS_301:The function URL is public by design; every route authenticates itself.
  statement_id           = "FunctionUrlPublic"
  action                 = "lambda:InvokeFunctionUrl"
  function_name          = aws_lambda_function.fn["api"].function_name
  principal              = "*"
  function_url_auth_type = "NONE"
}

# The outbox router reads new outbox rows from the table's stream.
resource "aws_lambda_event_source_mapping" "router" {
  event_source_arn                   = aws_dynamodb_table.approvals.stream_arn
  function_name                      = aws_lambda_function.fn["router"].arn
  starting_position                  = "TRIM_HORIZON"
  batch_size                         = 100
  maximum_batching_window_in_seconds = 0
  maximum_retry_attempts             = 10
  bisect_batch_on_function_error     = true
  function_response_types            = ["ReportBatchItemFailures"]
  filter_criteria {
    filter {
      pattern = jsonencode({ eventName = ["INSERT"], dynamodb = { NewImage = { kind = { S = ["outbox"] } } } })
    }
  }
  destination_config {
    on_failure {
      destination_arn = aws_sqs_queue.router_dlq.arn
    }
  }
}

# One drain mapping per channel queue: a failing channel backs up only its
# own queue.
resource "aws_lambda_event_source_mapping" "drain" {
  for_each                = local.channels
  event_source_arn        = aws_sqs_queue.outbox[each.key].arn
  function_name           = aws_lambda_function.fn["drain"].arn
  batch_size              = 10
  function_response_types = ["ReportBatchItemFailures"]
}
