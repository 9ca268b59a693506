variable "aws_region" {
  description = "Region to deploy into."
  type        = string
  default     = "us-east-1"
}

variable "environment" {
  description = "Environment name, part of every resource name (dev, staging, prod)."
  type        = string
  default     = "dev"
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,15}$", var.environment))
    error_message = "environment must be 1-16 lowercase letters, digits or dashes, starting with a letter."
  }
}

variable "name_prefix" {
  description = "Prefix of every resource name."
  type        = string
  default     = "hitl"
}

variable "tags" {
  description = "Extra tags on every resource."
  type        = map(string)
  default     = {}
}

variable "image_tag" {
  description = "Tag of the hitl-bot image in the stack's ECR repository (build_and_deploy.sh pushes it)."
  type        = string
  default     = "latest"
}

variable "image_uri" {
  description = "Full image URI to run instead of the stack's ECR repository and image_tag (an image built elsewhere)."
  type        = string
  default     = ""
}

variable "lambda_timeout" {
  description = "Timeout of the API function in seconds. Long-polls are capped well below it (long_poll_max_seconds)."
  type        = number
  default     = 30
  validation {
    condition     = var.lambda_timeout >= 10 && var.lambda_timeout <= 900
    error_message = "lambda_timeout must be between 10 and 900 seconds."
  }
}

variable "lambda_memory_size" {
  description = "Memory of each function in MB (CPU scales with it)."
  type        = number
  default     = 256
  validation {
    condition     = var.lambda_memory_size >= 128 && var.lambda_memory_size <= 10240
    error_message = "lambda_memory_size must be between 128 and 10240 MB."
  }
}

variable "long_poll_max_seconds" {
  description = "Longest a GET ?wait= is held on Lambda; gateways poll again with jitter. Must stay below lambda_timeout."
  type        = number
  default     = 20
}

variable "api_reserved_concurrency" {
  description = "Reserved concurrency of the API function (each held long-poll occupies one). -1 for none."
  type        = number
  default     = 50
}

variable "log_retention_days" {
  description = "Retention of every log group, in days."
  type        = number
  default     = 365
}

variable "record_retention_days" {
  description = "Days a decided record stays in the table before TTL deletes it."
  type        = number
  default     = 90
}

variable "enable_xray" {
  description = "Active X-Ray tracing on the functions and the state machine."
  type        = bool
  default     = false
}

variable "alarm_email" {
  description = "E-mail subscribed to the alarms topic (empty: subscribe yourself)."
  type        = string
  default     = ""
}

variable "oncall_sms_number" {
  description = "Phone number (E.164) that gets an SMS for critical requests only, via an SNS filter policy on risk. Empty: none."
  type        = string
  default     = ""
}

variable "secret_recovery_days" {
  description = "Days a deleted secret can be restored (0 deletes at once, handy for test stacks)."
  type        = number
  default     = 7
}

# Slack.
variable "slack_bot_token" {
  description = "Slack bot token (xoxb-...). Stored in Secrets Manager, never in the function's environment."
  type        = string
  default     = ""
  sensitive   = true
}

variable "slack_signing_secret" {
  description = "Slack signing secret. Stored in Secrets Manager."
  type        = string
  default     = ""
  sensitive   = true
}

variable "slack_channel" {
  description = "Default Slack channel id for approval cards."
  type        = string
  default     = ""
}

# Teams.
variable "teams_app_id" {
  description = "Azure Bot (Entra app) id."
  type        = string
  default     = ""
}

variable "teams_app_password" {
  description = "Azure Bot client secret. Stored in Secrets Manager."
  type        = string
  default     = ""
  sensitive   = true
}

variable "teams_tenant_id" {
  description = "Entra tenant of the single-tenant bot."
  type        = string
  default     = ""
}

variable "teams_service_url" {
  description = "Bot Connector base URL, ending in / (for example https://smba.trafficmanager.net/amer/)."
  type        = string
  default     = ""
}

variable "teams_conversation_id" {
  description = "Default Teams conversation for approval cards."
  type        = string
  default     = ""
}

# Networking.
variable "use_existing_vpc" {
  description = "Run the functions in an existing VPC (needs NAT or VPC endpoints for DynamoDB, Step Functions, SNS, SQS, Secrets Manager and the chat APIs)."
  type        = bool
  default     = false
}

variable "vpc_id" {
  description = "The existing VPC (with use_existing_vpc)."
  type        = string
  default     = ""
}

variable "private_subnet_ids" {
  description = "Private subnets of the existing VPC (with use_existing_vpc)."
  type        = list(string)
  default     = []
}

variable "lambda_security_group_id" {
  description = "Security group for the functions (with use_existing_vpc); empty creates one that allows egress only."
  type        = string
  default     = ""
}
