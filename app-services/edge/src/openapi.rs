//! The OpenAPI 3.1 document of the edge, written by hand as a table of operations.
//!
//! Each operation names its method and path (OpenAPI's `{workspace_id}` is axum's), its
//! summary, who may call it, its query parameters, request body and success answer; the rest
//! follows from those: path parameters from the template, bearer security for the routes that
//! need a token (`x-least-role` for workspace routes), and the problem answers each can give.
//! A test holds the table to the router: the same methods and paths, the same guards.
//!
//! A success answer names its media type, so a streaming route (`text/event-stream`) is one
//! more row.

use serde_json::{Map, Value, json};

use crate::handlers::account::{
    ChangeDisplayNameBody, ChangePasswordBody, CompletePasswordResetBody, PasswordResetBody,
    TokenBody,
};
use crate::handlers::auth::{LoginBody, RefreshBody, SignUpBody};
use crate::handlers::billing::{CancelBody, ChangePlanBody, ChangeSeatsBody};
use crate::handlers::feed::MarkReadBody;
use crate::handlers::workspaces::{ChangeRoleBody, InviteBody, RenameBody};
use crate::json::RequestBody;

/// Who may call an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Caller {
    /// Anyone.
    Anyone,
    /// Anyone, under the per-IP quota for credentials.
    AnyoneLimited,
    /// A signed-in user.
    User,
    /// A signed-in user, or the holder of a single-use stream ticket (`?ticket=`).
    UserOrTicket,
    /// A member of the path's workspace with at least this role.
    Role(&'static str),
}

/// A query parameter.
pub(crate) struct QueryParam {
    name: &'static str,
    schema: &'static str,
    description: &'static str,
}

/// The success answer.
pub(crate) struct Reply {
    status: u16,
    description: &'static str,
    /// The media type and the schema in `components.schemas`; `None` for no body.
    content: Option<(&'static str, &'static str)>,
    /// Whether the answer carries the resource's `ETag`.
    etag: bool,
}

/// One operation.
pub(crate) struct Operation {
    pub(crate) method: &'static str,
    pub(crate) path: &'static str,
    id: &'static str,
    tag: &'static str,
    summary: &'static str,
    pub(crate) caller: Caller,
    query: &'static [QueryParam],
    /// The request body's schema in `components.schemas`.
    body: Option<&'static str>,
    reply: Reply,
}

const JSON: &str = "application/json";

const fn json_reply(status: u16, description: &'static str, schema: &'static str) -> Reply {
    Reply {
        status,
        description,
        content: Some((JSON, schema)),
        etag: false,
    }
}

const fn resource(description: &'static str, schema: &'static str) -> Reply {
    Reply {
        status: 200,
        description,
        content: Some((JSON, schema)),
        etag: true,
    }
}

const fn empty(status: u16, description: &'static str) -> Reply {
    Reply {
        status,
        description,
        content: None,
        etag: false,
    }
}

const EVENT_STREAM: &str = "text/event-stream";

const FEED_PAGING: &[QueryParam] = &[
    QueryParam {
        name: "after",
        schema: "integer",
        description: "Entries after this sequence number; 0 or absent for the oldest retained.",
    },
    QueryParam {
        name: "page_size",
        schema: "integer",
        description: "At most this many entries, 0 to 1000; 0 or absent means 100.",
    },
];

const STREAM_PARAMS: &[QueryParam] = &[
    QueryParam {
        name: "ticket",
        schema: "string",
        description: "A stream ticket (POST /v1/me/feed/stream-tickets), for clients that \
            cannot send Authorization (EventSource); used up by the first attempt.",
    },
    QueryParam {
        name: "last_event_id",
        schema: "integer",
        description: "Resume after this sequence number when no Last-Event-ID header is sent.",
    },
];

const PAGING: &[QueryParam] = &[
    QueryParam {
        name: "page_size",
        schema: "integer",
        description: "How many workspaces per page, at least 0; 0 or absent means the default, and the service caps it.",
    },
    QueryParam {
        name: "page_token",
        schema: "string",
        description: "The `next_page_token` of the previous page.",
    },
];

/// Every operation of the edge.
pub(crate) const OPERATIONS: &[Operation] = &[
    Operation {
        method: "get",
        path: "/healthz",
        id: "healthz",
        tag: "ops",
        summary: "The process is up",
        caller: Caller::Anyone,
        query: &[],
        body: None,
        reply: json_reply(200, "Up", "Status"),
    },
    Operation {
        method: "get",
        path: "/readyz",
        id: "readyz",
        tag: "ops",
        summary: "Every component is ready (503 NOT_READY otherwise)",
        caller: Caller::Anyone,
        query: &[],
        body: None,
        reply: json_reply(200, "Ready", "Status"),
    },
    Operation {
        method: "get",
        path: "/openapi.json",
        id: "openapi",
        tag: "ops",
        summary: "This document",
        caller: Caller::Anyone,
        query: &[],
        body: None,
        reply: json_reply(200, "The OpenAPI document", "OpenApiDocument"),
    },
    Operation {
        method: "post",
        path: "/v1/signup",
        id: "signUp",
        tag: "auth",
        summary: "Register a user with their workspace and a Team trial",
        caller: Caller::AnyoneLimited,
        query: &[],
        body: Some("SignUpRequest"),
        reply: json_reply(201, "Signed up", "SignUp"),
    },
    Operation {
        method: "post",
        path: "/v1/auth/login",
        id: "login",
        tag: "auth",
        summary: "Log in with email and password",
        caller: Caller::AnyoneLimited,
        query: &[],
        body: Some("LoginRequest"),
        reply: json_reply(200, "Logged in", "Tokens"),
    },
    Operation {
        method: "post",
        path: "/v1/auth/refresh",
        id: "refresh",
        tag: "auth",
        summary: "Exchange a refresh token for new tokens",
        caller: Caller::AnyoneLimited,
        query: &[],
        body: Some("RefreshRequest"),
        reply: json_reply(200, "Refreshed", "Tokens"),
    },
    Operation {
        method: "post",
        path: "/v1/auth/logout",
        id: "logout",
        tag: "auth",
        summary: "Close the session of the access token",
        caller: Caller::User,
        query: &[],
        body: None,
        reply: empty(204, "Logged out"),
    },
    Operation {
        method: "get",
        path: "/v1/me",
        id: "getMe",
        tag: "account",
        summary: "The signed-in user",
        caller: Caller::User,
        query: &[],
        body: None,
        reply: resource("The user", "User"),
    },
    Operation {
        method: "patch",
        path: "/v1/me",
        id: "changeDisplayName",
        tag: "account",
        summary: "Change the display name",
        caller: Caller::User,
        query: &[],
        body: Some("ChangeDisplayNameRequest"),
        reply: resource("The user", "User"),
    },
    Operation {
        method: "delete",
        path: "/v1/me",
        id: "eraseMe",
        tag: "account",
        summary: "Erase the account (refused while the last Owner of a workspace with other members)",
        caller: Caller::User,
        query: &[],
        body: None,
        reply: empty(204, "Erased"),
    },
    Operation {
        method: "post",
        path: "/v1/me/password",
        id: "changePassword",
        tag: "account",
        summary: "Change the password (every session closes)",
        caller: Caller::User,
        query: &[],
        body: Some("ChangePasswordRequest"),
        reply: empty(204, "Changed"),
    },
    Operation {
        method: "post",
        path: "/v1/me/email-verification",
        id: "startEmailVerification",
        tag: "account",
        summary: "Mail a verification token",
        caller: Caller::User,
        query: &[],
        body: None,
        reply: empty(202, "Mailed"),
    },
    Operation {
        method: "get",
        path: "/v1/me/feed",
        id: "listFeed",
        tag: "feed",
        summary: "The signed-in user's notifications, oldest first, a page at a time",
        caller: Caller::User,
        query: FEED_PAGING,
        body: None,
        reply: json_reply(200, "A page of entries", "FeedPage"),
    },
    Operation {
        method: "post",
        path: "/v1/me/feed/read",
        id: "markFeedRead",
        tag: "feed",
        summary: "Mark the entries up to a sequence number as read (never backwards)",
        caller: Caller::User,
        query: &[],
        body: Some("MarkFeedReadRequest"),
        reply: empty(204, "Marked"),
    },
    Operation {
        method: "post",
        path: "/v1/me/feed/stream-tickets",
        id: "issueFeedStreamTicket",
        tag: "feed",
        summary: "A single-use ticket for one feed stream, valid for 60 seconds, on this edge replica",
        caller: Caller::User,
        query: &[],
        body: None,
        reply: json_reply(201, "The ticket", "StreamTicket"),
    },
    Operation {
        method: "get",
        path: "/v1/me/feed/stream",
        id: "streamFeed",
        tag: "feed",
        summary: "The signed-in user's notifications as server-sent events: the entries \
            after Last-Event-ID (an explicit `reset` event first when some were dropped), then \
            new ones live; a keep-alive comment every 15 seconds",
        caller: Caller::UserOrTicket,
        query: STREAM_PARAMS,
        body: None,
        reply: Reply {
            status: 200,
            description: "An endless event stream: `event: entry` with `id: <sequence>` and \
                the entry as JSON data, or `event: reset` with `{\"first_sequence\": N}`",
            content: Some((EVENT_STREAM, "FeedEventStream")),
            etag: false,
        },
    },
    Operation {
        method: "post",
        path: "/v1/email-verification/confirm",
        id: "confirmEmailVerification",
        tag: "account",
        summary: "Confirm an email address with the mailed token",
        caller: Caller::Anyone,
        query: &[],
        body: Some("TokenRequest"),
        reply: empty(204, "Verified"),
    },
    Operation {
        method: "post",
        path: "/v1/password-reset",
        id: "requestPasswordReset",
        tag: "account",
        summary: "Mail a reset token (202 whether or not the email exists)",
        caller: Caller::AnyoneLimited,
        query: &[],
        body: Some("PasswordResetRequest"),
        reply: empty(202, "Accepted"),
    },
    Operation {
        method: "post",
        path: "/v1/password-reset/confirm",
        id: "completePasswordReset",
        tag: "account",
        summary: "Set a new password with the mailed token",
        caller: Caller::AnyoneLimited,
        query: &[],
        body: Some("CompletePasswordResetRequest"),
        reply: empty(204, "Password set"),
    },
    Operation {
        method: "get",
        path: "/v1/workspaces",
        id: "listWorkspaces",
        tag: "workspaces",
        summary: "The signed-in user's workspaces, paged",
        caller: Caller::User,
        query: PAGING,
        body: None,
        reply: json_reply(200, "A page of workspaces", "WorkspaceList"),
    },
    Operation {
        method: "get",
        path: "/v1/workspaces/{workspace_id}",
        id: "getWorkspace",
        tag: "workspaces",
        summary: "One workspace",
        caller: Caller::Role("member"),
        query: &[],
        body: None,
        reply: resource("The workspace", "Workspace"),
    },
    Operation {
        method: "patch",
        path: "/v1/workspaces/{workspace_id}",
        id: "renameWorkspace",
        tag: "workspaces",
        summary: "Rename a workspace",
        caller: Caller::Role("admin"),
        query: &[],
        body: Some("RenameWorkspaceRequest"),
        reply: resource("The workspace", "Workspace"),
    },
    Operation {
        method: "get",
        path: "/v1/workspaces/{workspace_id}/members",
        id: "listMembers",
        tag: "members",
        summary: "The members with their profiles",
        caller: Caller::Role("member"),
        query: &[],
        body: None,
        reply: json_reply(200, "The members", "MemberList"),
    },
    Operation {
        method: "patch",
        path: "/v1/workspaces/{workspace_id}/members/{user_id}",
        id: "changeMemberRole",
        tag: "members",
        summary: "Change a member's role",
        caller: Caller::Role("owner"),
        query: &[],
        body: Some("ChangeRoleRequest"),
        reply: resource("The workspace", "Workspace"),
    },
    Operation {
        method: "delete",
        path: "/v1/workspaces/{workspace_id}/members/{user_id}",
        id: "removeMember",
        tag: "members",
        summary: "Remove a member",
        caller: Caller::Role("admin"),
        query: &[],
        body: None,
        reply: empty(204, "Removed"),
    },
    Operation {
        method: "post",
        path: "/v1/workspaces/{workspace_id}/leave",
        id: "leaveWorkspace",
        tag: "members",
        summary: "Leave the workspace (not as its last Owner)",
        caller: Caller::Role("member"),
        query: &[],
        body: None,
        reply: empty(204, "Left"),
    },
    Operation {
        method: "get",
        path: "/v1/workspaces/{workspace_id}/invitations",
        id: "listInvitations",
        tag: "invitations",
        summary: "The workspace's invitations",
        caller: Caller::Role("admin"),
        query: &[],
        body: None,
        reply: json_reply(200, "The invitations", "InvitationList"),
    },
    Operation {
        method: "post",
        path: "/v1/workspaces/{workspace_id}/invitations",
        id: "invite",
        tag: "invitations",
        summary: "Invite someone by email (the token goes by mail only)",
        caller: Caller::Role("admin"),
        query: &[],
        body: Some("InviteRequest"),
        reply: json_reply(201, "Invited", "Invitation"),
    },
    Operation {
        method: "delete",
        path: "/v1/workspaces/{workspace_id}/invitations/{invitation_id}",
        id: "revokeInvitation",
        tag: "invitations",
        summary: "Revoke a pending invitation",
        caller: Caller::Role("admin"),
        query: &[],
        body: None,
        reply: empty(204, "Revoked"),
    },
    Operation {
        method: "post",
        path: "/v1/invitations/accept",
        id: "acceptInvitation",
        tag: "invitations",
        summary: "Accept an invitation with its mailed token",
        caller: Caller::User,
        query: &[],
        body: Some("TokenRequest"),
        reply: resource("The workspace joined", "Workspace"),
    },
    Operation {
        method: "get",
        path: "/v1/workspaces/{workspace_id}/subscription",
        id: "getSubscription",
        tag: "subscription",
        summary: "The workspace's subscription",
        caller: Caller::Role("member"),
        query: &[],
        body: None,
        reply: resource("The subscription", "Subscription"),
    },
    Operation {
        method: "post",
        path: "/v1/workspaces/{workspace_id}/subscription/plan",
        id: "changePlan",
        tag: "subscription",
        summary: "Move to another plan",
        caller: Caller::Role("owner"),
        query: &[],
        body: Some("ChangePlanRequest"),
        reply: resource("The subscription", "Subscription"),
    },
    Operation {
        method: "post",
        path: "/v1/workspaces/{workspace_id}/subscription/seats",
        id: "changeSeats",
        tag: "subscription",
        summary: "Change the number of seats",
        caller: Caller::Role("owner"),
        query: &[],
        body: Some("ChangeSeatsRequest"),
        reply: resource("The subscription", "Subscription"),
    },
    Operation {
        method: "post",
        path: "/v1/workspaces/{workspace_id}/subscription/cancel",
        id: "cancelSubscription",
        tag: "subscription",
        summary: "Cancel now or at the end of the paid period",
        caller: Caller::Role("owner"),
        query: &[],
        body: Some("CancelRequest"),
        reply: resource("The subscription", "Subscription"),
    },
    Operation {
        method: "post",
        path: "/v1/workspaces/{workspace_id}/subscription/resume",
        id: "resumeSubscription",
        tag: "subscription",
        summary: "Undo a cancel at period end",
        caller: Caller::Role("owner"),
        query: &[],
        body: None,
        reply: resource("The subscription", "Subscription"),
    },
];

/// The OpenAPI 3.1 document.
pub fn openapi() -> Value {
    let mut paths = Map::new();
    for operation in OPERATIONS {
        let item = paths
            .entry(operation.path)
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(item) = item {
            item.insert(operation.method.to_owned(), render(operation));
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "SaaS API",
            "version": "1",
            "description": "The HTTP/JSON API of the SaaS backend. Errors are RFC 9457 problems \
                (application/problem+json) with a stable `code`. Commands take an optional \
                `Idempotency-Key` (a UUID): repeating a command with the same key replays it \
                instead of doing it twice.",
        },
        "tags": [
            {"name": "auth"}, {"name": "account"}, {"name": "workspaces"},
            {"name": "members"}, {"name": "invitations"}, {"name": "subscription"},
            {"name": "feed"},
            {"name": "ops"},
        ],
        "paths": paths,
        "components": components(),
    })
}

/// The path template's parameters, in order (`{workspace_id}` -> `workspace_id`).
pub(crate) fn path_params(path: &str) -> Vec<&str> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .collect()
}

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn response_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/responses/{name}")})
}

fn render(operation: &Operation) -> Value {
    let mut parameters: Vec<Value> = path_params(operation.path)
        .into_iter()
        .map(|name| {
            json!({
                "name": name,
                "in": "path",
                "required": true,
                "description": "A UUID; one that is not answers 404 like an unknown id.",
                "schema": {"type": "string", "format": "uuid"},
            })
        })
        .collect();
    for query in operation.query {
        parameters.push(json!({
            "name": query.name,
            "in": "query",
            "required": false,
            "description": query.description,
            "schema": {"type": query.schema},
        }));
    }
    parameters.push(json!({"$ref": "#/components/parameters/XRequestId"}));
    if operation.method != "get" {
        parameters.push(json!({"$ref": "#/components/parameters/IdempotencyKey"}));
    }

    let mut responses = Map::new();
    let reply = &operation.reply;
    let mut ok = Map::new();
    ok.insert("description".to_owned(), json!(reply.description));
    let mut headers = Map::new();
    headers.insert(
        "X-Request-Id".to_owned(),
        json!({"$ref": "#/components/headers/XRequestId"}),
    );
    if reply.etag {
        headers.insert(
            "ETag".to_owned(),
            json!({"$ref": "#/components/headers/ETag"}),
        );
    }
    ok.insert("headers".to_owned(), Value::Object(headers));
    if let Some((media, schema)) = reply.content {
        ok.insert(
            "content".to_owned(),
            json!({ media: {"schema": schema_ref(schema)} }),
        );
    }
    responses.insert(reply.status.to_string(), Value::Object(ok));

    let needs_token = matches!(
        operation.caller,
        Caller::User | Caller::UserOrTicket | Caller::Role(_)
    );
    if operation.body.is_some() || !operation.query.is_empty() {
        responses.insert("400".to_owned(), response_ref("BadRequest"));
    }
    if needs_token {
        responses.insert("401".to_owned(), response_ref("Unauthorized"));
    }
    if matches!(operation.caller, Caller::Role(role) if role != "member") {
        responses.insert("403".to_owned(), response_ref("Forbidden"));
    }
    if !path_params(operation.path).is_empty() {
        responses.insert("404".to_owned(), response_ref("NotFound"));
    }
    if operation.body.is_some() {
        responses.insert("413".to_owned(), response_ref("PayloadTooLarge"));
        responses.insert("415".to_owned(), response_ref("UnsupportedMediaType"));
    }
    responses.insert("429".to_owned(), response_ref("RateLimited"));
    responses.insert("default".to_owned(), response_ref("Problem"));

    let mut rendered = Map::new();
    rendered.insert("operationId".to_owned(), json!(operation.id));
    rendered.insert("summary".to_owned(), json!(operation.summary));
    rendered.insert("tags".to_owned(), json!([operation.tag]));
    rendered.insert(
        "security".to_owned(),
        if operation.caller == Caller::UserOrTicket {
            json!([{"bearerAuth": []}, {"streamTicket": []}])
        } else if needs_token {
            json!([{"bearerAuth": []}])
        } else {
            json!([])
        },
    );
    if let Caller::Role(role) = operation.caller {
        rendered.insert("x-least-role".to_owned(), json!(role));
    }
    if operation.caller == Caller::AnyoneLimited {
        rendered.insert("x-rate-limit".to_owned(), json!("auth_per_ip"));
    }
    rendered.insert("parameters".to_owned(), Value::Array(parameters));
    if let Some(body) = operation.body {
        rendered.insert(
            "requestBody".to_owned(),
            json!({"required": true, "content": {JSON: {"schema": schema_ref(body)}}}),
        );
    }
    rendered.insert("responses".to_owned(), Value::Object(responses));
    Value::Object(rendered)
}

/// A request body's schema: its properties, and the fields the edge requires.
fn request<T: RequestBody>(properties: Value) -> Value {
    json!({"type": "object", "required": T::REQUIRED, "properties": properties})
}

fn time() -> Value {
    json!({"type": ["string", "null"], "format": "date-time"})
}

const ROLES: [&str; 3] = ["owner", "admin", "member"];

fn components() -> Value {
    let string = json!({"type": "string"});
    let uuid = json!({"type": "string", "format": "uuid"});
    let problem = |description: &str| {
        json!({
            "description": description,
            "headers": {"X-Request-Id": {"$ref": "#/components/headers/XRequestId"}},
            "content": {"application/problem+json": {"schema": schema_ref("Problem")}},
        })
    };
    let mut unauthorized = problem(
        "No valid access token (UNAUTHENTICATED, INVALID_TOKEN, TOKEN_EXPIRED); the login \
         answer too (INVALID_CREDENTIALS)",
    );
    unauthorized["headers"]["WWW-Authenticate"] = json!({
        "description": "Always `Bearer`.",
        "schema": {"type": "string"},
    });
    let mut rate_limited = problem("Too many requests (RATE_LIMITED)");
    rate_limited["headers"]["Retry-After"] = json!({
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "integer", "minimum": 1},
    });
    let mut components = json!({
        "securitySchemes": {
            "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            "streamTicket": {
                "type": "apiKey",
                "in": "query",
                "name": "ticket",
                "description": "A single-use stream ticket, valid for 60 seconds on the edge \
                    replica that issued it (tickets are kept in that replica's memory).",
            },
        },
        "parameters": {
            "XRequestId": {
                "name": "X-Request-Id",
                "in": "header",
                "required": false,
                "description": "A correlation id of 1 to 128 visible ASCII characters, echoed \
                    back; another value is replaced by the request id.",
                "schema": {"type": "string", "maxLength": 128},
            },
            "IdempotencyKey": {
                "name": "Idempotency-Key",
                "in": "header",
                "required": false,
                "description": "A UUID naming this command; a retry with the same key \
                    replays the original answer (400 INVALID_IDEMPOTENCY_KEY when not a UUID).",
                "schema": {"type": "string", "format": "uuid"},
            },
        },
        "headers": {
            "XRequestId": {
                "description": "The correlation id: the client's X-Request-Id, or the request id.",
                "schema": {"type": "string"},
            },
            "ETag": {
                "description": "The resource's version (opaque).",
                "schema": {"type": "string"},
            },
        },
        "responses": {
            "BadRequest": problem("Bad input (MALFORMED_JSON, MISSING_FIELD, INVALID_FIELD, ...)"),
            "Unauthorized": unauthorized,
            "Forbidden": problem("The caller's role is too low (ROLE_REQUIRED)"),
            "NotFound": problem("Unknown id, or a workspace the caller is not a member of"),
            "PayloadTooLarge": problem("The body is over the limit (PAYLOAD_TOO_LARGE)"),
            "UnsupportedMediaType": problem(
                "The body is not sent as application/json (UNSUPPORTED_MEDIA_TYPE)"
            ),
            "RateLimited": rate_limited,
            "Problem": problem("Any other problem"),
        },
        "schemas": {
            "Problem": {
                "type": "object",
                "description": "RFC 9457 problem details.",
                "required": ["type", "title", "status", "detail", "code", "request_id"],
                "properties": {
                    "type": {"type": "string", "format": "uri"},
                    "title": string,
                    "status": {"type": "integer"},
                    "detail": string,
                    "code": {"type": "string", "description": "Stable UPPER_SNAKE reason."},
                    "errors": {"type": "array", "items": schema_ref("FieldError")},
                    "request_id": string,
                },
            },
            "FieldError": {
                "type": "object",
                "required": ["field", "detail"],
                "properties": {"field": string, "detail": string},
            },
            "Status": {
                "type": "object",
                "required": ["status"],
                "properties": {"status": {"type": "string", "const": "ok"}},
            },
            "OpenApiDocument": {"type": "object"},
            "User": {
                "type": "object",
                "required": ["id", "email", "display_name", "status", "email_verified", "etag"],
                "properties": {
                    "id": uuid,
                    "email": {"type": "string", "format": "email"},
                    "display_name": string,
                    "status": {"type": "string", "enum": ["active", "suspended", "erased"]},
                    "email_verified": {"type": "boolean"},
                    "etag": string,
                    "create_time": time(),
                    "update_time": time(),
                },
            },
            "Workspace": {
                "type": "object",
                "required": ["id", "slug", "name", "seat_limit", "seats_in_use", "archived", "etag"],
                "properties": {
                    "id": uuid,
                    "slug": string,
                    "name": string,
                    "seat_limit": {"type": "integer"},
                    "seats_in_use": {
                        "type": "integer",
                        "description": "Members plus pending invitations.",
                    },
                    "archived": {"type": "boolean"},
                    "etag": string,
                    "create_time": time(),
                    "update_time": time(),
                },
            },
            "Member": {
                "type": "object",
                "required": ["user_id", "role"],
                "properties": {
                    "user_id": uuid,
                    "role": {"type": "string", "enum": ROLES},
                    "join_time": time(),
                    "email": {"type": ["string", "null"]},
                    "display_name": {"type": ["string", "null"]},
                },
            },
            "Invitation": {
                "type": "object",
                "required": ["id", "email", "role", "inviter_id", "state"],
                "properties": {
                    "id": uuid,
                    "email": string,
                    "role": {"type": "string", "enum": ROLES},
                    "inviter_id": uuid,
                    "expire_time": time(),
                    "state": {
                        "type": "string",
                        "enum": ["pending", "accepted", "revoked", "expired"],
                    },
                },
            },
            "Money": {
                "type": "object",
                "required": ["amount_minor", "currency"],
                "properties": {
                    "amount_minor": {
                        "type": "integer",
                        "format": "int64",
                        "description": "Minor units (cents).",
                    },
                    "currency": {"type": "string", "description": "ISO 4217, always USD."},
                },
            },
            "Subscription": {
                "type": "object",
                "required": [
                    "id", "workspace_id", "plan", "seats", "status", "cancel_at_period_end",
                    "monthly_amount", "etag",
                ],
                "properties": {
                    "id": uuid,
                    "workspace_id": uuid,
                    "plan": {"type": "string", "enum": ["free", "team", "business"]},
                    "seats": {"type": "integer"},
                    "status": {
                        "type": "string",
                        "enum": ["trialing", "active", "past_due", "canceled"],
                    },
                    "trial_end_time": time(),
                    "period_end_time": time(),
                    "cancel_at_period_end": {"type": "boolean"},
                    "cancel_time": time(),
                    "monthly_amount": schema_ref("Money"),
                    "etag": string,
                    "create_time": time(),
                    "update_time": time(),
                },
            },
            "Tokens": {
                "type": "object",
                "required": [
                    "access_token", "token_type", "expires_in", "refresh_token",
                    "refresh_expires_in", "user_id", "session_id",
                ],
                "properties": {
                    "access_token": string,
                    "token_type": {"type": "string", "const": "Bearer"},
                    "expires_in": {"type": "integer", "description": "Seconds."},
                    "refresh_token": string,
                    "refresh_expires_in": {"type": "integer", "description": "Seconds."},
                    "user_id": uuid,
                    "session_id": uuid,
                },
            },
            "SignUp": {
                "type": "object",
                "required": ["user", "workspace", "subscription"],
                "properties": {
                    "user": schema_ref("User"),
                    "workspace": schema_ref("Workspace"),
                    "subscription": schema_ref("Subscription"),
                },
            },
            "WorkspaceList": {
                "type": "object",
                "required": ["workspaces", "next_page_token"],
                "properties": {
                    "workspaces": {"type": "array", "items": schema_ref("Workspace")},
                    "next_page_token": {
                        "type": ["string", "null"],
                        "description": "null on the last page.",
                    },
                },
            },
            "MemberList": {
                "type": "object",
                "required": ["members"],
                "properties": {"members": {"type": "array", "items": schema_ref("Member")}},
            },
            "InvitationList": {
                "type": "object",
                "required": ["invitations"],
                "properties": {
                    "invitations": {"type": "array", "items": schema_ref("Invitation")},
                },
            },
            "SignUpRequest": request::<SignUpBody>(json!({
                "email": string,
                "password": {"type": "string", "minLength": 12, "maxLength": 128},
                "display_name": string,
                "workspace_name": string,
                "workspace_slug": {"type": "string", "pattern": "^[a-z0-9]([a-z0-9-]*[a-z0-9])?$"},
            })),
            "LoginRequest": request::<LoginBody>(json!({"email": string, "password": string})),
            "RefreshRequest": request::<RefreshBody>(json!({"refresh_token": string})),
            "ChangeDisplayNameRequest": request::<ChangeDisplayNameBody>(json!({
                "display_name": string,
            })),
            "ChangePasswordRequest": request::<ChangePasswordBody>(json!({
                "old_password": string,
                "new_password": {"type": "string", "minLength": 12, "maxLength": 128},
            })),
            "TokenRequest": request::<TokenBody>(json!({"token": string})),
            "PasswordResetRequest": request::<PasswordResetBody>(json!({"email": string})),
            "CompletePasswordResetRequest": request::<CompletePasswordResetBody>(json!({
                "token": string,
                "new_password": {"type": "string", "minLength": 12, "maxLength": 128},
            })),
            "RenameWorkspaceRequest": request::<RenameBody>(json!({"name": string})),
            "ChangeRoleRequest": request::<ChangeRoleBody>(json!({
                "role": {"type": "string", "enum": ROLES},
            })),
            "InviteRequest": request::<InviteBody>(json!({
                "email": string,
                "role": {"type": "string", "enum": ["admin", "member"]},
            })),
            "ChangePlanRequest": request::<ChangePlanBody>(json!({
                "plan": {"type": "string", "enum": ["free", "team", "business"]},
            })),
            "ChangeSeatsRequest": request::<ChangeSeatsBody>(json!({
                "seats": {"type": "integer", "format": "int32", "minimum": 1},
            })),
            "CancelRequest": request::<CancelBody>(json!({"at_period_end": {"type": "boolean"}})),
        },
    });
    if let (Value::Object(schemas), Value::Object(feed)) =
        (&mut components["schemas"], feed_schemas())
    {
        schemas.extend(feed);
    }
    components
}

/// The schemas of the feed routes.
fn feed_schemas() -> Value {
    json!({
        "MarkFeedReadRequest": request::<MarkReadBody>(json!({
            "up_to_sequence": {"type": "integer", "format": "int64", "minimum": 0},
        })),
        "FeedEntry": {
            "type": "object",
            "required": ["sequence", "kind", "workspace_id", "payload"],
            "properties": {
                "sequence": {"type": "integer", "format": "int64"},
                "kind": {"type": "string", "description": "snake_case, e.g. member_joined."},
                "workspace_id": {"type": ["string", "null"], "format": "uuid"},
                "payload": {"type": "object"},
                "create_time": time(),
            },
        },
        "FeedPage": {
            "type": "object",
            "required": ["entries", "reset", "last_sequence"],
            "properties": {
                "entries": {"type": "array", "items": schema_ref("FeedEntry")},
                "reset": {
                    "type": "boolean",
                    "description": "Entries right after `after` were dropped by retention.",
                },
                "last_sequence": {"type": "integer", "format": "int64"},
            },
        },
        "StreamTicket": {
            "type": "object",
            "required": ["ticket", "expires_in"],
            "properties": {
                "ticket": {"type": "string"},
                "expires_in": {"type": "integer", "description": "Seconds."},
            },
        },
        "FeedEventStream": {
            "type": "string",
            "description": "Server-sent events. `id: <sequence>`, `event: entry`, \
                `data: <FeedEntry as JSON>`; `event: reset`, `data: {\"first_sequence\": N}` \
                when the resume point is before the retained range; `:` comments as \
                keep-alives. Reconnect with Last-Event-ID to resume.",
        },
    })
}
