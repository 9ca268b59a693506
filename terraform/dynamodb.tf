# One table for everything the service keeps (bot/src/store/dynamo.rs; see
# ARCHITECTURE.md, "The DynamoDB table"). Numbers in keys are zero-padded to
# 20 digits so they sort as strings; '#' inside a component is escaped.
#
#   item            pk                          sk                          gsi1pk (sparse)
#   record          REQ#<id>                    REC                         PENDING while pending
#   audit event     REQ#<id>                    EV#<seq>                    -
#   timer           REQ#<id>                    TMR#remind|expire           TIMER
#   outbox row      REQ#<id>                    OUT#<seq>#<channel>         OUT#<channel> until settled
#   message ref     REQ#<id>                    MSG#<platform>              -
#   thread index    THR#<platform>#<conv>#<th>  <created>#<message>#<id>    -
#   session thread  SES#<platform>#<chan>#<ses> SES                         -
#   once-key        ONCE#<key>                  ONCE                        -
#   final (feed)    CHG#<00..15>                <at ms>#<id>                -
#   credential      TOK#<hash>                  TOK                         -
#
# gsi1 ("pending") holds only what is still open: pending records by
# deadline, timers by due time, undelivered outbox rows by next attempt.
# The finals feed is sharded over 16 partitions by request id, so no item is
# written by every decision. TTL on expires_at (seconds) removes final
# records after the retention, feed entries after an hour and spent
# once-keys; readers ignore items whose expires_at has passed before
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
