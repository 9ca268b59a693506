//! The Microsoft Teams adapter: approval cards posted to Teams and
//! replaced as requests change, decisions from card clicks, commands and
//! the outgoing webhook.
//!
//! The edge, which does not depend on the service:
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
//! - [`deciders`]: who may decide a request that names no approvers.
//! - [`settings`]: [`TeamsSettings`], Microsoft's endpoints by default.
//!
//! On the service:
//! - [`platform`]: [`Teams`], the adapter, as a [`crate::chat::ChatPlatform`]
//!   (identity `teams:<aadObjectId>`, answers rendered for Teams).
//! - [`messages`]: `POST /teams/messages`: invokes, messages, conversation
//!   updates.
//! - [`outgoing`]: `POST /teams/webhook`: text commands.
//! - [`notifier`]: [`Teams`] as a [`crate::notify::Notifier`]: proactive
//!   posts, cards replaced on every later notice.
//! - [`references`]: the conversations Teams told the bot about.
//!
//! Every decision goes through the approval service; this module only
//! translates.

pub mod activity;
pub mod connector;
pub mod deciders;
pub mod keys;
pub mod messages;
pub mod notifier;
pub mod outgoing;
pub mod platform;
pub mod references;
pub mod service_url;
pub mod settings;
pub mod verify;
pub mod webhook;

use std::sync::Arc;

use axum::Router;
use axum::routing::post;

pub use activity::Activity;
pub use platform::{Teams, TeamsError};
pub use settings::TeamsSettings;
pub use verify::{Identity, TeamsAuth, Verified};
pub use webhook::{WebhookAuth, WebhookVerified};

/// The platform name in people's ids (`teams:<AAD object id or UPN>`) and
/// in store keys.
pub const PLATFORM: &str = "teams";

/// `POST /teams/messages`, and `POST /teams/webhook` when a webhook secret
/// is set.
pub fn router(teams: Arc<Teams>) -> Router {
    let webhook = teams.has_webhook();
    let mut r = Router::new().route("/teams/messages", post(messages::endpoint));
    if webhook {
        r = r.route("/teams/webhook", post(outgoing::endpoint));
    }
    r.with_state(messages::TeamsState { teams })
}
