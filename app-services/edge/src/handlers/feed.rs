//! The signed-in user's feed: pages of entries, the read mark, stream tickets and the live
//! stream (see [`crate::feed`]).

use axum::Json;
use axum::extract::{Query, State};
use axum::response::sse::{KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use kernel_domain::RejectionKind;
use ports_app::{AppError, AppResult, Ctx, FeedError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::feed::{self, EntryView, KEEP_ALIVE, TICKET_LIFETIME};
use crate::json::{ApiJson, RequestBody};
use crate::openapi::Problem;
use crate::request::{Caller, RequestCtx};
use crate::state::EdgeState;

/// `GET /v1/me/feed`.
#[derive(Debug, Serialize, ToSchema)]
pub struct FeedPage {
    /// In sequence order, contiguous.
    pub entries: Vec<EntryView>,
    /// Entries right after `after` were dropped by retention: start over from these.
    pub reset: bool,
    /// The newest entry's sequence number when read (0 before the first).
    pub last_sequence: i64,
}

/// `POST /v1/me/feed/read`.
#[derive(Deserialize, ToSchema)]
#[schema(as = MarkFeedReadRequest, examples(json!({"up_to_sequence": 0})))]
pub struct MarkReadBody {
    #[schema(minimum = 0)]
    #[serde(deserialize_with = "crate::json::whole_number")]
    pub up_to_sequence: i64,
}

impl RequestBody for MarkReadBody {
    const REQUIRED: &'static [&'static str] = &["up_to_sequence"];
}

/// `POST /v1/me/feed/stream-tickets`.
#[derive(Debug, Serialize, ToSchema)]
pub struct StreamTicket {
    pub ticket: String,
    /// Seconds.
    pub expires_in: u64,
}

fn malformed_query() -> AppError {
    AppError::bad_request("MALFORMED_QUERY", "the query string cannot be read")
}

/// A whole number of at least 0.
fn whole(field: &str, value: &str) -> AppResult<i64> {
    value
        .parse::<i64>()
        .ok()
        .filter(|n| *n >= 0)
        .ok_or_else(|| AppError::bad_field(field, "must be a whole number of at least 0"))
}

/// A page of the caller's entries after `after` (default 0: the oldest retained), at most
/// `page_size` (0 or absent: the service's default; at most 1000).
#[utoipa::path(get, path = "/v1/me/feed", tag = "feed", operation_id = "listFeed",
    summary = "A page of the caller's feed entries",
    params(
        ("after" = Option<i64>, Query, minimum = 0, description = "Entries after this sequence number; 0 or absent for the oldest retained"),
        ("page_size" = Option<i32>, Query, minimum = 0, maximum = 1000, description = "At most this many entries; 0 or absent means 100"),
    ),
    responses((status = 200, description = "A page", body = FeedPage)))]
pub async fn list(
    State(state): State<EdgeState>,
    caller: Caller,
    uri: Uri,
) -> AppResult<Json<FeedPage>> {
    let Query(pairs) =
        Query::<Vec<(String, String)>>::try_from_uri(&uri).map_err(|_| malformed_query())?;
    let (mut after, mut page_size) = (0, 0);
    for (name, value) in pairs {
        match name.as_str() {
            "after" => after = whole("after", &value)?,
            "page_size" => {
                page_size = i32::try_from(whole("page_size", &value)?)
                    .ok()
                    .filter(|n| *n <= 1000)
                    .ok_or_else(|| {
                        AppError::bad_field("page_size", "must be between 0 and 1000")
                    })?;
            }
            _ => {}
        }
    }
    let user = caller.claims.user_id;
    match state
        .feed
        .feeds
        .list_feed_entries(&caller.ctx, user.into(), after, page_size)
        .await
    {
        Ok(page) => Ok(Json(FeedPage {
            entries: page.entries.iter().map(EntryView::from).collect(),
            reset: page.reset,
            last_sequence: page.last_sequence,
        })),
        Err(FeedError::NotFound(_)) => Ok(Json(FeedPage {
            entries: Vec::new(),
            reset: false,
            last_sequence: 0,
        })),
        Err(FeedError::Other(error)) => Err(error),
    }
}

/// Marks the caller's entries up to `up_to_sequence` as read (never backwards); 204.
#[utoipa::path(post, path = "/v1/me/feed/read", tag = "feed", operation_id = "markFeedRead",
    summary = "Mark the caller's entries up to a sequence number as read (never backwards)",
    request_body = MarkReadBody,
    responses(
        (status = 204, description = "Marked"),
        (status = 409, description = "A concurrent change won (ABORTED); retry", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The feed has no entry with that sequence number (SEQUENCE_BEYOND_END)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn mark_read(
    State(state): State<EdgeState>,
    caller: Caller,
    ApiJson(body): ApiJson<MarkReadBody>,
) -> AppResult<StatusCode> {
    if body.up_to_sequence < 0 {
        return Err(AppError::bad_field(
            "up_to_sequence",
            "must be a whole number of at least 0",
        ));
    }
    if body.up_to_sequence == 0 {
        // Nothing to mark: the read mark never moves backwards.
        return Ok(StatusCode::NO_CONTENT);
    }
    let marked = state
        .feed
        .feeds
        .mark_feed_read(
            &caller.ctx,
            "mark-feed-read",
            caller.claims.user_id.into(),
            body.up_to_sequence,
        )
        .await;
    match marked {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        // 409 like a lost race: the client's view of the feed is ahead of the feed.
        Err(FeedError::NotFound(_)) => Err(AppError::new(
            RejectionKind::Aborted,
            "SEQUENCE_BEYOND_END",
            "the feed has no entry with that sequence number",
        )),
        Err(FeedError::Other(error)) => Err(error),
    }
}

/// A single-use ticket for one stream, valid for 60 seconds; 201.
#[utoipa::path(post, path = "/v1/me/feed/stream-tickets", tag = "feed", operation_id = "issueStreamTicket",
    summary = "A single-use ticket for one stream, valid for 60 seconds",
    responses(
        (status = 201, description = "The ticket", body = StreamTicket),
        (status = 503, description = "The shared ticket store does not answer (TICKETS_UNAVAILABLE); retry, or stream with Authorization", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn issue_stream_ticket(
    State(state): State<EdgeState>,
    caller: Caller,
) -> AppResult<Response> {
    let ticket = state.feed.tickets.issue(caller.claims.user_id).await?;
    Ok((
        StatusCode::CREATED,
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Json(StreamTicket {
            ticket,
            expires_in: TICKET_LIFETIME.as_secs(),
        }),
    )
        .into_response())
}

/// The resume point: `Last-Event-ID`, else `?last_event_id=`; `None` for none. Public for
/// the fuzz targets (`saas-fuzz`).
pub fn resume_point(headers: &HeaderMap, uri: &Uri) -> AppResult<Option<i64>> {
    if let Some(value) = headers.get("last-event-id") {
        let value = value
            .to_str()
            .map_err(|_| AppError::bad_field("Last-Event-ID", "must be a sequence number"))?;
        if value.trim().is_empty() {
            return Ok(None);
        }
        return whole("Last-Event-ID", value).map(Some);
    }
    let Query(pairs) =
        Query::<Vec<(String, String)>>::try_from_uri(uri).map_err(|_| malformed_query())?;
    match pairs.iter().find(|(name, _)| name == "last_event_id") {
        Some((_, value)) if !value.trim().is_empty() => whole("last_event_id", value).map(Some),
        _ => Ok(None),
    }
}

/// The caller's entries as server-sent events: after the resume point, then live.
#[utoipa::path(get, path = "/v1/me/feed/stream", tag = "feed", operation_id = "streamFeed",
    summary = "The caller's entries as server-sent events, then live",
    description = "`id: <sequence>`, `event: entry`, `data: <FeedEntry as JSON>`; `event: reset`, \
        `data: {\"first_sequence\": N}` when the resume point is before the retained range; `:` \
        comments as keep-alives. Reconnect with Last-Event-ID to resume.",
    params(
        ("ticket" = Option<String>, Query, description = "A stream ticket, for clients that cannot send Authorization (EventSource); used up by the first attempt"),
        ("last_event_id" = Option<i64>, Query, minimum = 0, description = "Resume after this sequence number when no Last-Event-ID header is sent"),
        ("Last-Event-ID" = Option<i64>, Header, minimum = 0, description = "Resume after this sequence number"),
    ),
    responses(
        (status = 200, description = "The event stream", body = String, content_type = "text/event-stream"),
        (status = 401, description = "No valid access token, or the ticket is unknown, expired or used (INVALID_TICKET)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The server is shutting down (SHUTTING_DOWN), or the shared ticket store does not answer (TICKETS_UNAVAILABLE); reconnect", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn stream(
    State(state): State<EdgeState>,
    RequestCtx(ctx): RequestCtx,
    headers: HeaderMap,
    uri: Uri,
) -> AppResult<Response> {
    let user = ctx.user()?;
    let resume = resume_point(&headers, &uri)?;
    // Register before replaying, so nothing appended meanwhile is missed.
    let live = state.feed.hub.register(user).ok_or_else(|| {
        AppError::new(
            RejectionKind::Unavailable,
            "SHUTTING_DOWN",
            "the server is shutting down; reconnect",
        )
    })?;
    // The stream outlives the request's budget: each page it reads later gets its own.
    let events = feed::feed_stream(
        state.feed.feeds.clone(),
        Ctx {
            deadline: None,
            ..ctx
        },
        user,
        resume.unwrap_or(0),
        resume.is_some(),
        live,
    );
    let mut response = Sse::new(events)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response();
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}
