//! Sign-up, login, refresh, logout and the access-token checks, end to end: every request goes
//! through the HTTP edge of a whole system, and effects are read back over HTTP or gRPC.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use kernel_domain::Clock;
use reqwest::Method;
use saas_proto::{billing::v1 as billing_pb, identity::v1 as identity_pb};
use saas_tests::{Answer, JWT_SECRET, PASSWORD, System};
use serde_json::{Value, json};

/// Asserts that `answer` is an RFC 9457 problem with `status` and `code`.
pub(crate) fn assert_problem(answer: &Answer, status: u16, code: &str) {
    assert_eq!(answer.status, status, "status of {:?}", answer.body);
    assert_eq!(answer.code(), code, "code of {:?}", answer.body);
    assert_eq!(
        answer.body["status"], status,
        "the problem repeats its status"
    );
    assert!(
        answer
            .header("content-type")
            .starts_with("application/problem+json"),
        "content type {:?}",
        answer.header("content-type")
    );
    if status == 401 {
        assert_eq!(answer.header("www-authenticate"), "Bearer");
    }
}

/// The body of an answer without its `request_id`, which differs on every request.
pub(crate) fn without_request_id(answer: &Answer) -> Value {
    let mut body = answer.body.clone();
    if let Some(object) = body.as_object_mut() {
        object.remove("request_id");
    }
    body
}

/// A sign-up form for `email` with the workspace `slug`.
pub(crate) fn sign_up_form(email: &str, slug: &str) -> Value {
    json!({
        "email": email,
        "password": PASSWORD,
        "display_name": "Ada Lovelace",
        "workspace_name": "Analytical Engines",
        "workspace_slug": slug,
    })
}

/// `POST /v1/auth/login`, answered as it is.
pub(crate) async fn try_login(system: &System, email: &str, password: &str) -> Answer {
    system
        .post(
            "/v1/auth/login",
            None,
            json!({ "email": email, "password": password }),
        )
        .await
}

/// `POST /v1/auth/refresh`, answered as it is.
pub(crate) async fn try_refresh(system: &System, refresh_token: &str) -> Answer {
    system
        .post(
            "/v1/auth/refresh",
            None,
            json!({ "refresh_token": refresh_token }),
        )
        .await
}

/// `POST /v1/signup` with an `Idempotency-Key` header.
async fn sign_up_with_key(system: &System, key: uuid::Uuid, form: &Value) -> Answer {
    let response = system
        .http
        .post(system.url("/v1/signup"))
        .header("Idempotency-Key", key.to_string())
        .json(form)
        .send()
        .await
        .expect("edge answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        body,
    }
}

fn str_of<'a>(value: &'a Value, path: &[&str]) -> &'a str {
    let mut at = value;
    for key in path {
        at = &at[*key];
    }
    at.as_str()
        .unwrap_or_else(|| panic!("{path:?} is not text in {value}"))
}

// ---------------------------------------------------------------------------------------------
// Sign-up

#[tokio::test]
async fn sign_up_makes_the_user_an_owner_of_a_workspace_on_a_team_trial() {
    let system = System::spawn().await;
    let answer = system
        .post(
            "/v1/signup",
            None,
            sign_up_form(" Ada@Example.com ", "engines"),
        )
        .await;
    assert_eq!(answer.status, 201, "{:?}", answer.body);
    let user = &answer.body["user"];
    let workspace = &answer.body["workspace"];
    let subscription = &answer.body["subscription"];
    assert_eq!(user["email"], "ada@example.com");
    assert_eq!(user["display_name"], "Ada Lovelace");
    assert_eq!(user["status"], "active");
    assert_eq!(user["email_verified"], false);
    assert!(user.get("password").is_none() && user.get("sessions").is_none());
    assert_eq!(workspace["slug"], "engines");
    assert_eq!(workspace["name"], "Analytical Engines");
    assert_eq!(workspace["seat_limit"], 5);
    assert_eq!(workspace["seats_in_use"], 1);
    assert_eq!(subscription["workspace_id"], workspace["id"]);
    assert_eq!(subscription["plan"], "team");
    assert_eq!(subscription["seats"], 5);
    assert_eq!(subscription["status"], "trialing");
    assert!(subscription["trial_end_time"].is_string());
    assert_eq!(subscription["monthly_amount"]["amount_minor"], 5 * 800);

    // Read back over HTTP as the new user.
    let user_id = str_of(user, &["id"]);
    let workspace_id = str_of(workspace, &["id"]);
    let (access, _) = system.login("ada@example.com", PASSWORD).await;
    let members = system
        .get(&format!("/v1/workspaces/{workspace_id}/members"), &access)
        .await;
    assert_eq!(members.status, 200, "{:?}", members.body);
    assert_eq!(members.body["members"].as_array().map(Vec::len), Some(1));
    assert_eq!(members.body["members"][0]["user_id"], user_id);
    assert_eq!(members.body["members"][0]["role"], "owner");
    let read = system
        .get(
            &format!("/v1/workspaces/{workspace_id}/subscription"),
            &access,
        )
        .await;
    assert_eq!(read.status, 200);
    assert_eq!(read.body["id"], subscription["id"]);
    assert_eq!(read.body["seats"], 5);

    // And over gRPC from the data services themselves.
    let stored = system
        .data
        .subscriptions_client()
        .await
        .lookup_subscription(billing_pb::LookupSubscriptionRequest {
            workspace_id: workspace_id.to_owned(),
        })
        .await
        .expect("the subscription exists")
        .into_inner();
    assert_eq!(stored.id, str_of(subscription, &["id"]));
    assert_eq!(stored.plan(), billing_pb::Plan::Team);
    assert_eq!(stored.status(), billing_pb::SubscriptionStatus::Trialing);
}

#[tokio::test]
async fn sign_up_with_a_taken_email_is_409_email_taken() {
    let system = System::spawn().await;
    system.sign_up("ada@example.com", "engines").await;
    let answer = system
        .post(
            "/v1/signup",
            None,
            sign_up_form("ADA@example.com", "other-slug"),
        )
        .await;
    assert_problem(&answer, 409, "EMAIL_TAKEN");
    // Nothing of the refused sign-up was kept: its slug is still free.
    system.sign_up("grace@example.com", "other-slug").await;
}

#[tokio::test]
async fn sign_up_with_a_taken_slug_is_refused_and_undoes_the_user() {
    let system = System::spawn().await;
    system.sign_up("ada@example.com", "engines").await;
    let answer = system
        .post(
            "/v1/signup",
            None,
            sign_up_form("grace@example.com", "engines"),
        )
        .await;
    assert_problem(&answer, 409, "SLUG_TAKEN");

    // The user registered on the way was erased: Identity no longer knows the email ...
    let lookup = system
        .data
        .users()
        .await
        .lookup_user(identity_pb::LookupUserRequest {
            email: "grace@example.com".into(),
        })
        .await
        .expect_err("the email is free again");
    assert_eq!(lookup.code(), tonic::Code::NotFound);
    // ... the refused sign-up cannot log in ...
    let login = try_login(&system, "grace@example.com", PASSWORD).await;
    assert_problem(&login, 401, "INVALID_CREDENTIALS");
    // ... and the same email signs up again with a free slug.
    let again = system
        .post(
            "/v1/signup",
            None,
            sign_up_form("grace@example.com", "compilers"),
        )
        .await;
    assert_eq!(again.status, 201, "{:?}", again.body);
}

#[tokio::test]
async fn a_sign_up_retried_with_the_same_idempotency_key_makes_everything_once() {
    let system = System::spawn().await;
    let key = uuid::Uuid::now_v7();
    let form = sign_up_form("ada@example.com", "engines");
    let first = sign_up_with_key(&system, key, &form).await;
    assert_eq!(first.status, 201, "{:?}", first.body);
    let second = sign_up_with_key(&system, key, &form).await;
    assert_eq!(second.status, 201, "{:?}", second.body);
    for part in ["user", "workspace", "subscription"] {
        assert_eq!(
            str_of(&first.body, &[part, "id"]),
            str_of(&second.body, &[part, "id"]),
            "{part}"
        );
    }

    let (access, _) = system.login("ada@example.com", PASSWORD).await;
    let list = system.get("/v1/workspaces", &access).await;
    assert_eq!(list.status, 200, "{:?}", list.body);
    let workspaces = list.body["workspaces"].as_array().expect("a list");
    assert_eq!(workspaces.len(), 1, "{workspaces:?}");
    assert_eq!(workspaces[0]["id"], first.body["workspace"]["id"]);

    // The same key with another form is refused (422, as the IETF Idempotency-Key draft
    // has it), naming the header it came in.
    let other = sign_up_with_key(&system, key, &sign_up_form("grace@example.com", "engines")).await;
    assert_problem(&other, 422, "REQUEST_ID_REUSED");
    assert_eq!(
        other.body["errors"][0]["field"], "Idempotency-Key",
        "{:?}",
        other.body
    );
    assert!(
        other.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("Idempotency-Key")),
        "{:?}",
        other.body
    );

    // A new key is a new sign-up, refused because the first one holds the email.
    let third = sign_up_with_key(&system, uuid::Uuid::now_v7(), &form).await;
    assert_problem(&third, 409, "EMAIL_TAKEN");
}

#[tokio::test]
async fn sign_up_with_invalid_fields_is_400_naming_every_field() {
    let system = System::spawn().await;
    let answer = system
        .post(
            "/v1/signup",
            None,
            json!({
                "email": "not an email",
                "password": "short",
                "display_name": "Ada",
                "workspace_name": "Engines",
                "workspace_slug": "engines",
            }),
        )
        .await;
    assert_eq!(answer.status, 400, "{:?}", answer.body);
    let fields = answer.error_fields();
    assert!(fields.contains(&"email"), "{fields:?}");
    assert!(fields.contains(&"password"), "{fields:?}");

    // Every bad field at once, user and workspace alike, named as the form names them.
    let all_bad = system
        .post(
            "/v1/signup",
            None,
            json!({
                "email": "not an email",
                "password": "short",
                "display_name": " ",
                "workspace_name": " ",
                "workspace_slug": "-x",
            }),
        )
        .await;
    assert_problem(&all_bad, 400, "INVALID_EMAIL");
    let fields = all_bad.error_fields();
    assert_eq!(
        fields,
        [
            "email",
            "password",
            "display_name",
            "workspace_name",
            "workspace_slug"
        ]
    );
    let reserved = system
        .post("/v1/signup", None, sign_up_form("ada@example.com", "admin"))
        .await;
    assert_problem(&reserved, 400, "SLUG_RESERVED");
    assert_eq!(reserved.body["errors"][0]["field"], "workspace_slug");

    let missing = system
        .post("/v1/signup", None, json!({ "email": "ada@example.com" }))
        .await;
    assert_problem(&missing, 400, "MISSING_FIELD");
    let missing_fields = missing.error_fields();
    assert_eq!(
        missing_fields,
        [
            "password",
            "display_name",
            "workspace_name",
            "workspace_slug"
        ]
    );

    // Nothing was made: the slug is still free.
    system.sign_up("grace@example.com", "engines").await;
}

#[tokio::test]
async fn sign_up_with_malformed_json_is_400_malformed_json() {
    let system = System::spawn().await;
    let response = system
        .http
        .post(system.url("/v1/signup"))
        .header("content-type", "application/json")
        .body("{\"email\": \"ada@example.com\",")
        .send()
        .await
        .expect("edge answers");
    let answer = Answer {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: response.json().await.unwrap_or(Value::Null),
    };
    assert_problem(&answer, 400, "MALFORMED_JSON");
}

// ---------------------------------------------------------------------------------------------
// Login, refresh, logout

#[tokio::test]
async fn login_refresh_and_logout() {
    let system = System::spawn().await;
    let account = system.sign_up("ada@example.com", "engines").await;

    let login = try_login(&system, "ada@example.com", PASSWORD).await;
    assert_eq!(login.status, 200, "{:?}", login.body);
    assert_eq!(login.header("cache-control"), "no-store");
    assert_eq!(login.body["token_type"], "Bearer");
    let expires_in = login.body["expires_in"].as_i64().expect("expires_in");
    assert!((1..=300).contains(&expires_in), "expires_in {expires_in}");
    assert_eq!(login.body["user_id"], account.user_id.as_str());
    let access = str_of(&login.body, &["access_token"]).to_owned();
    let refresh = str_of(&login.body, &["refresh_token"]).to_owned();
    assert_eq!(system.get("/v1/me", &access).await.status, 200);

    let refreshed = try_refresh(&system, &refresh).await;
    assert_eq!(refreshed.status, 200, "{:?}", refreshed.body);
    let new_access = str_of(&refreshed.body, &["access_token"]);
    assert_ne!(new_access, access);
    assert_eq!(refreshed.body["session_id"], login.body["session_id"]);
    let me = system.get("/v1/me", new_access).await;
    assert_eq!(me.status, 200, "{:?}", me.body);
    assert_eq!(me.body["id"], account.user_id.as_str());

    let logout = system
        .call(Method::POST, "/v1/auth/logout", Some(new_access), None)
        .await;
    assert_eq!(logout.status, 204, "{:?}", logout.body);
    assert_problem(
        &try_refresh(&system, &refresh).await,
        401,
        "INVALID_REFRESH_TOKEN",
    );
    // Other sessions stay open.
    assert_eq!(
        try_refresh(&system, &account.refresh_token).await.status,
        200
    );
}

#[tokio::test]
async fn wrong_password_unknown_email_and_a_locked_account_answer_alike() {
    let system = System::spawn().await;
    system.sign_up("ada@example.com", "engines").await;

    let wrong = try_login(&system, "ada@example.com", "wrong password 123").await;
    assert_problem(&wrong, 401, "INVALID_CREDENTIALS");
    let unknown = try_login(&system, "nobody@example.com", PASSWORD).await;
    assert_problem(&unknown, 401, "INVALID_CREDENTIALS");
    assert_eq!(without_request_id(&wrong), without_request_id(&unknown));

    // The 5th consecutive wrong password locks the account (one is counted above).
    for _ in 1..identity_domain::MAX_CONSECUTIVE_FAILURES {
        let again = try_login(&system, "ada@example.com", "wrong password 123").await;
        assert_eq!(without_request_id(&again), without_request_id(&wrong));
    }
    let locked = try_login(&system, "ada@example.com", PASSWORD).await;
    assert_problem(&locked, 401, "INVALID_CREDENTIALS");
    assert_eq!(without_request_id(&locked), without_request_id(&wrong));
    assert_eq!(
        locked.header("www-authenticate"),
        wrong.header("www-authenticate")
    );

    // Still locked just before the delay ends; open once it has.
    let delay = identity_domain::LOCK_BASE_DELAY;
    system.data.clock.advance(delay - Duration::seconds(1));
    let still = try_login(&system, "ada@example.com", PASSWORD).await;
    assert_eq!(without_request_id(&still), without_request_id(&wrong));
    system.data.clock.advance(Duration::seconds(2));
    let open = try_login(&system, "ada@example.com", PASSWORD).await;
    assert_eq!(open.status, 200, "{:?}", open.body);
}

#[tokio::test]
async fn a_suspended_user_cannot_log_in_or_refresh_and_their_access_ends_with_the_token() {
    let system = System::spawn().await;
    let account = system.sign_up("ada@example.com", "engines").await;
    system
        .data
        .users()
        .await
        .suspend_user(identity_pb::SuspendUserRequest {
            id: account.user_id.clone(),
            request_id: uuid::Uuid::now_v7().to_string(),
            etag: String::new(),
            reason: "abuse".into(),
        })
        .await
        .expect("suspended");

    let login = try_login(&system, &account.email, PASSWORD).await;
    assert_problem(&login, 401, "INVALID_CREDENTIALS");
    let unknown = try_login(&system, "nobody@example.com", PASSWORD).await;
    assert_eq!(without_request_id(&login), without_request_id(&unknown));
    assert_problem(
        &try_refresh(&system, &account.refresh_token).await,
        401,
        "INVALID_REFRESH_TOKEN",
    );

    // The access token already issued works until it expires ...
    let me = system.get("/v1/me", &account.access_token).await;
    assert_eq!(me.status, 200, "{:?}", me.body);
    assert_eq!(me.body["status"], "suspended");
    // ... and not a moment longer.
    system
        .data
        .clock
        .advance(access_app::jwt::ACCESS_TOKEN_TTL + Duration::seconds(1));
    assert_problem(
        &system.get("/v1/me", &account.access_token).await,
        401,
        "TOKEN_EXPIRED",
    );
}

// ---------------------------------------------------------------------------------------------
// Access tokens (RFC 8725) through `GET /v1/me`

/// Claims as the edge's tokens carry them, for forging variants.
fn claims(user_id: &str, session_id: &str, iss: &str, aud: &str, exp: i64) -> Value {
    json!({
        "iss": iss,
        "aud": aud,
        "sub": user_id,
        "sid": session_id,
        "iat": exp - 300,
        "exp": exp,
        "jti": uuid::Uuid::now_v7().to_string(),
    })
}

fn forge(algorithm: Algorithm, typ: Option<&str>, secret: &[u8], claims: &Value) -> String {
    let mut header = Header::new(algorithm);
    header.typ = typ.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(secret)).expect("a token")
}

#[tokio::test]
async fn every_bad_access_token_is_401_with_a_problem_and_a_bearer_challenge() {
    let system = System::spawn().await;
    let account = system.sign_up("ada@example.com", "engines").await;
    let login = try_login(&system, &account.email, PASSWORD).await;
    let user_id = str_of(&login.body, &["user_id"]).to_owned();
    let session_id = str_of(&login.body, &["session_id"]).to_owned();
    let now = system.data.clock.now();
    let exp = (now + Duration::minutes(5)).timestamp();
    let good_claims = claims(&user_id, &session_id, "saas", "saas-api", exp);

    // The forging itself is right: with every part correct the edge lets it in.
    let forged_good = forge(Algorithm::HS256, Some("at+jwt"), JWT_SECRET, &good_claims);
    let me = system.get("/v1/me", &forged_good).await;
    assert_eq!(me.status, 200, "{:?}", me.body);
    assert_eq!(me.body["id"], user_id.as_str());

    let payload = forged_good.split('.').nth(1).expect("a payload").to_owned();
    let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"at+jwt"}"#);
    let other_keys =
        access_app::JwtKeys::from_secret(b"another-secret-0123456789abcdef-0123456789")
            .expect("a key");
    let (other_key_token, _) = other_keys
        .issue_access(
            uuid::Uuid::parse_str(&user_id).unwrap(),
            uuid::Uuid::parse_str(&session_id).unwrap(),
            now,
        )
        .expect("a token");
    let (expired, _) = system
        .keys
        .issue_access(
            uuid::Uuid::parse_str(&user_id).unwrap(),
            uuid::Uuid::parse_str(&session_id).unwrap(),
            now - Duration::minutes(10),
        )
        .expect("a token");

    let cases: Vec<(&str, String, &str)> = vec![
        (
            "alg none",
            format!("{none_header}.{payload}."),
            "INVALID_TOKEN",
        ),
        (
            "alg none keeping a valid signature",
            format!(
                "{none_header}.{payload}.{}",
                forged_good.split('.').nth(2).expect("a signature")
            ),
            "INVALID_TOKEN",
        ),
        ("wrong key", other_key_token, "INVALID_TOKEN"),
        (
            "wrong algorithm (HS512)",
            forge(Algorithm::HS512, Some("at+jwt"), JWT_SECRET, &good_claims),
            "INVALID_TOKEN",
        ),
        (
            "wrong issuer",
            forge(
                Algorithm::HS256,
                Some("at+jwt"),
                JWT_SECRET,
                &claims(&user_id, &session_id, "someone-else", "saas-api", exp),
            ),
            "INVALID_TOKEN",
        ),
        (
            "wrong audience",
            forge(
                Algorithm::HS256,
                Some("at+jwt"),
                JWT_SECRET,
                &claims(&user_id, &session_id, "saas", "saas-refresh", exp),
            ),
            "INVALID_TOKEN",
        ),
        ("expired", expired, "TOKEN_EXPIRED"),
        (
            "wrong type (a refresh token)",
            str_of(&login.body, &["refresh_token"]).to_owned(),
            "INVALID_TOKEN",
        ),
        (
            "no type",
            forge(Algorithm::HS256, None, JWT_SECRET, &good_claims),
            "INVALID_TOKEN",
        ),
        (
            "refresh type with the access audience",
            forge(
                Algorithm::HS256,
                Some("refresh+jwt"),
                JWT_SECRET,
                &good_claims,
            ),
            "INVALID_TOKEN",
        ),
        ("not a JWT", "not-a-jwt".to_owned(), "INVALID_TOKEN"),
    ];
    for (case, token, code) in cases {
        let answer = system.get("/v1/me", &token).await;
        assert_eq!(answer.status, 401, "{case}: {:?}", answer.body);
        assert_eq!(answer.code(), code, "{case}: {:?}", answer.body);
        assert_problem(&answer, 401, code);
        assert!(answer.body["request_id"].is_string(), "{case}");
        assert!(
            !answer.body.to_string().contains(&token),
            "{case}: the problem repeats the token"
        );
    }

    // Without any token at all.
    let bare = system.call(Method::GET, "/v1/me", None, None).await;
    assert_problem(&bare, 401, "UNAUTHENTICATED");
}

#[tokio::test]
async fn an_access_token_stops_working_when_it_expires() {
    let system = System::spawn().await;
    let account = system.sign_up("ada@example.com", "engines").await;
    system.data.clock.advance(Duration::minutes(4));
    assert_eq!(
        system.get("/v1/me", &account.access_token).await.status,
        200
    );
    system
        .data
        .clock
        .advance(Duration::minutes(1) + Duration::seconds(1));
    assert_problem(
        &system.get("/v1/me", &account.access_token).await,
        401,
        "TOKEN_EXPIRED",
    );
    // The refresh token of the session still gives a new one.
    let refreshed = try_refresh(&system, &account.refresh_token).await;
    assert_eq!(refreshed.status, 200, "{:?}", refreshed.body);
    let fresh = str_of(&refreshed.body, &["access_token"]);
    assert_eq!(system.get("/v1/me", fresh).await.status, 200);
}
