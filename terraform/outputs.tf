output "function_url" {
  description = "The approval service's URL: Slack's request URLs, Teams' messaging endpoint, and hitl-mcp generate-config --approval-url."
  value       = aws_lambda_function_url.api.function_url
}

output "ecr_repository_url" {
  description = "Push the hitl-bot image here."
  value       = aws_ecr_repository.bot.repository_url
}

output "table_name" {
  description = "TABLE_NAME for hitl-bot token create and serve outside Lambda."
  value       = aws_dynamodb_table.approvals.name
}

output "state_machine_arn" {
  description = "STATE_MACHINE_ARN."
  value       = aws_sfn_state_machine.approval.arn
}

output "events_topic_arn" {
  description = "SNS topic of request and decision events (filter on risk, status, tool, server)."
  value       = aws_sns_topic.events.arn
}

output "alarms_topic_arn" {
  description = "SNS topic the CloudWatch alarms publish to."
  value       = aws_sns_topic.alarms.arn
}

output "secret_arn" {
  description = "Secrets Manager secret with the bot's credentials (HITL_TOKEN, Slack, Teams)."
  value       = aws_secretsmanager_secret.bot.arn
}

output "function_names" {
  description = "The functions built from the one image."
  value       = { for k, f in aws_lambda_function.fn : k => f.function_name }
}

output "outbox_queue_urls" {
  description = "Outbox FIFO queue per channel."
  value       = { for c, q in aws_sqs_queue.outbox : c => q.url }
}
