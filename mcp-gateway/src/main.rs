//! `hitl-mcp`: parses the command line and runs the gateway.
fn main() {}
