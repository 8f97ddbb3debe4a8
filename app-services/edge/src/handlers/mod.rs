//! The route handlers, one module per area. Each reads its request (the guard has already
//! authenticated the caller and checked the workspace), calls one use case and renders the
//! answer.

pub mod account;
pub mod auth;
pub mod billing;
pub mod feed;
pub mod ops;
pub mod workspaces;

use axum::extract::{FromRequestParts, RawPathParams};
use http::request::Parts;
use ports_app::AppError;
use uuid::Uuid;

use crate::request::path_uuid;

/// The path parameters of a request, read leniently: a parameter that cannot be read is
/// treated as absent, and an absent or non-UUID id answers like an unknown one.
pub struct PathIds(Option<RawPathParams>);

impl PathIds {
    /// The parameter `name` as a UUID (or a typed id made from one), or the 404
    /// `not_found` gives.
    pub fn uuid<Id: From<Uuid>>(
        &self,
        name: &str,
        not_found: fn() -> AppError,
    ) -> Result<Id, AppError> {
        self.0
            .as_ref()
            .and_then(|params| path_uuid(params, name))
            .map(Id::from)
            .ok_or_else(not_found)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for PathIds {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(PathIds(
            RawPathParams::from_request_parts(parts, state).await.ok(),
        ))
    }
}
