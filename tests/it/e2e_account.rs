//! The account use cases end to end through the HTTP edge: me, display name, password
//! change, email verification, password reset and erasure.

use ports_app::MailKind;
use reqwest::Method;
use saas_tests::{PASSWORD, System};
use serde_json::json;

use crate::e2e_access::{assert_problem, sign_up_form, try_login, try_refresh, without_request_id};

const NEW_PASSWORD: &str = "a brand new passphrase 42";

/// A token of the right shape for `user_id` that was never issued.
fn forged_token(user_id: &str) -> String {
    let id = uuid::Uuid::parse_str(user_id).expect("a user id");
    format!("{}.{}", id.simple(), "A".repeat(43))
}

#[tokio::test]
async fn me_shows_the_signed_in_user_and_a_new_display_name() {
    let system = System::spawn().await;
    let account = system.sign_up("ada@example.com", "engines").await;
    let me = system.get("/v1/me", &account.access_token).await;
    assert_eq!(me.status, 200, "{:?}", me.body);
    assert_eq!(me.body["id"], account.user_id.as_str());
    assert_eq!(me.body["email"], "ada@example.com");
    assert_eq!(me.body["display_name"], "ada");
    assert_eq!(me.body["status"], "active");
    assert!(!me.header("etag").is_empty());

    let renamed = system
        .call(
            Method::PATCH,
            "/v1/me",
            Some(&account.access_token),
            Some(json!({ "display_name": "  Countess Lovelace " })),
        )
        .await;
    assert_eq!(renamed.status, 200, "{:?}", renamed.body);
    assert_eq!(renamed.body["display_name"], "Countess Lovelace");
    assert_ne!(renamed.header("etag"), me.header("etag"));
    let again = system.get("/v1/me", &account.access_token).await;
    assert_eq!(again.body["display_name"], "Countess Lovelace");

    let bad = system
        .call(
            Method::PATCH,
            "/v1/me",
            Some(&account.access_token),
            Some(json!({ "display_name": "   " })),
        )
        .await;
    assert_problem(&bad, 400, "INVALID_DISPLAY_NAME");
    assert_eq!(bad.body["errors"][0]["field"], "display_name");
    let unchanged = system.get("/v1/me", &account.access_token).await;
    assert_eq!(unchanged.body["display_name"], "Countess Lovelace");
}

#[tokio::test]
async fn changing_the_password_needs_the_old_one_and_ends_every_session() {
    let system = System::spawn().await;
    let account = system.sign_up("ada@example.com", "engines").await;
    let (_, other_refresh) = system.login(&account.email, PASSWORD).await;

    let wrong = system
        .post(
            "/v1/me/password",
            Some(&account.access_token),
            json!({ "old_password": "not the password", "new_password": NEW_PASSWORD }),
        )
        .await;
    assert_problem(&wrong, 403, "WRONG_PASSWORD");
    // Refused means nothing changed: the sessions and the old password still work.
    assert_eq!(
        try_refresh(&system, &account.refresh_token).await.status,
        200
    );
    let (access, _) = system.login(&account.email, PASSWORD).await;

    let changed = system
        .post(
            "/v1/me/password",
            Some(&access),
            json!({ "old_password": PASSWORD, "new_password": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(changed.status, 204, "{:?}", changed.body);
    for refresh in [&account.refresh_token, &other_refresh] {
        assert_problem(
            &try_refresh(&system, refresh).await,
            401,
            "INVALID_REFRESH_TOKEN",
        );
    }
    assert_problem(
        &try_login(&system, &account.email, PASSWORD).await,
        401,
        "INVALID_CREDENTIALS",
    );
    assert_eq!(
        try_login(&system, &account.email, NEW_PASSWORD)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn email_verification_with_the_mailed_token_works_once() {
    let system = System::spawn().await;
    let account = system.sign_up("ada@example.com", "engines").await;
    assert_eq!(
        system.get("/v1/me", &account.access_token).await.body["email_verified"],
        false
    );

    let started = system
        .call(
            Method::POST,
            "/v1/me/email-verification",
            Some(&account.access_token),
            None,
        )
        .await;
    assert_eq!(started.status, 202, "{:?}", started.body);
    let mail = system
        .mailer
        .latest(&account.email, MailKind::EmailVerification)
        .expect("a verification mail");
    assert!(mail.text.contains(&mail.token));
    assert!(
        !started.body.to_string().contains(&mail.token),
        "the token goes by mail only"
    );

    // A token that was never issued is refused and uses nothing up.
    let forged = system
        .post(
            "/v1/email-verification/confirm",
            None,
            json!({ "token": forged_token(&account.user_id) }),
        )
        .await;
    assert_problem(&forged, 422, "TOKEN_INVALID");
    let garbage = system
        .post(
            "/v1/email-verification/confirm",
            None,
            json!({ "token": "garbage" }),
        )
        .await;
    assert_problem(&garbage, 400, "INVALID_TOKEN");

    let confirmed = system
        .post(
            "/v1/email-verification/confirm",
            None,
            json!({ "token": mail.token }),
        )
        .await;
    assert_eq!(confirmed.status, 204, "{:?}", confirmed.body);
    assert_eq!(
        system.get("/v1/me", &account.access_token).await.body["email_verified"],
        true
    );

    let reused = system
        .post(
            "/v1/email-verification/confirm",
            None,
            json!({ "token": mail.token }),
        )
        .await;
    assert_problem(&reused, 422, "TOKEN_INVALID");
}

#[tokio::test]
async fn password_reset_answers_alike_for_unknown_emails_and_sets_the_password_with_the_token() {
    let system = System::spawn().await;
    let account = system.sign_up("ada@example.com", "engines").await;

    let known = system
        .post(
            "/v1/password-reset",
            None,
            json!({ "email": "ada@example.com" }),
        )
        .await;
    let unknown = system
        .post(
            "/v1/password-reset",
            None,
            json!({ "email": "nobody@example.com" }),
        )
        .await;
    assert_eq!(known.status, 202, "{:?}", known.body);
    assert_eq!(unknown.status, 202, "{:?}", unknown.body);
    assert_eq!(without_request_id(&known), without_request_id(&unknown));
    let resets: Vec<_> = system
        .mailer
        .sent()
        .into_iter()
        .filter(|mail| mail.kind == MailKind::PasswordReset)
        .collect();
    assert_eq!(resets.len(), 1, "{resets:?}");
    assert_eq!(resets[0].to, "ada@example.com");
    let token = resets[0].token.clone();

    let wrong = system
        .post(
            "/v1/password-reset/confirm",
            None,
            json!({ "token": forged_token(&account.user_id), "new_password": NEW_PASSWORD }),
        )
        .await;
    assert_problem(&wrong, 422, "TOKEN_INVALID");
    let garbage = system
        .post(
            "/v1/password-reset/confirm",
            None,
            json!({ "token": "garbage", "new_password": NEW_PASSWORD }),
        )
        .await;
    assert_problem(&garbage, 400, "INVALID_TOKEN");
    // The whole request is checked first: both bad fields at once, named as sent.
    let all_bad = system
        .post(
            "/v1/password-reset/confirm",
            None,
            json!({ "token": "garbage", "new_password": "short" }),
        )
        .await;
    assert_problem(&all_bad, 400, "INVALID_TOKEN");
    let fields = all_bad.error_fields();
    assert_eq!(fields, ["token", "new_password"]);
    let short = system
        .post(
            "/v1/password-reset/confirm",
            None,
            json!({ "token": token, "new_password": "short" }),
        )
        .await;
    assert_problem(&short, 400, "INVALID_PASSWORD");
    // The wrong tokens changed nothing.
    assert_eq!(
        try_login(&system, &account.email, PASSWORD).await.status,
        200
    );

    let done = system
        .post(
            "/v1/password-reset/confirm",
            None,
            json!({ "token": token, "new_password": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(done.status, 204, "{:?}", done.body);
    assert_problem(
        &try_login(&system, &account.email, PASSWORD).await,
        401,
        "INVALID_CREDENTIALS",
    );
    assert_eq!(
        try_login(&system, &account.email, NEW_PASSWORD)
            .await
            .status,
        200
    );
    // Every session ended with the reset, and the token is used up.
    assert_problem(
        &try_refresh(&system, &account.refresh_token).await,
        401,
        "INVALID_REFRESH_TOKEN",
    );
    let reused = system
        .post(
            "/v1/password-reset/confirm",
            None,
            json!({ "token": token, "new_password": "yet another passphrase" }),
        )
        .await;
    assert_problem(&reused, 422, "TOKEN_INVALID");
}

#[tokio::test]
async fn an_erased_user_cannot_log_in_and_their_email_signs_up_again() {
    let system = System::spawn().await;
    let account = system.sign_up("ada@example.com", "engines").await;

    let erased = system
        .call(Method::DELETE, "/v1/me", Some(&account.access_token), None)
        .await;
    assert_eq!(erased.status, 204, "{:?}", erased.body);
    let login = try_login(&system, &account.email, PASSWORD).await;
    assert_problem(&login, 401, "INVALID_CREDENTIALS");
    assert_problem(
        &try_refresh(&system, &account.refresh_token).await,
        401,
        "INVALID_REFRESH_TOKEN",
    );

    let again = system
        .post(
            "/v1/signup",
            None,
            sign_up_form("ada@example.com", "engines-two"),
        )
        .await;
    assert_eq!(again.status, 201, "{:?}", again.body);
    assert_ne!(again.body["user"]["id"], account.user_id.as_str());
}

#[tokio::test]
async fn the_last_owner_of_a_workspace_with_members_cannot_erase_themselves() {
    let system = System::spawn().await;
    let owner = system.sign_up("ada@example.com", "engines").await;
    system
        .join(&owner, "grace@example.com", "compilers", "member")
        .await;

    let refused = system
        .call(Method::DELETE, "/v1/me", Some(&owner.access_token), None)
        .await;
    assert_problem(&refused, 422, "LAST_OWNER");
    // Nothing happened: the owner still signs in and is still the owner.
    assert_eq!(try_login(&system, &owner.email, PASSWORD).await.status, 200);
    let members = system
        .get(
            &format!("/v1/workspaces/{}/members", owner.workspace_id),
            &owner.access_token,
        )
        .await;
    let owner_row = members.body["members"]
        .as_array()
        .expect("members")
        .iter()
        .find(|m| m["user_id"] == owner.user_id.as_str())
        .cloned()
        .expect("the owner is a member");
    assert_eq!(owner_row["role"], "owner");
}
