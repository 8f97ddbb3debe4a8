//! The gRPC adapters of `adapters-app` against the real data services: the acting user and the
//! service credential travel with each call, the data services' refusals arrive as
//! `AppError`s with their stable reasons and fields, deployment faults are internal, an
//! unreachable service is `UPSTREAM_UNAVAILABLE`, and readiness follows `grpc.health.v1`.

use std::time::Duration;

use adapters_app::grpc::{DataServices as Ports, GrpcUsers, HealthCheck};
use kernel_domain::{RejectionKind, Version};
use ports_app::{
    Ctx, ErrorKind, LookupError, NewUser, NewWorkspace, Plan, Role, StartTrialError,
    SubscriptionChangeError, SubscriptionReadError, SubscriptionStatus, UserChangeError, UserId,
    UserStatus, WorkspaceChangeError, WorkspaceReadError,
};
use saas_tests::{DataServices, SERVICE_TOKEN};
use uuid::Uuid;

const DEADLINE: Duration = Duration::from_secs(5);
const PASSWORD: &str = "correct horse battery staple";

fn url(services: &DataServices) -> String {
    format!("http://{}", services.addr)
}

fn ports(services: &DataServices) -> Ports {
    let url = url(services);
    Ports::connect_lazy(&url, &url, &url, &url, SERVICE_TOKEN, DEADLINE).unwrap()
}

fn fresh_email() -> String {
    format!("ports-{}@example.com", Uuid::now_v7().simple())
}

fn register(email: &str) -> NewUser {
    NewUser {
        email: email.to_owned(),
        display_name: "Ada Lovelace".into(),
        password: PASSWORD.into(),
        sign_up: None,
    }
}

/// A port nothing listens on (bound once, then released).
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn a_workspace_command_is_made_for_the_acting_user() {
    let services = DataServices::spawn().await;
    let ports = ports(&services);
    let ctx = Ctx::anonymous();
    let email = fresh_email();
    let user = ports
        .users
        .register_user(&ctx, "register", register(&email))
        .await
        .unwrap();
    let user_id = user.id.as_uuid();
    // The user as the application sees it; the same step replays the same user.
    assert_eq!(user.email, email);
    assert_eq!(user.status, UserStatus::Active);
    assert_eq!(user.version, Version::INITIAL);
    let replayed = ports
        .users
        .register_user(&ctx, "register", register(&email))
        .await
        .unwrap();
    assert_eq!(replayed, user);
    let by_id = ports.users.get_user(&ctx, user.id).await.unwrap();
    assert_eq!(by_id, user);
    let by_email = ports.users.lookup_user(&ctx, email.clone()).await.unwrap();
    assert_eq!(by_email.id, user.id);
    let malformed = ports
        .users
        .lookup_user(&ctx, "not an email".into())
        .await
        .unwrap_err();
    assert!(
        matches!(malformed, LookupError::MalformedEmail(_)),
        "{malformed:?}"
    );
    let batch = ports
        .users
        .batch_get_users(&ctx, vec![user.id, Uuid::now_v7().into()])
        .await
        .unwrap();
    assert_eq!(batch, vec![user.clone()]);

    let new_workspace = NewWorkspace {
        slug: format!("ws-{}", Uuid::now_v7().simple()),
        name: "Acme Corp".into(),
        seat_limit: 3,
    };
    let actor = ctx.acting_as(user_id);
    let created = ports
        .workspaces
        .create_workspace(&actor, "create-workspace", new_workspace.clone())
        .await
        .unwrap();
    assert_eq!(created.members.len(), 1);
    assert_eq!(created.members[0].user_id, UserId::from(user_id));
    assert_eq!(created.members[0].role, Role::Owner);
    assert_eq!(created.name, "Acme Corp");
    assert_eq!(created.version, Version::INITIAL);

    // The same step replays; the read answers the same workspace.
    let replayed = ports
        .workspaces
        .create_workspace(&actor, "create-workspace", new_workspace.clone())
        .await
        .unwrap();
    assert_eq!(replayed, created);
    let read = ports
        .workspaces
        .get_workspace(&ctx, created.id)
        .await
        .unwrap();
    assert_eq!(read, created);
    let unknown = ports
        .workspaces
        .get_workspace(&ctx, Uuid::now_v7().into())
        .await
        .unwrap_err();
    assert!(
        matches!(unknown, WorkspaceReadError::NotFound(_)),
        "{unknown:?}"
    );

    // Without an actor the same command is the caller's refusal, for good.
    let error = ports
        .workspaces
        .create_workspace(
            &ctx,
            "create-another",
            NewWorkspace {
                slug: format!("ws-{}", Uuid::now_v7().simple()),
                ..new_workspace
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&error, WorkspaceChangeError::Refused(e) if e.code == "ACTOR_REQUIRED"
            && e.kind == ErrorKind::Rejected(RejectionKind::Unauthenticated)),
        "{error:?}"
    );

    // The billing adapter reaches its service too, in the application's types.
    let workspace_id = created.id;
    let subscription = ports
        .subscriptions
        .start_trial(&ctx, "start-trial", workspace_id)
        .await
        .unwrap();
    assert_eq!(subscription.workspace_id, workspace_id);
    assert_eq!(subscription.plan, Plan::Team);
    assert_eq!(subscription.status, SubscriptionStatus::Trialing);
    assert_eq!(subscription.version, Version::INITIAL);
    assert!(subscription.trial_end_time.is_some());

    // The same step is the same request id (replayed); another step is a second trial.
    let replayed = ports
        .subscriptions
        .start_trial(&ctx, "start-trial", workspace_id)
        .await
        .unwrap();
    assert_eq!(replayed, subscription);
    let again = ports
        .subscriptions
        .start_trial(&ctx, "start-another-trial", workspace_id)
        .await
        .unwrap_err();
    assert!(
        matches!(&again, StartTrialError::AlreadyStarted(error) if error.code == "SUBSCRIPTION_EXISTS"),
        "{again:?}"
    );

    // Reads and commands answer the same subscription, and typed errors.
    let found = ports
        .subscriptions
        .lookup_subscription(&ctx, workspace_id)
        .await
        .unwrap();
    assert_eq!(found, subscription);
    let by_id = ports
        .subscriptions
        .get_subscription(&ctx, subscription.id)
        .await
        .unwrap();
    assert_eq!(by_id, subscription);
    let missing = ports
        .subscriptions
        .get_subscription(&ctx, Uuid::now_v7().into())
        .await
        .unwrap_err();
    assert!(
        matches!(missing, SubscriptionReadError::NotFound(_)),
        "{missing:?}"
    );
    let changed = ports
        .subscriptions
        .change_seats(&ctx, "change-seats", subscription.id, 7, 1)
        .await
        .unwrap();
    assert_eq!(changed.seats, 7);
    assert_eq!(changed.version, Version::new(2));
    let refused = ports
        .subscriptions
        .change_seats(&ctx, "change-seats-again", subscription.id, 7_000, 1)
        .await
        .unwrap_err();
    assert!(
        matches!(refused, SubscriptionChangeError::Refused(_)),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_refused_command_keeps_its_reason_and_kind() {
    let services = DataServices::spawn().await;
    let ports = ports(&services);
    let email = fresh_email();
    let first = Ctx::anonymous();
    ports
        .users
        .register_user(&first, "register", register(&email))
        .await
        .unwrap();
    let second = Ctx::anonymous();
    let error = ports
        .users
        .register_user(&second, "register", register(&email))
        .await
        .unwrap_err();
    let UserChangeError::Refused(error) = error else {
        panic!("a taken email is refused for good: {error:?}");
    };
    assert_eq!(error.code, "EMAIL_TAKEN");
    assert_eq!(
        error.kind,
        ErrorKind::Rejected(RejectionKind::AlreadyExists)
    );
    assert_eq!(error.http_status(), 409);
    assert!(!error.message.is_empty());
}

#[tokio::test]
async fn bad_input_comes_back_with_every_field_violation() {
    let services = DataServices::spawn().await;
    let ports = ports(&services);
    let ctx = Ctx::anonymous();
    let error = ports
        .users
        .register_user(
            &ctx,
            "register",
            NewUser {
                email: "ada@@example.com".into(),
                password: "short".into(),
                ..register("unused@example.com")
            },
        )
        .await
        .unwrap_err()
        .into_app_error();
    assert_eq!(
        error.kind,
        ErrorKind::Rejected(RejectionKind::InvalidArgument)
    );
    let mut fields: Vec<&str> = error.fields.iter().map(|f| f.field.as_str()).collect();
    fields.sort_unstable();
    assert_eq!(fields, ["email", "password"], "{error:?}");
    assert!(error.fields.iter().all(|f| !f.description.is_empty()));
}

#[tokio::test]
async fn a_refused_service_credential_is_internal() {
    let services = DataServices::spawn().await;
    let users =
        GrpcUsers::connect_lazy(&url(&services), "not-the-service-token", DEADLINE).unwrap();
    let ctx = Ctx::anonymous();
    let error = ports_app::Users::register_user(&users, &ctx, "register", register(&fresh_email()))
        .await
        .unwrap_err()
        .into_app_error();
    assert_eq!(error.kind, ErrorKind::Internal);
    assert_eq!(error.code, "INTERNAL");
    assert_eq!(error.message, "internal error");
}

#[tokio::test]
async fn an_unreachable_service_is_upstream_unavailable() {
    let url = format!("http://127.0.0.1:{}", closed_port());
    let ports = Ports::connect_lazy(
        &url,
        &url,
        &url,
        &url,
        SERVICE_TOKEN,
        Duration::from_secs(2),
    )
    .unwrap();
    let error = ports
        .users
        .get_user(&Ctx::anonymous(), Uuid::now_v7().into())
        .await
        .unwrap_err()
        .into_app_error();
    let unavailable = error.code == "UPSTREAM_UNAVAILABLE"
        && error.kind == ErrorKind::Rejected(RejectionKind::Unavailable);
    let timed_out = error.code == "UPSTREAM_TIMEOUT" && error.kind == ErrorKind::Timeout;
    assert!(unavailable || timed_out, "{error:?}");
}

#[tokio::test]
async fn readiness_follows_the_health_of_every_data_service() {
    let services = DataServices::spawn().await;
    let url = url(&services);
    let health = HealthCheck::connect_lazy(&url, &url, &url, &url, DEADLINE).unwrap();
    assert_eq!(health.ready().await, Ok(()));

    let closed = format!("http://127.0.0.1:{}", closed_port());
    let health = HealthCheck::connect_lazy(&url, &closed, &url, &url, DEADLINE).unwrap();
    let why = health.ready().await.unwrap_err();
    assert!(why.contains("saas.workspace.v1.WorkspaceService"), "{why}");
    assert!(!why.contains("saas.identity.v1.UserService"), "{why}");
    assert!(
        !why.contains("saas.billing.v1.SubscriptionService"),
        "{why}"
    );
    assert!(!why.contains("saas.notifications.v1.FeedService"), "{why}");

    let health = HealthCheck::connect_lazy(&url, &url, &url, &closed, DEADLINE).unwrap();
    let why = health.ready().await.unwrap_err();
    assert!(why.contains("saas.notifications.v1.FeedService"), "{why}");
    assert!(!why.contains("saas.workspace.v1.WorkspaceService"), "{why}");
}
