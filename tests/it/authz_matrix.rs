//! The authorization matrix of the HTTP edge, written by hand as data and exercised in full
//! against a whole system: every route, for six callers, answers the class the matrix says.
//!
//! Where the expectations come from (PRODUCT.md, "The edge" and the Workspace context): the
//! workspace of a `/v1/workspaces/{workspace_id}/...` route comes from the path and is allowed
//! only after a membership and role check. Reads (the workspace, its members, its
//! subscription) and leaving are for every member; managing invitations (listing, sending,
//! revoking), removing members and renaming are for Admins and Owners ("Owners and Admins
//! invite and remove Members"; the Workspace domain lets Owners and Admins rename); roles and
//! the plan (plan, seats, cancel, resume) are for Owners ("only Owners grant, revoke or remove
//! Owner/Admin roles"). A non-member is answered exactly like an unknown workspace. Routes
//! outside a workspace need a signed-in user, except the open ones (probes, the API
//! description, sign-up, login, refresh, token confirmations, password reset).
//!
//! The tests also check that the router, the OpenAPI document and the matrix list the same
//! routes, that ids of another tenant's objects answer exactly like unknown ids, and that a
//! suspended member keeps access only until their access token expires.

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::Method;
use saas_proto::identity::v1 as identity_pb;
use saas_tests::{Account, Answer, PASSWORD, System};
use serde_json::{Value, json};
use uuid::Uuid;

/// What the edge answers a caller on a route, as far as authorization goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// The guard lets the request through: neither 401, nor 403, nor the tenancy 404
    /// `WORKSPACE_NOT_FOUND`. The handler may still refuse for domain reasons.
    Allowed,
    /// 401: no valid access token.
    Unauthenticated,
    /// 403 `ROLE_REQUIRED`: a member whose role is too low.
    Forbidden,
    /// 404 `WORKSPACE_NOT_FOUND`, identical to an unknown workspace: not a member.
    Hidden,
}

use Outcome::{Allowed as A, Forbidden as F, Hidden as H, Unauthenticated as U};

/// Who calls. Every workspace route is called on the workspace of [`Caller::Owner`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    /// No `Authorization` header at all.
    Anonymous,
    /// A Member of the workspace in the path.
    Member,
    /// An Admin of the workspace in the path.
    Admin,
    /// An Owner of the workspace in the path.
    Owner,
    /// The Owner of another workspace, not a member of the one in the path.
    OtherOwner,
    /// A Member of the workspace in the path, suspended through gRPC after their access token
    /// was issued.
    Suspended,
}

/// The callers, in the order of a row's outcomes.
const CALLERS: [Caller; 6] = [
    Caller::Anonymous,
    Caller::Member,
    Caller::Admin,
    Caller::Owner,
    Caller::OtherOwner,
    Caller::Suspended,
];

/// One route and what each caller gets there.
struct Row {
    method: &'static str,
    /// The path template exactly as the router has it.
    path: &'static str,
    /// Anonymous, Member, Admin, Owner, other workspace's Owner, suspended Member.
    expect: [Outcome; 6],
}

const fn row(method: &'static str, path: &'static str, expect: [Outcome; 6]) -> Row {
    Row {
        method,
        path,
        expect,
    }
}

/// Every route of the edge and who may call it.
///
/// The suspended column: a suspended user can neither log in nor refresh, "and their access
/// ends when the access token expires (at most 5 minutes)" (QUALITY.md; PRODUCT.md: "a
/// suspended user is refused at the next refresh, so access ends within the access token's
/// lifetime"). So an access token issued before the suspension still passes every guard, and
/// the suspended Member's column is the Member's column. That their login and refresh are
/// refused, and that every route answers 401 once the token has expired, is checked in
/// [`a_suspended_member_keeps_access_only_until_the_access_token_expires`].
///
/// The rows run in this order against one system, so the routes that change what later rows
/// see (the password, logout, leaving, erasing the account) come last.
#[rustfmt::skip]
static MATRIX: &[Row] = &[
    // Columns: anonymous, member, admin, owner, other workspace's owner, suspended member.
    row("GET",    "/healthz",                                                  [A, A, A, A, A, A]),
    row("GET",    "/readyz",                                                   [A, A, A, A, A, A]),
    row("GET",    "/openapi.json",                                             [A, A, A, A, A, A]),
    row("POST",   "/v1/signup",                                                [A, A, A, A, A, A]),
    row("POST",   "/v1/auth/login",                                            [A, A, A, A, A, A]),
    row("POST",   "/v1/auth/refresh",                                          [A, A, A, A, A, A]),
    row("POST",   "/v1/email-verification/confirm",                            [A, A, A, A, A, A]),
    row("POST",   "/v1/password-reset",                                        [A, A, A, A, A, A]),
    row("POST",   "/v1/password-reset/confirm",                                [A, A, A, A, A, A]),
    row("GET",    "/v1/me",                                                    [U, A, A, A, A, A]),
    row("PATCH",  "/v1/me",                                                    [U, A, A, A, A, A]),
    row("POST",   "/v1/me/email-verification",                                 [U, A, A, A, A, A]),
    row("GET",    "/v1/me/feed",                                               [U, A, A, A, A, A]),
    row("POST",   "/v1/me/feed/read",                                          [U, A, A, A, A, A]),
    row("POST",   "/v1/me/feed/stream-tickets",                                [U, A, A, A, A, A]),
    row("GET",    "/v1/me/feed/stream",                                        [U, A, A, A, A, A]),
    row("GET",    "/v1/workspaces",                                            [U, A, A, A, A, A]),
    row("GET",    "/v1/workspaces/{workspace_id}",                             [U, A, A, A, H, A]),
    row("PATCH",  "/v1/workspaces/{workspace_id}",                             [U, F, A, A, H, F]),
    row("GET",    "/v1/workspaces/{workspace_id}/members",                     [U, A, A, A, H, A]),
    row("GET",    "/v1/workspaces/{workspace_id}/invitations",                 [U, F, A, A, H, F]),
    row("POST",   "/v1/workspaces/{workspace_id}/invitations",                 [U, F, A, A, H, F]),
    row("GET",    "/v1/workspaces/{workspace_id}/invitations/{invitation_id}", [U, F, A, A, H, F]),
    row("DELETE", "/v1/workspaces/{workspace_id}/invitations/{invitation_id}", [U, F, A, A, H, F]),
    row("PATCH",  "/v1/workspaces/{workspace_id}/members/{user_id}",           [U, F, F, A, H, F]),
    row("DELETE", "/v1/workspaces/{workspace_id}/members/{user_id}",           [U, F, A, A, H, F]),
    row("POST",   "/v1/invitations/accept",                                    [U, A, A, A, A, A]),
    row("GET",    "/v1/workspaces/{workspace_id}/subscription",                [U, A, A, A, H, A]),
    row("POST",   "/v1/workspaces/{workspace_id}/subscription/plan",           [U, F, F, A, H, F]),
    row("POST",   "/v1/workspaces/{workspace_id}/subscription/seats",          [U, F, F, A, H, F]),
    row("POST",   "/v1/workspaces/{workspace_id}/subscription/cancel",         [U, F, F, A, H, F]),
    row("POST",   "/v1/workspaces/{workspace_id}/subscription/resume",         [U, F, F, A, H, F]),
    row("POST",   "/v1/me/password",                                           [U, A, A, A, A, A]),
    row("POST",   "/v1/auth/logout",                                           [U, A, A, A, A, A]),
    row("POST",   "/v1/workspaces/{workspace_id}/leave",                       [U, A, A, A, H, A]),
    row("DELETE", "/v1/me",                                                    [U, A, A, A, A, A]),
];

/// The new password of the routes that set one.
const NEW_PASSWORD: &str = "another correct horse battery";

/// How long the tests wait for a mail that a request already sent.
const MAIL_WAIT: Duration = Duration::from_secs(10);

/// The matrix's routes as `(METHOD, path)`.
fn matrix_routes() -> BTreeSet<(String, String)> {
    MATRIX
        .iter()
        .map(|row| (row.method.to_owned(), row.path.to_owned()))
        .collect()
}

/// The routes an OpenAPI document describes: every path × every operation under it.
fn documented_routes(document: &Value) -> BTreeSet<(String, String)> {
    const OPERATIONS: [&str; 8] = [
        "get", "put", "post", "delete", "options", "head", "patch", "trace",
    ];
    const PATH_ITEM_FIELDS: [&str; 5] = ["$ref", "summary", "description", "servers", "parameters"];
    let paths = document["paths"]
        .as_object()
        .expect("the document has paths");
    let mut routes = BTreeSet::new();
    for (path, item) in paths {
        let item = item.as_object().expect("a path item is an object");
        for key in item.keys() {
            if OPERATIONS.contains(&key.as_str()) {
                routes.insert((key.to_ascii_uppercase(), path.clone()));
            } else {
                assert!(
                    PATH_ITEM_FIELDS.contains(&key.as_str()),
                    "{path} has {key:?}, which is neither an operation nor a path item field"
                );
            }
        }
    }
    routes
}

/// What one set has that the other lacks, for a readable failure.
fn difference(
    left_name: &str,
    left: &BTreeSet<(String, String)>,
    right_name: &str,
    right: &BTreeSet<(String, String)>,
) -> String {
    let only_left: Vec<_> = left.difference(right).collect();
    let only_right: Vec<_> = right.difference(left).collect();
    format!("only in {left_name}: {only_left:?}; only in {right_name}: {only_right:?}")
}

#[test]
fn the_router_the_openapi_document_and_the_matrix_list_the_same_routes() {
    let matrix = matrix_routes();
    assert_eq!(matrix.len(), MATRIX.len(), "a route is in the matrix twice");
    let router = edge_app::route_set();
    assert_eq!(
        router.len(),
        edge_app::routes().len(),
        "a route is in the router twice"
    );
    let documented = documented_routes(&edge_app::openapi());

    assert!(
        matrix == router,
        "the matrix and the router disagree: {}",
        difference("the matrix", &matrix, "the router", &router)
    );
    assert!(
        documented == router,
        "the OpenAPI document and the router disagree: {}",
        difference("the document", &documented, "the router", &router)
    );
}

/// The outcomes a route's guard gives the six callers.
fn guarded_outcomes(guard: edge_app::Guard) -> [Outcome; 6] {
    match guard {
        edge_app::Guard::Open | edge_app::Guard::Credentials => [A; 6],
        // Without a ticket, the stream's guard is the signed-in user's.
        edge_app::Guard::User | edge_app::Guard::UserOrTicket => [U, A, A, A, A, A],
        edge_app::Guard::Workspace(least) => {
            // The role type belongs to the team use cases; its name is enough here.
            let rank = |name: &str| match name {
                "Member" => 0,
                "Admin" => 1,
                "Owner" => 2,
                other => panic!("unknown role {other}"),
            };
            let least = rank(&format!("{least:?}"));
            let may = |role: &str| if rank(role) >= least { A } else { F };
            [
                U,
                may("Member"),
                may("Admin"),
                may("Owner"),
                H,
                may("Member"),
            ]
        }
    }
}

#[test]
fn the_matrix_expects_what_each_route_guard_does() {
    let mut disagreements = Vec::new();
    for route in edge_app::routes() {
        let Some(row) = MATRIX
            .iter()
            .find(|row| row.method == route.method.as_str() && row.path == route.path)
        else {
            disagreements.push(format!(
                "{} {}: not in the matrix",
                route.method, route.path
            ));
            continue;
        };
        let guarded = guarded_outcomes(route.guard);
        if guarded != row.expect {
            disagreements.push(format!(
                "{} {}: the matrix expects {:?}, the guard {:?} gives {guarded:?}",
                route.method, route.path, row.expect, route.guard
            ));
        }
    }
    assert!(
        disagreements.is_empty(),
        "the matrix and the route guards disagree:\n{}",
        disagreements.join("\n")
    );
}

/// Which class an answer falls in.
fn classify(answer: &Answer) -> Outcome {
    match answer.status {
        401 => Outcome::Unauthenticated,
        403 => Outcome::Forbidden,
        404 if answer.code() == "WORKSPACE_NOT_FOUND" => Outcome::Hidden,
        _ => Outcome::Allowed,
    }
}

/// What is wrong with `answer` for a request expected to be `expected`, if anything.
fn check(expected: Outcome, caller: Caller, answer: &Answer) -> Option<String> {
    let got = classify(answer);
    let what = || format!("{} {}", answer.status, answer.body);
    if got != expected {
        return Some(format!("expected {expected:?}, got {got:?}: {}", what()));
    }
    if answer.status >= 500 {
        return Some(format!("a server error: {}", what()));
    }
    match expected {
        Outcome::Allowed => {
            // The request must have reached its handler with a body it could read.
            let unread = matches!(
                answer.code(),
                "ROUTE_NOT_FOUND"
                    | "METHOD_NOT_ALLOWED"
                    | "UNSUPPORTED_MEDIA_TYPE"
                    | "MALFORMED_JSON"
                    | "MISSING_FIELD"
            );
            unread.then(|| format!("the request did not reach its handler: {}", what()))
        }
        Outcome::Unauthenticated => {
            if answer.header("www-authenticate") != "Bearer" {
                Some(format!(
                    "a 401 without WWW-Authenticate: Bearer: {}",
                    what()
                ))
            } else if caller == Caller::Anonymous && answer.code() != "UNAUTHENTICATED" {
                Some(format!("no token should be UNAUTHENTICATED: {}", what()))
            } else {
                None
            }
        }
        Outcome::Forbidden => (answer.code() != "ROLE_REQUIRED")
            .then(|| format!("a 403 other than ROLE_REQUIRED: {}", what())),
        Outcome::Hidden => None,
    }
}

/// A request ready to send.
#[derive(Debug, Clone)]
struct Call {
    method: Method,
    path: String,
    body: Option<Value>,
}

/// The ids a path template is filled with.
#[derive(Debug, Clone)]
struct Ids {
    workspace_id: String,
    user_id: String,
    invitation_id: String,
}

impl Ids {
    /// Ids nothing has.
    fn unknown() -> Ids {
        Ids {
            workspace_id: Uuid::now_v7().to_string(),
            user_id: Uuid::now_v7().to_string(),
            invitation_id: Uuid::now_v7().to_string(),
        }
    }
}

/// `template` with its parameters replaced by `ids`.
fn fill_path(template: &str, ids: &Ids) -> String {
    let path = template
        .replace("{workspace_id}", &ids.workspace_id)
        .replace("{user_id}", &ids.user_id)
        .replace("{invitation_id}", &ids.invitation_id);
    assert!(
        !path.contains('{'),
        "{template} has a parameter the test does not fill"
    );
    path
}

/// A fresh email address and workspace slug.
fn fresh(tag: &str) -> (String, String) {
    let unique = Uuid::now_v7().simple().to_string();
    (
        format!("{tag}-{unique}@example.com"),
        format!("{tag}-{unique}"),
    )
}

/// A token of the right shape (`<uuid simple>.<43 characters>`) that nobody was sent.
fn well_formed_token(target: Uuid) -> String {
    let secret = format!("{}{}", Uuid::now_v7().simple(), Uuid::now_v7().simple());
    format!("{}.{}", target.simple(), &secret[..43])
}

/// A body the route's JSON reading accepts (fields present and well typed); `None` for
/// routes that take none.
fn sample_body(method: &str, path: &str) -> Option<Value> {
    let body = match (method, path) {
        ("POST", "/v1/signup") => {
            let (email, slug) = fresh("signup");
            json!({
                "email": email,
                "password": PASSWORD,
                "display_name": "New Person",
                "workspace_name": "New workspace",
                "workspace_slug": slug,
            })
        }
        ("POST", "/v1/auth/login") => json!({"email": fresh("nobody").0, "password": PASSWORD}),
        ("POST", "/v1/auth/refresh") => json!({"refresh_token": "not-a-refresh-token"}),
        ("POST", "/v1/email-verification/confirm") | ("POST", "/v1/invitations/accept") => {
            json!({"token": well_formed_token(Uuid::now_v7())})
        }
        ("POST", "/v1/password-reset") => json!({"email": fresh("reset").0}),
        ("POST", "/v1/password-reset/confirm") => json!({
            "token": well_formed_token(Uuid::now_v7()),
            "new_password": NEW_PASSWORD,
        }),
        ("PATCH", "/v1/me") => json!({"display_name": "Renamed Person"}),
        ("POST", "/v1/me/feed/read") => json!({"up_to_sequence": 0}),
        ("POST", "/v1/me/password") => json!({
            "old_password": PASSWORD,
            "new_password": NEW_PASSWORD,
        }),
        ("PATCH", "/v1/workspaces/{workspace_id}") => json!({"name": "Renamed workspace"}),
        ("PATCH", "/v1/workspaces/{workspace_id}/members/{user_id}") => json!({"role": "admin"}),
        ("POST", "/v1/workspaces/{workspace_id}/invitations") => {
            json!({"email": fresh("invitee").0, "role": "member"})
        }
        ("POST", "/v1/workspaces/{workspace_id}/subscription/plan") => json!({"plan": "business"}),
        ("POST", "/v1/workspaces/{workspace_id}/subscription/seats") => json!({"seats": 35}),
        ("POST", "/v1/workspaces/{workspace_id}/subscription/cancel") => {
            json!({"at_period_end": true})
        }
        _ => return None,
    };
    Some(body)
}

/// The request for `row` with `ids` in its path and a sample body.
fn plain_call(row: &Row, ids: &Ids) -> Call {
    Call {
        method: Method::from_bytes(row.method.as_bytes()).expect("an HTTP method"),
        path: fill_path(row.path, ids),
        body: sample_body(row.method, row.path),
    }
}

async fn send(system: &System, call: &Call, token: Option<&str>) -> Answer {
    if call.path == FEED_STREAM {
        return open_stream(system, token).await;
    }
    system
        .call(call.method.clone(), &call.path, token, call.body.clone())
        .await
}

/// The feed stream, whose body never ends.
const FEED_STREAM: &str = "/v1/me/feed/stream";

/// Opens the feed stream and answers its status and headers; the body is read only when it
/// is a problem (a stream that opened is closed again at once).
async fn open_stream(system: &System, token: Option<&str>) -> Answer {
    let mut request = system.http.get(system.url(FEED_STREAM));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("edge answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = if status == 200 {
        Value::Null
    } else {
        let bytes = response.bytes().await.expect("body");
        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
    };
    Answer {
        status,
        headers,
        body,
    }
}

/// Has `owner` invite a fresh address as a Member and answers the invitation's id.
async fn pending_invitation(system: &System, owner: &Account) -> String {
    let answer = system
        .post(
            &format!("/v1/workspaces/{}/invitations", owner.workspace_id),
            Some(&owner.access_token),
            json!({"email": fresh("pending").0, "role": "member"}),
        )
        .await;
    assert_eq!(answer.status, 201, "invite: {}", answer.body);
    answer.body["id"]
        .as_str()
        .expect("the invitation's id")
        .to_owned()
}

/// Has `owner` set the seats of their workspace.
async fn set_seats(system: &System, owner: &Account, seats: i32) {
    let answer = system
        .post(
            &format!("/v1/workspaces/{}/subscription/seats", owner.workspace_id),
            Some(&owner.access_token),
            json!({"seats": seats}),
        )
        .await;
    assert_eq!(answer.status, 200, "seats: {}", answer.body);
}

/// Suspends `user` through the Identity data service.
async fn suspend(system: &System, user: &Account) {
    system
        .data
        .users()
        .await
        .suspend_user(identity_pb::SuspendUserRequest {
            id: user.user_id.clone(),
            request_id: Uuid::now_v7().to_string(),
            etag: String::new(),
            reason: "abuse report".into(),
        })
        .await
        .expect("suspend the user");
}

/// The workspace of the matrix and its callers.
struct Fixture {
    owner: Account,
    admin: Account,
    member: Account,
    other_owner: Account,
    suspended: Account,
    /// Owns a workspace that invites each caller, for the accept route.
    host: Account,
    /// Whose credentials the login and refresh routes are called with.
    login_target: Account,
    /// Whose password the password reset routes reset.
    reset_target: Account,
}

impl Fixture {
    async fn new(system: &System) -> Fixture {
        let owner = system.sign_up("owner@example.com", "matrix-owner").await;
        // Room for everyone the matrix adds: victims of the member routes and invitations.
        set_seats(system, &owner, 30).await;
        let admin = system
            .join(&owner, "admin@example.com", "matrix-admin", "admin")
            .await;
        let member = system
            .join(&owner, "member@example.com", "matrix-member", "member")
            .await;
        let suspended = system
            .join(
                &owner,
                "suspended@example.com",
                "matrix-suspended",
                "member",
            )
            .await;
        let other_owner = system.sign_up("other@example.com", "matrix-other").await;
        let host = system.sign_up("host@example.com", "matrix-host").await;
        set_seats(system, &host, 10).await;
        let login_target = system.sign_up("login@example.com", "matrix-login").await;
        let reset_target = system.sign_up("reset@example.com", "matrix-reset").await;
        suspend(system, &suspended).await;
        Fixture {
            owner,
            admin,
            member,
            other_owner,
            suspended,
            host,
            login_target,
            reset_target,
        }
    }

    fn account(&self, caller: Caller) -> Option<&Account> {
        match caller {
            Caller::Anonymous => None,
            Caller::Member => Some(&self.member),
            Caller::Admin => Some(&self.admin),
            Caller::Owner => Some(&self.owner),
            Caller::OtherOwner => Some(&self.other_owner),
            Caller::Suspended => Some(&self.suspended),
        }
    }

    fn token(&self, caller: Caller) -> Option<&str> {
        self.account(caller)
            .map(|account| account.access_token.as_str())
    }

    /// A real request of `caller` on `row`: real ids, and real tokens where a route takes
    /// one, made just before so that the request can succeed if the guard lets it through.
    async fn call(&self, system: &System, row: &Row, caller: Caller) -> Call {
        let mut ids = Ids {
            workspace_id: self.owner.workspace_id.clone(),
            user_id: self.member.user_id.clone(),
            invitation_id: Uuid::now_v7().to_string(),
        };
        let mut body = sample_body(row.method, row.path);
        match (row.method, row.path) {
            ("POST", "/v1/auth/login") => {
                body = Some(json!({"email": self.login_target.email, "password": PASSWORD}));
            }
            ("POST", "/v1/auth/refresh") => {
                let (_, refresh_token) = system.login(&self.login_target.email, PASSWORD).await;
                body = Some(json!({"refresh_token": refresh_token}));
            }
            ("POST", "/v1/email-verification/confirm") => {
                let (email, slug) = fresh("verify");
                let account = system.sign_up(&email, &slug).await;
                let started = system
                    .call(
                        Method::POST,
                        "/v1/me/email-verification",
                        Some(&account.access_token),
                        None,
                    )
                    .await;
                assert_eq!(started.status, 202, "start verification: {}", started.body);
                let mail = system
                    .mailer
                    .wait_for_mail(&email, ports_app::MailKind::EmailVerification, MAIL_WAIT)
                    .await
                    .expect("the verification mail");
                body = Some(json!({"token": mail.token}));
            }
            ("POST", "/v1/password-reset/confirm") => {
                let email = self.reset_target.email.clone();
                let kind = ports_app::MailKind::PasswordReset;
                let previous = system.mailer.latest(&email, kind).map(|mail| mail.token);
                let asked = system
                    .post("/v1/password-reset", None, json!({"email": email}))
                    .await;
                assert_eq!(asked.status, 202, "ask for a reset: {}", asked.body);
                let mail = system
                    .mailer
                    .wait_for(
                        |mail| {
                            mail.kind == kind
                                && mail.to.eq_ignore_ascii_case(&email)
                                && Some(&mail.token) != previous.as_ref()
                        },
                        MAIL_WAIT,
                    )
                    .await
                    .expect("a new reset mail");
                body = Some(json!({"token": mail.token, "new_password": NEW_PASSWORD}));
            }
            ("PATCH" | "DELETE", "/v1/workspaces/{workspace_id}/members/{user_id}") => {
                let (email, slug) = fresh("victim");
                let victim = system.join(&self.owner, &email, &slug, "member").await;
                ids.user_id = victim.user_id;
            }
            (_, "/v1/workspaces/{workspace_id}/invitations/{invitation_id}") => {
                ids.invitation_id = pending_invitation(system, &self.owner).await;
            }
            ("POST", "/v1/invitations/accept") => {
                let email = self
                    .account(caller)
                    .map_or_else(|| fresh("anonymous").0, |account| account.email.clone());
                let token = system.invite(&self.host, &email, "member").await;
                body = Some(json!({"token": token}));
            }
            _ => {}
        }
        Call {
            method: Method::from_bytes(row.method.as_bytes()).expect("an HTTP method"),
            path: fill_path(row.path, &ids),
            body,
        }
    }
}

#[tokio::test]
async fn every_route_answers_every_caller_as_the_matrix_says() {
    let system = System::spawn().await;
    let fixture = Fixture::new(&system).await;

    let mut failures = Vec::new();
    let mut observed = Vec::new();
    let mut requests = 0;
    for row in MATRIX {
        let mut statuses = Vec::new();
        for (caller, expected) in CALLERS.into_iter().zip(row.expect) {
            let call = fixture.call(&system, row, caller).await;
            let answer = send(&system, &call, fixture.token(caller)).await;
            requests += 1;
            if let Some(problem) = check(expected, caller, &answer) {
                failures.push(format!(
                    "{} {} as {caller:?} ({} {}): {problem}",
                    row.method, row.path, call.method, call.path
                ));
            }
            statuses.push(format!("{}", answer.status));
        }
        observed.push(format!(
            "{:>6} {:<58} {}",
            row.method,
            row.path,
            statuses.join(" ")
        ));
    }
    println!(
        "authorization matrix, {requests} requests (anonymous, member, admin, owner, \
         other owner, suspended):\n{}",
        observed.join("\n")
    );
    assert_eq!(requests, MATRIX.len() * CALLERS.len());
    assert!(
        failures.is_empty(),
        "{} of {requests} requests answered against the matrix:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn a_suspended_member_keeps_access_only_until_the_access_token_expires() {
    let system = System::spawn().await;
    let owner = system.sign_up("owner@example.com", "expiry-owner").await;
    let member = system
        .join(&owner, "member@example.com", "expiry-member", "member")
        .await;
    let suspended = system
        .join(
            &owner,
            "suspended@example.com",
            "expiry-suspended",
            "member",
        )
        .await;
    let invitation_id = pending_invitation(&system, &owner).await;
    suspend(&system, &suspended).await;

    // Neither login nor refresh works any more, with the right password and a refresh token
    // issued before the suspension.
    let login = system
        .post(
            "/v1/auth/login",
            None,
            json!({"email": suspended.email, "password": suspended.password}),
        )
        .await;
    assert_eq!(login.status, 401, "login when suspended: {}", login.body);
    let refresh = system
        .post(
            "/v1/auth/refresh",
            None,
            json!({"refresh_token": suspended.refresh_token}),
        )
        .await;
    assert_eq!(
        refresh.status, 401,
        "refresh when suspended: {}",
        refresh.body
    );
    // The same refresh works for a member who is not suspended.
    let control = system
        .post(
            "/v1/auth/refresh",
            None,
            json!({"refresh_token": member.refresh_token}),
        )
        .await;
    assert_eq!(
        control.status, 200,
        "refresh of an active member: {}",
        control.body
    );

    // The access token issued before the suspension still works until it expires.
    let workspace_path = format!("/v1/workspaces/{}", owner.workspace_id);
    let before = system.get(&workspace_path, &suspended.access_token).await;
    assert_eq!(before.status, 200, "before expiry: {}", before.body);

    system
        .data
        .clock
        .advance(chrono::Duration::minutes(5) + chrono::Duration::seconds(1));

    let ids = Ids {
        workspace_id: owner.workspace_id.clone(),
        user_id: member.user_id.clone(),
        invitation_id,
    };
    let mut failures = Vec::new();
    let mut checked = 0;
    for row in MATRIX.iter().filter(|row| row.expect[0] == U) {
        let call = plain_call(row, &ids);
        let answer = send(&system, &call, Some(&suspended.access_token)).await;
        checked += 1;
        if answer.status != 401 || answer.header("www-authenticate") != "Bearer" {
            failures.push(format!(
                "{} {}: {} {}",
                row.method, row.path, answer.status, answer.body
            ));
        }
    }
    assert!(checked > 0, "the matrix has authenticated routes");
    assert!(
        failures.is_empty(),
        "routes still open to the suspended member's expired token:\n{}",
        failures.join("\n")
    );

    // The 401s are the token's age, not the system: a fresh login of the owner works.
    let (fresh_token, _) = system.login(&owner.email, PASSWORD).await;
    let after = system.get(&workspace_path, &fresh_token).await;
    assert_eq!(
        after.status, 200,
        "a fresh token after the wait: {}",
        after.body
    );
}

/// An answer without what differs on every request.
fn comparable(answer: &Answer) -> (u16, String, Value) {
    let mut body = answer.body.clone();
    if let Some(object) = body.as_object_mut() {
        object.remove("request_id");
    }
    (
        answer.status,
        answer.header("content-type").to_owned(),
        body,
    )
}

#[tokio::test]
async fn ids_of_another_tenant_answer_exactly_like_unknown_ids() {
    let system = System::spawn().await;
    let a = system.sign_up("a-owner@example.com", "tenant-a").await;
    let a_member = system
        .join(&a, "a-member@example.com", "tenant-a-member", "member")
        .await;
    let b = system.sign_up("b-owner@example.com", "tenant-b").await;
    let b_member = system
        .join(&b, "b-member@example.com", "tenant-b-member", "member")
        .await;
    let b_invitation = pending_invitation(&system, &b).await;
    let a_invitee = "a-invitee@example.com";
    let a_token = system.invite(&a, a_invitee, "member").await;

    let theirs = Ids {
        workspace_id: b.workspace_id.clone(),
        user_id: b_member.user_id.clone(),
        invitation_id: b_invitation.clone(),
    };
    let mut failures = Vec::new();
    let mut compare = |what: String, reference: &Answer, other: &Answer| {
        if comparable(reference) != comparable(other) {
            failures.push(format!(
                "{what}: {} {} vs {} {}",
                reference.status, reference.body, other.status, other.body
            ));
        }
    };

    // Another workspace's id, in every workspace route, as the Owner of one's own workspace,
    // answers like an unknown workspace id and like one that is not a UUID.
    let mut workspace_routes = 0;
    for row in MATRIX
        .iter()
        .filter(|row| row.path.contains("{workspace_id}"))
    {
        workspace_routes += 1;
        let call = plain_call(row, &theirs);
        let unknown = Call {
            path: fill_path(row.path, &Ids::unknown()),
            ..call.clone()
        };
        let garbled = Call {
            path: fill_path(
                row.path,
                &Ids {
                    workspace_id: "not-a-uuid".into(),
                    ..Ids::unknown()
                },
            ),
            ..call.clone()
        };
        let answer = send(&system, &call, Some(&a.access_token)).await;
        assert_eq!(
            (answer.status, answer.code()),
            (404, "WORKSPACE_NOT_FOUND"),
            "{} {} with another tenant's ids: {}",
            row.method,
            row.path,
            answer.body
        );
        let route = format!("{} {}", row.method, row.path);
        compare(
            format!("{route}: another workspace vs an unknown one"),
            &answer,
            &send(&system, &unknown, Some(&a.access_token)).await,
        );
        compare(
            format!("{route}: another workspace vs a non-UUID"),
            &answer,
            &send(&system, &garbled, Some(&a.access_token)).await,
        );
    }
    assert!(workspace_routes > 0, "the matrix has workspace routes");

    // Another workspace's members and invitations, in one's own workspace, answer like
    // unknown ids of their kind.
    let ours = |user_id: &str, invitation_id: &str| Ids {
        workspace_id: a.workspace_id.clone(),
        user_id: user_id.to_owned(),
        invitation_id: invitation_id.to_owned(),
    };
    let mut object_routes = 0;
    for row in MATRIX
        .iter()
        .filter(|row| row.path.contains("{user_id}") || row.path.contains("{invitation_id}"))
    {
        let (expected_code, foreign_ids): (&str, Vec<Ids>) = if row.path.contains("{user_id}") {
            (
                "MEMBER_NOT_FOUND",
                vec![
                    ours(&b_member.user_id, &b_invitation),
                    ours(&b.user_id, &b_invitation),
                ],
            )
        } else {
            (
                "INVITATION_NOT_FOUND",
                vec![ours(&a_member.user_id, &b_invitation)],
            )
        };
        let unknown_ids = ours(&Uuid::now_v7().to_string(), &Uuid::now_v7().to_string());
        let garbled_ids = ours("not-a-uuid", "not-a-uuid");
        let template = plain_call(row, &unknown_ids);
        let unknown = send(&system, &template, Some(&a.access_token)).await;
        assert_eq!(
            (unknown.status, unknown.code()),
            (404, expected_code),
            "{} {} with an unknown id: {}",
            row.method,
            row.path,
            unknown.body
        );
        let route = format!("{} {}", row.method, row.path);
        let garbled = Call {
            path: fill_path(row.path, &garbled_ids),
            ..template.clone()
        };
        compare(
            format!("{route}: an unknown id vs a non-UUID"),
            &unknown,
            &send(&system, &garbled, Some(&a.access_token)).await,
        );
        for ids in foreign_ids {
            object_routes += 1;
            let foreign = Call {
                path: fill_path(row.path, &ids),
                ..template.clone()
            };
            compare(
                format!(
                    "{route} ({}): another tenant's id vs an unknown one",
                    foreign.path
                ),
                &unknown,
                &send(&system, &foreign, Some(&a.access_token)).await,
            );
        }
    }
    assert!(
        object_routes > 0,
        "the matrix has member and invitation routes"
    );

    // Workspace A's invitation token, presented by someone it was not sent to, answers like
    // a well-formed token nobody was sent, for an unknown workspace or for A.
    let accept = |token: &str| {
        system.post(
            "/v1/invitations/accept",
            Some(&b.access_token),
            json!({"token": token}),
        )
    };
    let presented = accept(&a_token).await;
    assert!(
        presented.status >= 400 && presented.status < 500,
        "an invitation token accepted by someone it was not sent to: {} {}",
        presented.status,
        presented.body
    );
    let a_id = Uuid::try_parse(&a.workspace_id).expect("a workspace id");
    compare(
        "A's invitation token vs a made-up token for an unknown workspace".into(),
        &presented,
        &accept(&well_formed_token(Uuid::now_v7())).await,
    );
    compare(
        "A's invitation token vs a made-up token for A".into(),
        &presented,
        &accept(&well_formed_token(a_id)).await,
    );
    assert!(
        failures.is_empty(),
        "another tenant's ids answer differently from unknown ones:\n{}",
        failures.join("\n")
    );

    // Nothing above touched B: its member and its invitation are still there.
    let members = system
        .get(
            &format!("/v1/workspaces/{}/members", b.workspace_id),
            &b.access_token,
        )
        .await;
    assert_eq!(members.status, 200, "{}", members.body);
    assert!(
        members.body.to_string().contains(&b_member.user_id),
        "B's member is gone: {}",
        members.body
    );
    let invitations = system
        .get(
            &format!("/v1/workspaces/{}/invitations", b.workspace_id),
            &b.access_token,
        )
        .await;
    assert_eq!(invitations.status, 200, "{}", invitations.body);
    let still_pending = invitations.body["invitations"]
        .as_array()
        .expect("invitations")
        .iter()
        .any(|invitation| {
            invitation["id"] == b_invitation.as_str() && invitation["state"] == "pending"
        });
    assert!(
        still_pending,
        "B's invitation changed: {}",
        invitations.body
    );

    // And A's token was a real one: its invitee accepts with it.
    let invitee = system.sign_up(a_invitee, "tenant-a-invitee").await;
    let accepted = system
        .post(
            "/v1/invitations/accept",
            Some(&invitee.access_token),
            json!({"token": a_token}),
        )
        .await;
    assert_eq!(
        accepted.status, 200,
        "the invitee accepts: {}",
        accepted.body
    );
}
