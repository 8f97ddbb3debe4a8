//! The OpenAPI 3.1 document of the edge, generated from the code.
//!
//! Each handler carries its own description (`#[utoipa::path]`: method, path, parameters with
//! their constraints, request body, success answer and the problems only it gives); bodies and
//! views derive their schemas (`ToSchema`) with the constraints the handlers and the domain
//! enforce. [`crate::routes`] registers every handler under its [`Guard`] and adds to its
//! operation what the guard and the edge's layers decide: who may call (`security`,
//! `x-saas-guard`, `x-least-role`, `x-rate-limit`), the problems they answer (400, 401, 403,
//! 404, 413, 415, 429, 500, 503, 504), the request headers, and the links from operations
//! that return ids to those that take them.
//!
//! Fields whose rule JSON Schema cannot state in full say so in their description (reserved
//! slugs, unknown tokens).

use serde::Serialize;
use serde_json::{Value, json};
use utoipa::openapi::extensions::ExtensionsBuilder;
use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBody;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, HeaderBuilder, ObjectBuilder, OpenApi as Document, Ref, RefOr, Required,
    ResponseBuilder, SecurityRequirement, Type,
};
use utoipa::{OpenApi, ToSchema};

use crate::routes::Guard;

/// RFC 9457 problem details, as every error answer carries them
/// (`application/problem+json`).
#[derive(Serialize, ToSchema)]
pub struct Problem {
    /// The problem type: the code in lower-kebab under the product's problem base URI.
    #[schema(format = "uri")]
    pub r#type: String,
    /// The HTTP reason phrase.
    pub title: String,
    #[schema(minimum = 400, maximum = 599)]
    pub status: u16,
    /// What went wrong, safe to show.
    pub detail: String,
    /// A stable UPPER_SNAKE reason, e.g. `WORKSPACE_NOT_FOUND`.
    #[schema(pattern = "^[A-Z][A-Z0-9_]*$")]
    pub code: String,
    /// The offending fields (400 only).
    #[schema(nullable = false)]
    pub errors: Option<Vec<ProblemField>>,
    /// The request's correlation id (the `X-Request-Id` answered).
    pub request_id: Option<String>,
}

/// One offending field of a request.
#[derive(Serialize, ToSchema)]
#[schema(as = FieldError)]
pub struct ProblemField {
    /// The field's path as the client sent it (`email`, `members[0].role`), or a header's
    /// or query parameter's name.
    pub field: String,
    pub detail: String,
}

/// The parts of the document no handler owns.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "saas edge API",
        description = "The JSON API of the multi-tenant SaaS backend. Every error answer is an \
            RFC 9457 problem (`application/problem+json`) with a stable `code`. Each operation \
            names who may call it in `x-saas-guard`.",
    ),
    components(schemas(Problem, ProblemField)),
    tags(
        (name = "ops", description = "Probes and this document"),
        (name = "auth", description = "Sign-up and sessions"),
        (name = "account", description = "The signed-in user's account"),
        (name = "feed", description = "The signed-in user's activity feed"),
        (name = "workspaces", description = "Workspaces, members and invitations"),
        (name = "billing", description = "A workspace's subscription"),
    ),
)]
struct Base;

/// The OpenAPI document, as served at `/openapi.json`.
pub fn openapi() -> Value {
    serde_json::to_value(document()).unwrap_or_else(|error| {
        tracing::error!(%error, "the OpenAPI document cannot be serialised");
        json!({})
    })
}

/// The OpenAPI document: the base, every route's description with its guard's additions,
/// and the links.
pub fn document() -> Document {
    let mut document = Base::openapi();
    document.info.version = env!("CARGO_PKG_VERSION").to_owned();
    let components = document.components.get_or_insert_with(Default::default);
    components.security_schemes.insert(
        "bearerAuth".to_owned(),
        RefOr::T(SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .description(Some(
                    "An access token from login or refresh (valid 5 minutes).",
                ))
                .build(),
        )),
    );
    components.security_schemes.insert(
        "streamTicket".to_owned(),
        RefOr::T(SecurityScheme::ApiKey(ApiKey::Query(
            ApiKeyValue::with_description(
                "ticket",
                "A single-use stream ticket, valid for 60 seconds (on every edge replica when \
                 they share Redis, else on the one that issued it).",
            ),
        ))),
    );
    for route in crate::routes::described_routes() {
        for (schema_name, schema) in route.schemas {
            components.schemas.entry(schema_name).or_insert(schema);
        }
        for (path, mut item) in route.paths.paths {
            for operation in operations_mut(&mut item) {
                describe_guard(operation, route.guard);
                describe_edge(operation);
            }
            match document.paths.paths.get_mut(&path) {
                Some(existing) => existing.merge_operations(item),
                None => {
                    document.paths.paths.insert(path, item);
                }
            }
        }
    }
    add_links(&mut document);
    document
}

fn operations_mut(item: &mut utoipa::openapi::PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.patch.as_mut(),
    ]
    .into_iter()
    .flatten()
}

const PROBLEM_JSON: &str = "application/problem+json";

/// A problem answer with `description`.
fn problem(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            PROBLEM_JSON,
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
        .header("X-Request-Id", request_id_header())
        .build()
}

fn request_id_header() -> utoipa::openapi::Header {
    HeaderBuilder::new()
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(128))
                .pattern(Some("^[!-~]+$")),
        ))
        .description(Some(
            "The correlation id: the client's X-Request-Id when it is 1 to 128 visible ASCII \
             characters, else the request id.",
        ))
        .build()
}

/// Adds `status` unless the operation already describes it.
fn add_problem(operation: &mut Operation, status: &str, description: &str) {
    operation
        .responses
        .responses
        .entry(status.to_owned())
        .or_insert_with(|| RefOr::T(problem(description)));
}

/// What a route's guard adds to its operation: who may call, and the problems it answers.
fn describe_guard(operation: &mut Operation, guard: Guard) {
    let (name, security) = match guard {
        Guard::Open => ("open", vec![]),
        Guard::Credentials => ("credentials", vec![]),
        Guard::User => (
            "user",
            vec![SecurityRequirement::new("bearerAuth", Vec::<String>::new())],
        ),
        Guard::UserOrTicket => (
            "user-or-ticket",
            vec![
                SecurityRequirement::new("bearerAuth", Vec::<String>::new()),
                SecurityRequirement::new("streamTicket", Vec::<String>::new()),
            ],
        ),
        Guard::Workspace(_) => (
            "workspace",
            vec![SecurityRequirement::new("bearerAuth", Vec::<String>::new())],
        ),
    };
    operation.security = Some(security);
    let mut extensions = ExtensionsBuilder::new().add("x-saas-guard", name);
    let who = match guard {
        Guard::Open => "Anyone.".to_owned(),
        Guard::Credentials => {
            extensions = extensions.add("x-rate-limit", "auth_per_ip");
            "Anyone, under the per-IP quota for credentials.".to_owned()
        }
        Guard::User => "A signed-in user.".to_owned(),
        Guard::UserOrTicket => {
            "A signed-in user, or the holder of a single-use stream ticket.".to_owned()
        }
        Guard::Workspace(least) => {
            let least = least.name();
            extensions = extensions.add("x-least-role", least);
            format!(
                "A member of the workspace with at least the role `{least}`; anyone else is \
                 answered 404 WORKSPACE_NOT_FOUND like an unknown workspace."
            )
        }
    };
    let description = match operation.description.take() {
        Some(own) => format!("{own}\n\nWho may call: {who}"),
        None => format!("Who may call: {who}"),
    };
    operation.description = Some(description);
    operation
        .extensions
        .get_or_insert_with(Default::default)
        .merge(extensions.build());

    if guard.needs_token() {
        let mut unauthorized =
            problem("No valid access token (UNAUTHENTICATED, INVALID_TOKEN, TOKEN_EXPIRED)");
        unauthorized.headers.insert(
            "WWW-Authenticate".to_owned(),
            RefOr::T(
                HeaderBuilder::new()
                    .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                    .description(Some("Always `Bearer`."))
                    .build(),
            ),
        );
        operation
            .responses
            .responses
            .entry("401".to_owned())
            .or_insert(RefOr::T(unauthorized));
    }
    if let Guard::Workspace(least) = guard {
        if least != ports_app::Role::Member {
            add_problem(
                operation,
                "403",
                "The caller's role is too low (ROLE_REQUIRED)",
            );
        }
        add_problem(
            operation,
            "404",
            "Unknown id, or a workspace the caller is not a member of",
        );
    }
}

/// What the edge's layers add to every operation: the request headers, the correlation id on
/// every answer, and the problems of bodies, limits and failures.
fn describe_edge(operation: &mut Operation) {
    let parameters = operation.parameters.get_or_insert_with(Vec::new);
    parameters.push(RefOr::T(
        ParameterBuilder::new()
            .name("X-Request-Id")
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some(
                "A correlation id, echoed back when it is 1 to 128 visible ASCII characters; \
                 any other value is replaced by the request id (never refused).",
            ))
            .schema(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .examples([json!("checkout-2f9c41")]),
            ))
            .build(),
    ));
    parameters.push(RefOr::T(
        ParameterBuilder::new()
            .name("Idempotency-Key")
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some(
                "A UUID (hyphenated) naming this command; a retry with the same key replays \
                 the original answer; the same key for a different request is 422 \
                 REQUEST_ID_REUSED, one that is not a UUID 400 INVALID_IDEMPOTENCY_KEY.",
            ))
            .schema(Some(ObjectBuilder::new().schema_type(Type::String).format(
                Some(utoipa::openapi::SchemaFormat::KnownFormat(
                    utoipa::openapi::KnownFormat::Uuid,
                )),
            )))
            .build(),
    ));
    for response in operation.responses.responses.values_mut() {
        if let RefOr::T(response) = response {
            response
                .headers
                .entry("X-Request-Id".to_owned())
                .or_insert_with(|| RefOr::T(request_id_header()));
        }
    }
    let has_body = operation.request_body.is_some();
    if let Some(RefOr::T(body)) = operation.request_body.as_mut() {
        body_required(body);
    }
    add_problem(
        operation,
        "400",
        "Bad input (MALFORMED_JSON, MISSING_FIELD, INVALID_FIELD, INVALID_IDEMPOTENCY_KEY, or a \
         value the domain refuses, with the offending fields)",
    );
    if has_body {
        add_problem(
            operation,
            "413",
            "The body is over the limit (PAYLOAD_TOO_LARGE)",
        );
        add_problem(
            operation,
            "415",
            "The body is not sent as application/json (UNSUPPORTED_MEDIA_TYPE)",
        );
    }
    let mut rate_limited = problem("Too many requests (RATE_LIMITED)");
    rate_limited.headers.insert(
        "Retry-After".to_owned(),
        RefOr::T(
            HeaderBuilder::new()
                .schema(Some(
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .minimum(Some(1)),
                ))
                .description(Some("Seconds to wait before retrying."))
                .build(),
        ),
    );
    operation
        .responses
        .responses
        .entry("429".to_owned())
        .or_insert(RefOr::T(rate_limited));
    if operation.request_body.is_some() || !is_read(operation) {
        add_problem(
            operation,
            "422",
            "A rule refuses it, or its Idempotency-Key was used for a different request \
             (REQUEST_ID_REUSED)",
        );
    }
    add_problem(operation, "500", "An internal error (INTERNAL), logged");
    add_problem(
        operation,
        "503",
        "A service is unavailable or at capacity (UPSTREAM_UNAVAILABLE, OVERLOADED, \
         CLIENT_LIMIT); retry after the Retry-After seconds",
    );
    add_problem(
        operation,
        "504",
        "The request took longer than the edge allows (TIMEOUT)",
    );
}

/// Whether the operation only reads (its id starts with `get` or `list`, or it is a probe).
fn is_read(operation: &Operation) -> bool {
    operation.operation_id.as_deref().is_some_and(|id| {
        id.starts_with("get")
            || id.starts_with("list")
            || matches!(id, "healthz" | "readyz" | "openapi" | "streamFeed")
    })
}

fn body_required(body: &mut RequestBody) {
    body.required = Some(Required::True);
}

/// Links from operations that return ids to those that take them: `(operation, status, link,
/// target operation, parameters)`.
type Link = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

const LINKS: &[Link] = &[
    (
        "signUp",
        "201",
        "GetWorkspace",
        "getWorkspace",
        &[("workspace_id", "$response.body#/workspace/id")],
    ),
    (
        "signUp",
        "201",
        "GetSubscription",
        "getSubscription",
        &[("workspace_id", "$response.body#/workspace/id")],
    ),
    (
        "listWorkspaces",
        "200",
        "GetWorkspace",
        "getWorkspace",
        &[("workspace_id", "$response.body#/workspaces/0/id")],
    ),
    (
        "acceptInvitation",
        "200",
        "GetWorkspace",
        "getWorkspace",
        &[("workspace_id", "$response.body#/id")],
    ),
    (
        "getWorkspace",
        "200",
        "ListMembers",
        "listMembers",
        &[("workspace_id", "$response.body#/id")],
    ),
    (
        "getWorkspace",
        "200",
        "ListInvitations",
        "listInvitations",
        &[("workspace_id", "$response.body#/id")],
    ),
    (
        "getWorkspace",
        "200",
        "GetSubscription",
        "getSubscription",
        &[("workspace_id", "$response.body#/id")],
    ),
    (
        "invite",
        "201",
        "RevokeInvitation",
        "revokeInvitation",
        &[
            ("workspace_id", "$request.path.workspace_id"),
            ("invitation_id", "$response.body#/id"),
        ],
    ),
    (
        "listInvitations",
        "200",
        "RevokeInvitation",
        "revokeInvitation",
        &[
            ("workspace_id", "$request.path.workspace_id"),
            ("invitation_id", "$response.body#/invitations/0/id"),
        ],
    ),
    (
        "listMembers",
        "200",
        "ChangeRole",
        "changeRole",
        &[
            ("workspace_id", "$request.path.workspace_id"),
            ("user_id", "$response.body#/members/0/user_id"),
        ],
    ),
    (
        "listMembers",
        "200",
        "RemoveMember",
        "removeMember",
        &[
            ("workspace_id", "$request.path.workspace_id"),
            ("user_id", "$response.body#/members/0/user_id"),
        ],
    ),
];

fn add_links(document: &mut Document) {
    for (from, status, name, to, parameters) in LINKS {
        let Some(response) = document
            .paths
            .paths
            .values_mut()
            .flat_map(operations_mut)
            .filter(|operation| operation.operation_id.as_deref() == Some(*from))
            .find_map(|operation| operation.responses.responses.get_mut(*status))
        else {
            tracing::error!(from, status, "a link's source operation is not described");
            continue;
        };
        let RefOr::T(response) = response else {
            continue;
        };
        let mut link = LinkBuilder::new().operation_id(*to);
        for (parameter, expression) in *parameters {
            link = link.parameter(*parameter, *expression);
        }
        response
            .links
            .insert((*name).to_owned(), RefOr::T(link.build()));
    }
}
