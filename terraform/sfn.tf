# The approval workflow: one Standard execution per request, defined by the
# ONE ASL file beside this one (the tests load the same file).
resource "aws_sfn_state_machine" "approval" {
  name     = local.state_machine_name
  type     = "STANDARD"
  role_arn = aws_iam_role.sfn.arn
  definition = templatefile("${path.module}/state-machine.asl.json", {
    tasks_function_arn = aws_lambda_function.fn["tasks"].arn
  })

  logging_configuration {
    log_destination        = "${aws_cloudwatch_log_group.sfn.arn}:*"
    include_execution_data = true
    level                  = "ALL"
  }

  tracing_configuration {
    #checkov:skip=CKV_AWS_284:X-Ray is optional (enable_xray) to keep the default cost at zero.
    enabled = var.enable_xray
  }

  depends_on = [aws_iam_role_policy.sfn]
}
