# Outbox drain: the router puts each outbox row on its channel's FIFO queue
# (message group = request id: one request's notices stay in order, other
# requests are not held up; deduplication id = the row's key). Retries wait
# in the queue, not in a running function: the drain hands a failed notice
# back with its visibility set to the outbox backoff (1 s doubling to 5 min)
# and gives up after 24 h itself (the record shows `failed`). A message the
# drain cannot even handle (crashes, timeouts) is retried on the visibility
# timeout below and, after max_receive_count receives, lands in the
# channel's dead-letter queue, which raises an alarm. The count covers the
# 24 h of backoff (about 300 attempts at 5 min) so that the drain, not the
# queue, decides when a notice is given up.
resource "aws_sqs_queue" "outbox_dlq" {
  for_each                  = local.channels
  name                      = "${local.name}-outbox-${each.key}-dlq.fifo"
  fifo_queue                = true
  message_retention_seconds = 1209600
  kms_master_key_id         = aws_kms_key.main.arn
}

resource "aws_sqs_queue" "outbox" {
  for_each                    = local.channels
  name                        = "${local.name}-outbox-${each.key}.fifo"
  fifo_queue                  = true
  content_based_deduplication = false
  deduplication_scope         = "messageGroup"
  fifo_throughput_limit       = "perMessageGroupId"
  visibility_timeout_seconds  = 6 * local.functions.drain.timeout
  message_retention_seconds   = 345600
  kms_master_key_id           = aws_kms_key.main.arn
  # Owned by aws_sqs_queue_redrive_policy.outbox below (it needs the
  # dead-letter queue's ARN first).
  lifecycle {
    ignore_changes = [redrive_policy]
  }
}

resource "aws_sqs_queue_redrive_policy" "outbox" {
  for_each  = local.channels
  queue_url = aws_sqs_queue.outbox[each.key].id
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.outbox_dlq[each.key].arn
    maxReceiveCount     = 300
  })
}

# Stream batches the router could not route after its retries.
resource "aws_sqs_queue" "router_dlq" {
  name                      = "${local.name}-outbox-router-dlq"
  message_retention_seconds = 1209600
  kms_master_key_id         = aws_kms_key.main.arn
}
