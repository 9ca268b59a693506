//! Extractors that turn bad input into clear JSON errors: the body limit,
//! malformed JSON, unknown fields and values (named by their JSON path), and
//! bad query strings. Handlers only ever see well-formed, typed input.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use hitl_wire::{MAX_ARGUMENT_DEPTH, json_depth};
use serde::de::DeserializeOwned;

use super::error::AppError;

/// Largest request body accepted anywhere on the API.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// A JSON body; an empty body is read as `{}` when `T` allows it.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                AppError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    format!("request body is larger than {} KiB", BODY_LIMIT / 1024),
                )
            } else {
                AppError::bad_request("unreadable_body", e.body_text())
            }
        })?;
        check_depth(&bytes)?;
        let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        parse_json(bytes).map(ApiJson)
    }
}

/// Deepest nesting of an API body: a request's `arguments` may nest
/// [`MAX_ARGUMENT_DEPTH`] levels inside the body object.
pub const MAX_BODY_DEPTH: usize = MAX_ARGUMENT_DEPTH + 1;

/// Refuses a body nested deeper than [`MAX_BODY_DEPTH`] before it is parsed:
/// a record stored that deep could not be read back by every client.
fn check_depth(bytes: &[u8]) -> Result<(), AppError> {
    let depth = json_depth(bytes);
    if depth > MAX_BODY_DEPTH {
        return Err(AppError::bad_request(
            "too_deep",
            format!(
                "request body nests {depth} levels deep; `arguments` may nest at most {MAX_ARGUMENT_DEPTH} levels (the body at most {MAX_BODY_DEPTH})"
            ),
        ));
    }
    Ok(())
}

/// Parses JSON, naming the path of the first bad field.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    let malformed = |e: serde_json::Error| {
        AppError::bad_request(
            "malformed_json",
            format!("request body is not valid JSON: {e}"),
        )
    };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            malformed(inner)
        } else if path == "." {
            AppError::bad_request("invalid_body", format!("invalid request body: {inner}"))
        } else {
            AppError::bad_request(
                "invalid_body",
                format!("invalid request body at `{path}`: {inner}"),
            )
        }
    })?;
    de.end().map_err(malformed)?;
    Ok(value)
}

/// A query string, refused with a JSON error when it does not parse.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| ApiQuery(v))
            .map_err(|e| AppError::bad_request("invalid_query", e.body_text()))
    }
}
