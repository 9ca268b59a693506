//! Request ids and tokens: the one generator, shared with the gateway
//! (`hitl_client::ids`).

pub use hitl_client::ids::{new_request_id, new_token};
