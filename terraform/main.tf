data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  name       = "${var.name_prefix}-${var.environment}"
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name

  image_uri = var.image_uri != "" ? var.image_uri : "${aws_ecr_repository.bot.repository_url}:${var.image_tag}"

  # Outbox channels: one FIFO queue (and dead-letter queue) each, so a
  # failing channel never blocks another.
  channels = toset(["slack", "teams", "sns"])

  # The functions built from the one image. `handler` becomes the image
  # CMD, which the Lambda runtime exposes as _HANDLER; the binary picks its
  # entry point from it.
  functions = {
    api = {
      description = "HTTP API v1, Slack and Teams endpoints behind the function URL"
      timeout     = var.lambda_timeout
    }
    tasks = {
      description = "The state machine's tasks: store the task token, wake for reminders, escalation and expiry"
      timeout     = 30
    }
    router = {
      description = "Outbox router: DynamoDB stream -> one SQS FIFO queue per channel"
      timeout     = 30
    }
    drain = {
      description = "Outbox drain: delivers one channel's queued notices (Slack, Teams, SNS)"
      timeout     = 60
    }
  }

  common_env = {
    TABLE_NAME                = aws_dynamodb_table.approvals.name
    STATE_MACHINE_ARN         = local.state_machine_arn
    SNS_TOPIC_ARN             = aws_sns_topic.events.arn
    HITL_SECRET_ARN           = aws_secretsmanager_secret.bot.arn
    HITL_LOG_FORMAT           = "json"
    HITL_LAMBDA_MAX_WAIT_SECS = tostring(var.long_poll_max_seconds)
    HITL_RETENTION_DAYS       = tostring(var.record_retention_days)
    SLACK_CHANNEL             = var.slack_channel
    TEAMS_APP_ID              = var.teams_app_id
    TEAMS_TENANT_ID           = var.teams_tenant_id
    TEAMS_SERVICE_URL         = var.teams_service_url
    TEAMS_CONVERSATION_ID     = var.teams_conversation_id
    OUTBOX_QUEUE_URLS         = jsonencode({ for c in local.channels : c => aws_sqs_queue.outbox[c].url })
  }

  # Known before the state machine exists, which breaks the cycle
  # function -> state machine -> function.
  state_machine_name = "${local.name}-approval"
  state_machine_arn  = "arn:${local.partition}:states:${local.region}:${local.account_id}:stateMachine:${local.state_machine_name}"
  execution_arn_glob = "arn:${local.partition}:states:${local.region}:${local.account_id}:execution:${local.state_machine_name}:*"

  vpc_security_group_ids = var.use_existing_vpc ? [var.lambda_security_group_id != "" ? var.lambda_security_group_id : aws_security_group.lambda[0].id] : []
}
