//! Logins that race each other on one user: every attempt is judged on its password, never
//! on whether it lost the version race (PostgreSQL runs them truly in parallel).

use saas_tests::IdentityService;

use super::{PASSWORD, get, login_refused, register, verify};

#[tokio::test]
async fn concurrent_logins_with_the_right_password_all_succeed() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    let user = register(&mut client, "ada@example.com").await;
    let attempts = (0..10).map(|_| {
        let mut client = client.clone();
        async move { verify(&mut client, "ada@example.com", PASSWORD).await }
    });
    let answers = futures::future::join_all(attempts).await;
    let refused: Vec<_> = answers
        .iter()
        .filter_map(|answer| answer.as_ref().err())
        .collect();
    assert!(
        refused.is_empty(),
        "{} of 10 right-password logins refused: {:?}",
        refused.len(),
        refused.first()
    );
    for answer in answers {
        assert_eq!(answer.unwrap().into_inner().id, user.id);
    }
}

#[tokio::test]
async fn five_concurrent_wrong_passwords_lock_the_account() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    let user = register(&mut client, "ada@example.com").await;
    let attempts = (0..5).map(|_| {
        let mut client = client.clone();
        async move { verify(&mut client, "ada@example.com", "wrong password, guess 1").await }
    });
    for answer in futures::future::join_all(attempts).await {
        login_refused(answer);
    }
    // Each of the five wrong guesses counts, however they interleaved.
    assert!(
        get(&mut client, &user.id).await.lock_expire_time.is_some(),
        "five wrong passwords did not lock the account"
    );
    login_refused(verify(&mut client, "ada@example.com", PASSWORD).await);
}
