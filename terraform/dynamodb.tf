# One table for everything the service keeps (see ARCHITECTURE.md, "The
# DynamoDB table"):
#
#   item            pk                  sk                    notes
#   record          REQ#<id>            REC                   status, fields, task_token; gsi1 only while pending
#   audit event     REQ#<id>            EV#<seq>              the request's history, oldest first
#   message ref     REQ#<id>            MSG#<channel>         where a card was posted (to update it)
#   outbox row      REQ#<id>            OUT#<seq>#<channel>   kind=outbox; the stream routes it to the channel queue
#   once-key        ONCE#<key>          ONCE                  expires_at TTL (Slack retries, Teams invokes)
#   credential      TOK#<hash>          TOK                   approver/requester tokens (hitl-bot token create)
#   change          CHG#<shard>         <seq>               change feed sharded over N items: no hot item
#
# gsi1 (sparse: only pending records carry gsi1pk) lists pending requests by
# deadline. TTL on expires_at removes final records after the retention and
# spent once-keys; readers ignore items whose expires_at has passed before
# DynamoDB deletes them.
resource "aws_dynamodb_table" "approvals" {
  name         = "${local.name}-approvals"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "pk"
  range_key    = "sk"

  attribute {
    name = "pk"
    type = "S"
  }
  attribute {
    name = "sk"
    type = "S"
  }
  attribute {
    name = "gsi1pk"
    type = "S"
  }
  attribute {
    name = "gsi1sk"
    type = "S"
  }

  global_secondary_index {
    name            = "pending"
    hash_key        = "gsi1pk"
    range_key       = "gsi1sk"
    projection_type = "ALL"
  }

  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.main.arn
  }

  # The outbox router reads new outbox rows from the stream.
  stream_enabled   = true
  stream_view_type = "NEW_IMAGE"

  deletion_protection_enabled = var.environment == "prod"
}
