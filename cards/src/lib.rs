//! Card templates for approval requests (Slack Block Kit, Teams Adaptive Cards).
