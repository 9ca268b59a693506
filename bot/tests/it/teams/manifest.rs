//! The Teams app package in `deploy/teams/`.
