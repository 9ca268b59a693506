//! The MCP gateway: proxy and risk policy.
