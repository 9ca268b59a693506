# Chat credentials and the API token live here, not in the functions'
# environment. The functions read the secret at cold start (HITL_SECRET_ARN),
# so a rotation needs no redeploy, only new execution environments: write
# the new value under the *_TOKEN key and keep the old one under *_PREVIOUS
# until every client has moved (the bot accepts both).
data "aws_secretsmanager_random_password" "api_token" {
  password_length     = 48
  exclude_punctuation = true
}

resource "aws_secretsmanager_secret" "bot" {
  #checkov:skip=CKV2_AWS_57:Slack, Teams and API tokens are issued by other systems, so rotation is a manual put-secret-value with a two-key overlap (HITL_TOKEN_PREVIOUS), not a rotation Lambda.
  name                    = "${local.name}/bot"
  description             = "hitl-bot credentials: Slack, Teams, API token (current and previous)"
  kms_key_id              = aws_kms_key.main.arn
  recovery_window_in_days = var.secret_recovery_days
}

resource "aws_secretsmanager_secret_version" "bot" {
  secret_id = aws_secretsmanager_secret.bot.id
  # Every key the bot reads; an empty value means unset. The webhook and
  # Socket Mode keys are filled in place when those are used.
  secret_string = jsonencode({
    HITL_TOKEN                    = data.aws_secretsmanager_random_password.api_token.random_password
    HITL_TOKEN_PREVIOUS           = ""
    SLACK_BOT_TOKEN               = var.slack_bot_token
    SLACK_SIGNING_SECRET          = var.slack_signing_secret
    SLACK_SIGNING_SECRET_PREVIOUS = ""
    SLACK_APP_TOKEN               = ""
    TEAMS_APP_PASSWORD            = var.teams_app_password
    TEAMS_WEBHOOK_SECRET          = ""
    TEAMS_WEBHOOK_SECRET_PREVIOUS = ""
  })
  # The first value only: later values are rotated in place, outside
  # Terraform, and must not be reverted by the next apply.
  lifecycle {
    ignore_changes = [secret_string]
  }
}
