//! The Microsoft Teams adapter's edge: everything between Teams and the
//! approval service that does not depend on the service itself.
//!
//! - [`verify`]: the `POST /teams/messages` extractor ([`Verified`]): Bot
//!   Framework (and, when switched on, Entra) token checks.
//! - [`keys`]: the issuers' OpenID metadata and signing keys, cached and
//!   rate-limited.
//! - [`webhook`]: the `POST /teams/webhook` extractor ([`WebhookVerified`]):
//!   the outgoing webhook's HMAC.
//! - [`service_url`]: which connector URLs the bot trusts.
//! - [`activity`]: Bot Framework activities and the bot's answers.
//! - [`connector`]: the Bot Connector client: the app's token, posting and
//!   replacing activities.
//! - [`settings`]: [`TeamsSettings`], Microsoft's endpoints by default.

pub mod activity;
pub mod connector;
pub mod keys;
pub mod service_url;
pub mod settings;
pub mod verify;
pub mod webhook;

pub use activity::Activity;
pub use settings::TeamsSettings;
pub use verify::{Identity, TeamsAuth, Verified};
pub use webhook::{WebhookAuth, WebhookVerified};

/// The platform name in people's ids (`teams:<AAD object id or UPN>`) and
/// in store keys.
pub const PLATFORM: &str = "teams";
