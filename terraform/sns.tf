# Request and decision events for subscribers (on-call SMS, SIEM, ...), with
# message attributes risk, status, tool and server to filter on. Messages
# carry no approve or reject links.
resource "aws_sns_topic" "events" {
  name              = "${local.name}-events"
  kms_master_key_id = aws_kms_key.main.arn
}

# Example filter policy: only critical requests reach the on-call phone.
resource "aws_sns_topic_subscription" "oncall_sms" {
  count     = var.oncall_sms_number != "" ? 1 : 0
  topic_arn = aws_sns_topic.events.arn
  protocol  = "sms"
  endpoint  = var.oncall_sms_number
  filter_policy = jsonencode({
    risk   = ["critical"]
    status = ["pending"]
  })
}

resource "aws_sns_topic" "alarms" {
  name              = "${local.name}-alarms"
  kms_master_key_id = aws_kms_key.main.arn
}

resource "aws_sns_topic_subscription" "alarm_email" {
  count     = var.alarm_email != "" ? 1 : 0
  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = var.alarm_email
}
