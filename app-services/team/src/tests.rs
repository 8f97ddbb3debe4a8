use std::sync::{Arc, Mutex};

use kernel_domain::RejectionKind;
use ports_app::types::examples;
use ports_app::wire::{identity, workspace};
use ports_app::{
    AppError, Ctx, ErrorKind, Mail, MailKind, MockMailer, MockSubscriptions, MockUsers,
    MockWorkspaces, Subscription, SubscriptionReadError, SubscriptionStatus,
};
use uuid::Uuid;

use crate::{Role, Team};

struct Mocks {
    users: MockUsers,
    workspaces: MockWorkspaces,
    subscriptions: MockSubscriptions,
    mailer: MockMailer,
}

impl Mocks {
    fn new() -> Self {
        Mocks {
            users: MockUsers::new(),
            workspaces: MockWorkspaces::new(),
            subscriptions: MockSubscriptions::new(),
            mailer: MockMailer::new(),
        }
    }

    fn team(self) -> Team {
        Team::new(
            Arc::new(self.users),
            Arc::new(self.workspaces),
            Arc::new(self.subscriptions),
            Arc::new(self.mailer),
        )
    }
}

fn signed_in(user: Uuid) -> Ctx {
    Ctx::anonymous().acting_as(user)
}

fn member(user: Uuid, role: workspace::Role) -> workspace::Member {
    workspace::Member {
        user_id: user.to_string(),
        role: role as i32,
        join_time: None,
    }
}

fn a_workspace(id: Uuid, members: Vec<workspace::Member>) -> workspace::Workspace {
    let seats = i32::try_from(members.len()).unwrap();
    workspace::Workspace {
        id: id.to_string(),
        slug: "acme".into(),
        name: "Acme".into(),
        members,
        seat_limit: 5,
        seats_in_use: seats,
        etag: "W/\"v1\"".into(),
        ..Default::default()
    }
}

fn invitation(email: &str, state: workspace::InvitationState) -> workspace::Invitation {
    workspace::Invitation {
        id: Uuid::now_v7().to_string(),
        email: email.into(),
        role: workspace::Role::Member as i32,
        inviter_id: Uuid::now_v7().to_string(),
        expire_time: None,
        state: state as i32,
    }
}

fn subscription(workspace_id: Uuid, status: SubscriptionStatus) -> Subscription {
    Subscription {
        status,
        ..examples::subscription(workspace_id.into())
    }
}

fn user(id: Uuid, email: &str) -> identity::User {
    identity::User {
        id: id.to_string(),
        email: email.into(),
        display_name: format!("User {email}"),
        status: identity::UserStatus::Active as i32,
        ..Default::default()
    }
}

fn refused(kind: RejectionKind, code: &'static str) -> AppError {
    AppError::rejected(kind, code, format!("refused: {code}"))
}

fn unavailable() -> AppError {
    refused(RejectionKind::Unavailable, "OVERLOADED")
}

fn unauthenticated(error: &AppError) -> bool {
    error.is(RejectionKind::Unauthenticated) && error.code == "UNAUTHENTICATED"
}

// ---------------------------------------------------------------------------------------------
// authorize

async fn authorize_as(
    role: workspace::Role,
    at_least: Role,
) -> Result<workspace::Workspace, AppError> {
    let user = Uuid::now_v7();
    let id = Uuid::now_v7();
    let found = a_workspace(
        id,
        vec![
            member(Uuid::now_v7(), workspace::Role::Owner),
            member(user, role),
        ],
    );
    let mut mocks = Mocks::new();
    mocks
        .workspaces
        .expect_get_workspace()
        .withf(move |_, request| request.id == id.to_string())
        .times(1)
        .returning(move |_, _| Ok(found.clone()));
    mocks.team().authorize(&signed_in(user), id, at_least).await
}

#[tokio::test]
async fn a_member_with_the_role_or_a_higher_one_is_authorized() {
    for (role, at_least) in [
        (workspace::Role::Owner, Role::Owner),
        (workspace::Role::Owner, Role::Member),
        (workspace::Role::Admin, Role::Admin),
        (workspace::Role::Admin, Role::Member),
        (workspace::Role::Member, Role::Member),
    ] {
        let found = authorize_as(role, at_least).await;
        let found = found.unwrap_or_else(|e| panic!("{role:?} at least {at_least:?}: {e}"));
        assert_eq!(found.members.len(), 2);
        assert_eq!(found.name, "Acme");
    }
}

#[tokio::test]
async fn a_member_with_a_lower_role_is_denied_naming_the_role() {
    for (role, at_least, needed) in [
        (workspace::Role::Member, Role::Admin, "admin"),
        (workspace::Role::Member, Role::Owner, "owner"),
        (workspace::Role::Admin, Role::Owner, "owner"),
        (workspace::Role::Unspecified, Role::Member, "member"),
    ] {
        let error = authorize_as(role, at_least).await.unwrap_err();
        assert_eq!(
            error,
            AppError::rejected(
                RejectionKind::PermissionDenied,
                "ROLE_REQUIRED",
                format!("this needs the {needed} role"),
            ),
            "{role:?} at least {at_least:?}"
        );
    }
}

#[tokio::test]
async fn another_tenants_workspace_answers_exactly_like_an_unknown_one() {
    let user = Uuid::now_v7();
    let theirs = Uuid::now_v7();
    let unknown = Uuid::now_v7();
    let mut mocks = Mocks::new();
    let other = a_workspace(theirs, vec![member(Uuid::now_v7(), workspace::Role::Owner)]);
    mocks
        .workspaces
        .expect_get_workspace()
        .withf(move |_, request| request.id == theirs.to_string())
        .times(1)
        .returning(move |_, _| Ok(other.clone()));
    mocks
        .workspaces
        .expect_get_workspace()
        .withf(move |_, request| request.id == unknown.to_string())
        .times(1)
        .returning(|_, _| {
            Err(AppError::not_found(
                "WORKSPACE_NOT_FOUND",
                "the workspace service's own words",
            ))
        });
    let team = mocks.team();
    let ctx = signed_in(user);
    let not_member = team
        .authorize(&ctx, theirs, Role::Member)
        .await
        .unwrap_err();
    let not_known = team
        .authorize(&ctx, unknown, Role::Member)
        .await
        .unwrap_err();
    let expected = AppError::not_found("WORKSPACE_NOT_FOUND", "no such workspace");
    assert_eq!(not_member, expected);
    assert_eq!(not_known, expected);
}

#[tokio::test]
async fn authorize_passes_other_failures_through_and_needs_a_signed_in_user() {
    let mut mocks = Mocks::new();
    mocks
        .workspaces
        .expect_get_workspace()
        .times(1)
        .returning(|_, _| Err(unavailable()));
    let team = mocks.team();
    let error = team
        .authorize(&signed_in(Uuid::now_v7()), Uuid::now_v7(), Role::Member)
        .await
        .unwrap_err();
    assert_eq!(error, unavailable());

    let error = team
        .authorize(&Ctx::anonymous(), Uuid::now_v7(), Role::Member)
        .await
        .unwrap_err();
    assert!(unauthenticated(&error), "{error:?}");
}

// ---------------------------------------------------------------------------------------------
// my_workspaces, rename

#[tokio::test]
async fn my_workspaces_lists_the_acting_users_workspaces() {
    let user = Uuid::now_v7();
    let mut mocks = Mocks::new();
    mocks
        .workspaces
        .expect_list_user_workspaces()
        .withf(move |_, request| {
            request.user_id == user.to_string()
                && request.page_size == 20
                && request.page_token == "next"
        })
        .times(1)
        .returning(move |_, _| {
            Ok(workspace::ListUserWorkspacesResponse {
                workspaces: vec![a_workspace(
                    Uuid::now_v7(),
                    vec![member(user, workspace::Role::Owner)],
                )],
                next_page_token: "later".into(),
            })
        });
    let team = mocks.team();
    let page = team
        .my_workspaces(&signed_in(user), 20, "next".into())
        .await
        .unwrap();
    assert_eq!(page.workspaces.len(), 1);
    assert_eq!(page.next_page_token, "later");

    let error = team
        .my_workspaces(&Ctx::anonymous(), 20, String::new())
        .await
        .unwrap_err();
    assert!(unauthenticated(&error), "{error:?}");
}

#[tokio::test]
async fn my_workspaces_passes_a_bad_page_token_through() {
    let mut mocks = Mocks::new();
    let bad = AppError::invalid_field("INVALID_PAGE_TOKEN", "page_token", "not a page token");
    let answer = bad.clone();
    mocks
        .workspaces
        .expect_list_user_workspaces()
        .times(1)
        .returning(move |_, _| Err(answer.clone()));
    let error = mocks
        .team()
        .my_workspaces(&signed_in(Uuid::now_v7()), 0, "garbage".into())
        .await
        .unwrap_err();
    assert_eq!(error, bad);
}

#[tokio::test]
async fn rename_is_a_step_made_by_the_acting_user() {
    let user = Uuid::now_v7();
    let id = Uuid::now_v7();
    let ctx = signed_in(user);
    let step = ctx.step("rename");
    let mut mocks = Mocks::new();
    mocks
        .workspaces
        .expect_rename_workspace()
        .withf(move |ctx, request| {
            ctx.actor == Some(user)
                && request.id == id.to_string()
                && request.request_id == step
                && request.name == "New name"
        })
        .times(1)
        .returning(move |_, request| {
            let mut renamed = a_workspace(id, vec![member(user, workspace::Role::Owner)]);
            renamed.name = request.name;
            Ok(renamed)
        });
    mocks
        .workspaces
        .expect_rename_workspace()
        .withf(|_, request| request.name.is_empty())
        .times(1)
        .returning(|_, _| {
            Err(AppError::invalid_field(
                "INVALID_WORKSPACE_NAME",
                "name",
                "the workspace name is empty",
            ))
        });
    let team = mocks.team();
    let renamed = team.rename(&ctx, id, "New name".into()).await.unwrap();
    assert_eq!(renamed.name, "New name");
    let error = team.rename(&ctx, id, String::new()).await.unwrap_err();
    assert_eq!(error.code, "INVALID_WORKSPACE_NAME");
    assert_eq!(error.fields[0].field, "name");
}

// ---------------------------------------------------------------------------------------------
// members

#[tokio::test]
async fn members_come_in_member_order_with_their_profiles_and_without_sessions() {
    let owner = Uuid::now_v7();
    let erased = Uuid::now_v7();
    let admin = Uuid::now_v7();
    let found = a_workspace(
        Uuid::now_v7(),
        vec![
            member(owner, workspace::Role::Owner),
            member(erased, workspace::Role::Member),
            member(admin, workspace::Role::Admin),
        ],
    );
    let mut mocks = Mocks::new();
    mocks
        .users
        .expect_batch_get_users()
        .withf(move |_, request| {
            request.ids == vec![owner.to_string(), erased.to_string(), admin.to_string()]
        })
        .times(1)
        .returning(move |_, _| {
            let mut with_session = user(admin, "admin@example.com");
            with_session.sessions.push(identity::Session {
                id: Uuid::now_v7().to_string(),
                ..Default::default()
            });
            // Identity answers in its own order here, and leaves out the erased user.
            Ok(identity::BatchGetUsersResponse {
                users: vec![with_session, user(owner, "owner@example.com")],
            })
        });
    let views = mocks
        .team()
        .members(&signed_in(owner), &found)
        .await
        .unwrap();
    let ids: Vec<&str> = views.iter().map(|v| v.member.user_id.as_str()).collect();
    assert_eq!(
        ids,
        vec![
            owner.to_string().as_str(),
            erased.to_string().as_str(),
            admin.to_string().as_str()
        ]
    );
    assert_eq!(
        views[0].profile.as_ref().map(|p| p.email.as_str()),
        Some("owner@example.com")
    );
    assert!(views[1].profile.is_none());
    let admin_profile = views[2].profile.as_ref().unwrap();
    assert_eq!(admin_profile.email, "admin@example.com");
    assert!(admin_profile.sessions.is_empty());
}

#[tokio::test]
async fn members_are_read_in_batches_identity_accepts() {
    let members: Vec<_> = (0..150)
        .map(|_| member(Uuid::now_v7(), workspace::Role::Member))
        .collect();
    let found = a_workspace(Uuid::now_v7(), members);
    let batches = Arc::new(Mutex::new(Vec::new()));
    let seen = batches.clone();
    let mut mocks = Mocks::new();
    mocks
        .users
        .expect_batch_get_users()
        .times(2)
        .returning(move |_, request| {
            seen.lock().unwrap().push(request.ids.len());
            Ok(identity::BatchGetUsersResponse {
                users: request
                    .ids
                    .iter()
                    .map(|id| user(Uuid::parse_str(id).unwrap(), "x@example.com"))
                    .collect(),
            })
        });
    let views = mocks
        .team()
        .members(&signed_in(Uuid::now_v7()), &found)
        .await
        .unwrap();
    assert_eq!(*batches.lock().unwrap(), vec![100, 50]);
    assert_eq!(views.len(), 150);
    assert!(views.iter().all(|v| v.profile.is_some()));
}

#[tokio::test]
async fn members_fail_when_identity_does() {
    let found = a_workspace(
        Uuid::now_v7(),
        vec![member(Uuid::now_v7(), workspace::Role::Owner)],
    );
    let mut mocks = Mocks::new();
    mocks
        .users
        .expect_batch_get_users()
        .times(1)
        .returning(|_, _| Err(unavailable()));
    let error = mocks
        .team()
        .members(&signed_in(Uuid::now_v7()), &found)
        .await
        .unwrap_err();
    assert_eq!(error, unavailable());
}

// ---------------------------------------------------------------------------------------------
// invite

/// A team whose subscription, workspace and Identity answer as given, with the invitation
/// and mail recorded.
struct Invite {
    mocks: Mocks,
    workspace_id: Uuid,
    inviter: Uuid,
    ctx: Ctx,
    requests: Arc<Mutex<Vec<workspace::InviteMemberRequest>>>,
    mails: Arc<Mutex<Vec<Mail>>>,
}

impl Invite {
    fn new() -> Self {
        let inviter = Uuid::now_v7();
        Invite {
            mocks: Mocks::new(),
            workspace_id: Uuid::now_v7(),
            inviter,
            ctx: signed_in(inviter),
            requests: Arc::default(),
            mails: Arc::default(),
        }
    }

    fn workspace(&self) -> workspace::Workspace {
        a_workspace(
            self.workspace_id,
            vec![member(self.inviter, workspace::Role::Owner)],
        )
    }

    fn subscription_is(&mut self, status: SubscriptionStatus, times: usize) {
        let id = self.workspace_id;
        self.mocks
            .subscriptions
            .expect_lookup_subscription()
            .withf(move |_, workspace_id| workspace_id.as_uuid() == id)
            .times(times)
            .returning(move |_, _| Ok(subscription(id, status)));
    }

    fn nobody_holds_the_email(&mut self) {
        self.mocks
            .users
            .expect_lookup_user()
            .times(1)
            .returning(|_, _| Err(AppError::not_found("USER_NOT_FOUND", "no such user")));
    }

    /// The invitation answers with the given results in turn.
    fn invitation_answers(&mut self, answers: Vec<Result<(), AppError>>, with_invitation: bool) {
        let requests = self.requests.clone();
        let answers = Mutex::new(answers.into_iter());
        let found = self.workspace();
        self.mocks
            .workspaces
            .expect_invite_member()
            .withf(|ctx, _| ctx.actor.is_some())
            .returning(move |_, request| {
                requests.lock().unwrap().push(request.clone());
                let answer = answers
                    .lock()
                    .unwrap()
                    .next()
                    .expect("no more invitations expected");
                answer.map(|()| workspace::InviteMemberResponse {
                    workspace: Some(found.clone()),
                    invitation: with_invitation.then(|| workspace::Invitation {
                        id: "0190c0de-0000-7000-8000-000000000001".into(),
                        email: request.email.trim().to_lowercase(),
                        role: request.role,
                        inviter_id: Uuid::now_v7().to_string(),
                        expire_time: None,
                        state: workspace::InvitationState::Pending as i32,
                    }),
                })
            });
    }

    fn mail_answers(&mut self, answer: Result<(), AppError>) {
        let mails = self.mails.clone();
        self.mocks
            .mailer
            .expect_send()
            .times(1)
            .returning(move |mail| {
                mails.lock().unwrap().push(mail);
                answer.clone()
            });
    }

    async fn run(self, email: &str, role: workspace::Role) -> InviteOutcome {
        let checked = self.workspace();
        self.run_on(checked, email, role).await
    }

    /// Invites to `checked`, the workspace as the tenancy gate read it.
    async fn run_on(
        self,
        checked: workspace::Workspace,
        email: &str,
        role: workspace::Role,
    ) -> InviteOutcome {
        let ctx = self.ctx;
        let result = self
            .mocks
            .team()
            .invite(&ctx, &checked, email.into(), role)
            .await;
        InviteOutcome {
            result,
            step: ctx.step("invite"),
            requests: self.requests.lock().unwrap().clone(),
            mails: self.mails.lock().unwrap().clone(),
        }
    }
}

struct InviteOutcome {
    result: Result<workspace::Invitation, AppError>,
    step: String,
    requests: Vec<workspace::InviteMemberRequest>,
    mails: Vec<Mail>,
}

#[tokio::test]
async fn an_invitation_is_made_on_the_checked_workspace_and_its_token_is_mailed() {
    for status in [SubscriptionStatus::Trialing, SubscriptionStatus::Active] {
        let mut invite = Invite::new();
        let workspace_id = invite.workspace_id;
        invite.subscription_is(status, 1);
        invite.nobody_holds_the_email();
        invite.invitation_answers(vec![Ok(())], true);
        invite.mail_answers(Ok(()));
        let outcome = invite.run("New@Example.com", workspace::Role::Admin).await;

        let made = outcome.result.unwrap();
        assert_eq!(made.email, "new@example.com");
        assert_eq!(outcome.requests.len(), 1);
        let request = &outcome.requests[0];
        assert_eq!(request.id, workspace_id.to_string());
        assert_eq!(request.request_id, outcome.step);
        // The aggregate checks the rules atomically: no etag, so no lost race to retry.
        assert_eq!(request.etag, "");
        assert_eq!(request.email, "New@Example.com");
        assert_eq!(request.role, workspace::Role::Admin as i32);
        assert_eq!(request.invitee_user_id, "");
        assert_eq!(
            ports_app::token::token_target("token", &request.token),
            Ok(workspace_id)
        );

        assert_eq!(outcome.mails.len(), 1);
        let mail = &outcome.mails[0];
        assert_eq!(mail.kind, MailKind::Invitation);
        assert_eq!(mail.to, "new@example.com");
        assert_eq!(mail.subject, "You are invited to Acme");
        assert_eq!(mail.token, request.token);
        assert!(mail.text.contains(&request.token), "{}", mail.text);
    }
}

#[tokio::test]
async fn an_invitee_who_has_an_account_is_named_in_the_invitation() {
    let mut invite = Invite::new();
    let holder = Uuid::now_v7();
    invite.subscription_is(SubscriptionStatus::Trialing, 1);
    invite
        .mocks
        .users
        .expect_lookup_user()
        .withf(|_, request| request.email == "known@example.com")
        .times(1)
        .returning(move |_, _| Ok(user(holder, "known@example.com")));
    invite.invitation_answers(vec![Ok(())], true);
    invite.mail_answers(Ok(()));
    let outcome = invite
        .run("known@example.com", workspace::Role::Member)
        .await;
    assert!(outcome.result.is_ok());
    assert_eq!(outcome.requests[0].invitee_user_id, holder.to_string());
}

#[tokio::test]
async fn no_invitation_without_a_trialing_or_active_subscription() {
    for status in [SubscriptionStatus::PastDue, SubscriptionStatus::Canceled] {
        let mut invite = Invite::new();
        invite.subscription_is(status, 1);
        invite.nobody_holds_the_email();
        let outcome = invite.run("new@example.com", workspace::Role::Member).await;
        let error = outcome.result.unwrap_err();
        assert!(error.is(RejectionKind::FailedPrecondition), "{status:?}");
        assert_eq!(error.code, "SUBSCRIPTION_INACTIVE");
        assert!(outcome.requests.is_empty());
        assert!(outcome.mails.is_empty());
    }
}

#[tokio::test]
async fn a_workspace_without_a_subscription_cannot_invite() {
    let mut invite = Invite::new();
    invite
        .mocks
        .subscriptions
        .expect_lookup_subscription()
        .times(1)
        .returning(|_, _| {
            Err(SubscriptionReadError::NotFound(AppError::not_found(
                "SUBSCRIPTION_NOT_FOUND",
                "no such subscription",
            )))
        });
    invite.nobody_holds_the_email();
    let outcome = invite.run("new@example.com", workspace::Role::Member).await;
    let error = outcome.result.unwrap_err();
    assert_eq!(error.code, "SUBSCRIPTION_INACTIVE");
    assert!(error.is(RejectionKind::FailedPrecondition));
    assert!(outcome.requests.is_empty());
}

#[tokio::test]
async fn billing_failures_reach_the_caller_unchanged() {
    let mut invite = Invite::new();
    invite
        .mocks
        .subscriptions
        .expect_lookup_subscription()
        .times(1)
        .returning(|_, _| Err(SubscriptionReadError::Other(unavailable())));
    invite.nobody_holds_the_email();
    let outcome = invite.run("new@example.com", workspace::Role::Member).await;
    assert_eq!(outcome.result.unwrap_err(), unavailable());
    assert!(outcome.requests.is_empty());
}

#[tokio::test]
async fn the_seat_limit_is_left_to_the_workspace_service() {
    // The gate's read shows every seat taken; the aggregate decides, atomically.
    let mut invite = Invite::new();
    invite.subscription_is(SubscriptionStatus::Active, 1);
    invite.nobody_holds_the_email();
    let full = refused(RejectionKind::FailedPrecondition, "SEAT_LIMIT_REACHED");
    invite.invitation_answers(vec![Err(full.clone())], true);
    let mut checked = invite.workspace();
    checked.seat_limit = 3;
    checked.seats_in_use = 3;
    let outcome = invite
        .run_on(checked, "new@example.com", workspace::Role::Member)
        .await;
    assert_eq!(outcome.result.unwrap_err(), full);
    assert_eq!(outcome.requests.len(), 1);
    assert!(outcome.mails.is_empty());
}

#[tokio::test]
async fn workspace_and_identity_failures_reach_the_caller_unchanged() {
    let mut invite = Invite::new();
    invite.subscription_is(SubscriptionStatus::Active, 1);
    invite.nobody_holds_the_email();
    invite.invitation_answers(vec![Err(unavailable())], true);
    let outcome = invite.run("new@example.com", workspace::Role::Member).await;
    assert_eq!(outcome.result.unwrap_err(), unavailable());
    assert_eq!(
        outcome.requests.len(),
        1,
        "a failure is not retried by hand"
    );

    let mut invite = Invite::new();
    invite.subscription_is(SubscriptionStatus::Active, 1);
    invite
        .mocks
        .users
        .expect_lookup_user()
        .times(1)
        .returning(|_, _| Err(unavailable()));
    let outcome = invite.run("new@example.com", workspace::Role::Member).await;
    assert_eq!(outcome.result.unwrap_err(), unavailable());
    assert!(outcome.requests.is_empty());
}

#[tokio::test]
async fn a_malformed_email_is_refused_before_any_call_as_the_workspace_service_words_it() {
    let mut invite = Invite::new();
    invite
        .mocks
        .subscriptions
        .expect_lookup_subscription()
        .never();
    invite.mocks.users.expect_lookup_user().never();
    invite.mocks.workspaces.expect_invite_member().never();
    let outcome = invite.run("not an email", workspace::Role::Member).await;
    let error = outcome.result.unwrap_err();
    let expected =
        kernel_domain::Rejection::from(kernel_domain::Email::parse("not an email").unwrap_err())
            .on_field("email");
    assert_eq!(error, AppError::from(expected));
    assert!(error.is(RejectionKind::InvalidArgument));
    assert_eq!(error.fields[0].field, "email");
    assert!(outcome.mails.is_empty());
}

#[tokio::test]
async fn the_workspace_services_refusals_reach_the_caller_unchanged() {
    for refusal in [
        refused(RejectionKind::AlreadyExists, "ALREADY_MEMBER"),
        refused(RejectionKind::PermissionDenied, "INSUFFICIENT_ROLE"),
        refused(RejectionKind::FailedPrecondition, "SEAT_LIMIT_REACHED"),
        refused(RejectionKind::InvalidArgument, "REQUEST_ID_REUSED"),
        refused(RejectionKind::Aborted, "CONFLICT"),
    ] {
        let mut invite = Invite::new();
        invite.subscription_is(SubscriptionStatus::Active, 1);
        invite.nobody_holds_the_email();
        invite.invitation_answers(vec![Err(refusal.clone())], true);
        let outcome = invite.run("new@example.com", workspace::Role::Member).await;
        assert_eq!(outcome.result.unwrap_err(), refusal);
        assert_eq!(outcome.requests.len(), 1);
        assert!(outcome.mails.is_empty());
    }
}

#[tokio::test]
async fn an_invitation_whose_mail_cannot_be_sent_is_withdrawn() {
    for revoke_answer in [Ok(()), Err(unavailable())] {
        let mut invite = Invite::new();
        let workspace_id = invite.workspace_id;
        invite.subscription_is(SubscriptionStatus::Active, 1);
        let found = invite.workspace();
        invite.nobody_holds_the_email();
        invite.invitation_answers(vec![Ok(())], true);
        let mail_error = AppError::internal("smtp down");
        invite.mail_answers(Err(mail_error.clone()));
        let step = invite.ctx.step("revoke-unsent");
        invite
            .mocks
            .workspaces
            .expect_revoke_invitation()
            .withf(move |ctx, request| {
                ctx.actor.is_some()
                    && request.id == workspace_id.to_string()
                    && request.request_id == step
                    && request.invitation_id == "0190c0de-0000-7000-8000-000000000001"
            })
            .times(1)
            .returning(move |_, _| revoke_answer.clone().map(|()| found.clone()));
        let outcome = invite.run("new@example.com", workspace::Role::Member).await;
        assert_eq!(outcome.result.unwrap_err(), mail_error);
        assert_eq!(outcome.mails.len(), 1);
    }
}

#[tokio::test]
async fn an_invitation_answer_without_the_invitation_is_an_internal_error() {
    let mut invite = Invite::new();
    invite.subscription_is(SubscriptionStatus::Active, 1);
    invite.nobody_holds_the_email();
    invite.invitation_answers(vec![Ok(())], false);
    let outcome = invite.run("new@example.com", workspace::Role::Member).await;
    assert_eq!(outcome.result.unwrap_err().kind, ErrorKind::Internal);
    assert!(outcome.mails.is_empty());
}

#[tokio::test]
async fn inviting_needs_a_signed_in_user() {
    let checked = a_workspace(Uuid::now_v7(), Vec::new());
    let error = Mocks::new()
        .team()
        .invite(
            &Ctx::anonymous(),
            &checked,
            "new@example.com".into(),
            workspace::Role::Member,
        )
        .await
        .unwrap_err();
    assert!(unauthenticated(&error), "{error:?}");
}

// ---------------------------------------------------------------------------------------------
// accept

struct Accept {
    mocks: Mocks,
    user: Uuid,
    ctx: Ctx,
    workspace_id: Uuid,
    token: String,
}

impl Accept {
    fn new() -> Self {
        let workspace_id = Uuid::now_v7();
        let user = Uuid::now_v7();
        Accept {
            mocks: Mocks::new(),
            user,
            ctx: signed_in(user),
            workspace_id,
            token: ports_app::token::new_token(workspace_id),
        }
    }

    fn user_has_email(&mut self, email: &'static str) {
        let id = self.user;
        self.mocks
            .users
            .expect_get_user()
            .withf(move |_, request| request.id == id.to_string())
            .times(1)
            .returning(move |_, _| Ok(user(id, email)));
    }

    fn workspace_has(&mut self, invitations: Vec<workspace::Invitation>) {
        let id = self.workspace_id;
        let mut found = a_workspace(id, vec![member(Uuid::now_v7(), workspace::Role::Owner)]);
        found.invitations = invitations;
        self.mocks
            .workspaces
            .expect_get_workspace()
            .withf(move |_, request| request.id == id.to_string())
            .times(1)
            .returning(move |_, _| Ok(found.clone()));
    }

    async fn run(self) -> Result<workspace::Workspace, AppError> {
        self.mocks.team().accept(&self.ctx, self.token).await
    }
}

#[tokio::test]
async fn accepting_uses_the_pending_invitation_sent_to_the_users_email() {
    let mut accept = Accept::new();
    accept.user_has_email("me@example.com");
    let mine = invitation("me@example.com", workspace::InvitationState::Pending);
    let mine_id = mine.id.clone();
    accept.workspace_has(vec![
        invitation("me@example.com", workspace::InvitationState::Revoked),
        invitation("other@example.com", workspace::InvitationState::Pending),
        mine,
    ]);
    let (user, workspace_id, token) = (accept.user, accept.workspace_id, accept.token.clone());
    let step = accept.ctx.step("accept");
    accept
        .mocks
        .workspaces
        .expect_accept_invitation()
        .withf(move |ctx, request| {
            ctx.actor == Some(user)
                && request.id == workspace_id.to_string()
                && request.request_id == step
                && request.invitation_id == mine_id
                && request.token == token
                && request.user_email == "me@example.com"
        })
        .times(1)
        .returning(move |_, _| {
            Ok(a_workspace(
                workspace_id,
                vec![member(user, workspace::Role::Member)],
            ))
        });
    let joined = accept.run().await.unwrap();
    assert_eq!(joined.id, workspace_id.to_string());
    assert_eq!(joined.members[0].user_id, user.to_string());
}

#[tokio::test]
async fn a_suspended_user_cannot_accept_with_an_access_token_issued_before() {
    let mut accept = Accept::new();
    let id = accept.user;
    accept
        .mocks
        .users
        .expect_get_user()
        .times(1)
        .returning(move |_, _| {
            let mut suspended = user(id, "me@example.com");
            suspended.status = identity::UserStatus::Suspended as i32;
            Ok(suspended)
        });
    let error = accept.run().await.unwrap_err();
    assert!(error.is(RejectionKind::FailedPrecondition), "{error:?}");
    assert_eq!(error.code, "USER_NOT_ACTIVE");
}

#[tokio::test]
async fn a_malformed_token_is_a_bad_field_and_accepting_needs_a_signed_in_user() {
    let team = Mocks::new().team();
    let error = team
        .accept(&signed_in(Uuid::now_v7()), "not-a-token".into())
        .await
        .unwrap_err();
    assert_eq!(error.code, "INVALID_TOKEN");
    assert_eq!(error.fields[0].field, "token");

    let token = ports_app::token::new_token(Uuid::now_v7());
    let error = team.accept(&Ctx::anonymous(), token).await.unwrap_err();
    assert!(unauthenticated(&error), "{error:?}");
}

#[tokio::test]
async fn an_unknown_workspace_and_a_missing_invitation_answer_alike() {
    let mut unknown = Accept::new();
    unknown.user_has_email("me@example.com");
    unknown
        .mocks
        .workspaces
        .expect_get_workspace()
        .times(1)
        .returning(|_, _| {
            Err(AppError::not_found(
                "WORKSPACE_NOT_FOUND",
                "no such workspace",
            ))
        });
    let unknown = unknown.run().await.unwrap_err();

    let mut not_invited = Accept::new();
    not_invited.user_has_email("me@example.com");
    not_invited.workspace_has(vec![
        invitation("other@example.com", workspace::InvitationState::Pending),
        invitation("me@example.com", workspace::InvitationState::Expired),
        invitation("me@example.com", workspace::InvitationState::Accepted),
    ]);
    let not_invited = not_invited.run().await.unwrap_err();

    assert!(unknown.is(RejectionKind::NotFound));
    assert_eq!(unknown.code, "INVITATION_NOT_FOUND");
    assert_eq!(unknown, not_invited);
}

#[tokio::test]
async fn accept_passes_failures_and_refusals_through() {
    let mut identity_down = Accept::new();
    identity_down
        .mocks
        .users
        .expect_get_user()
        .times(1)
        .returning(|_, _| Err(unavailable()));
    assert_eq!(identity_down.run().await.unwrap_err(), unavailable());

    let mut workspace_down = Accept::new();
    workspace_down.user_has_email("me@example.com");
    workspace_down
        .mocks
        .workspaces
        .expect_get_workspace()
        .times(1)
        .returning(|_, _| Err(unavailable()));
    assert_eq!(workspace_down.run().await.unwrap_err(), unavailable());

    let mut wrong_token = Accept::new();
    wrong_token.user_has_email("me@example.com");
    wrong_token.workspace_has(vec![invitation(
        "me@example.com",
        workspace::InvitationState::Pending,
    )]);
    let refusal = refused(RejectionKind::FailedPrecondition, "TOKEN_INVALID");
    let answer = refusal.clone();
    wrong_token
        .mocks
        .workspaces
        .expect_accept_invitation()
        .times(1)
        .returning(move |_, _| Err(answer.clone()));
    assert_eq!(wrong_token.run().await.unwrap_err(), refusal);
}

// ---------------------------------------------------------------------------------------------
// revoke, change_role, remove_member, leave

#[tokio::test]
async fn member_commands_are_steps_made_by_the_acting_user() {
    let actor = Uuid::now_v7();
    let id = Uuid::now_v7();
    let target = Uuid::now_v7();
    let invitation_id = Uuid::now_v7();
    let ctx = signed_in(actor);
    let answer = a_workspace(id, vec![member(actor, workspace::Role::Owner)]);
    let mut mocks = Mocks::new();

    let (step, found) = (ctx.step("revoke"), answer.clone());
    mocks
        .workspaces
        .expect_revoke_invitation()
        .withf(move |ctx, r| {
            ctx.actor == Some(actor)
                && r.id == id.to_string()
                && r.request_id == step
                && r.invitation_id == invitation_id.to_string()
        })
        .times(1)
        .returning(move |_, _| Ok(found.clone()));
    let (step, found) = (ctx.step("change-role"), answer.clone());
    mocks
        .workspaces
        .expect_change_member_role()
        .withf(move |ctx, r| {
            ctx.actor == Some(actor)
                && r.id == id.to_string()
                && r.request_id == step
                && r.user_id == target.to_string()
                && r.role == workspace::Role::Admin as i32
        })
        .times(1)
        .returning(move |_, _| Ok(found.clone()));
    let (step, found) = (ctx.step("remove-member"), answer.clone());
    mocks
        .workspaces
        .expect_remove_member()
        .withf(move |ctx, r| {
            ctx.actor == Some(actor)
                && r.id == id.to_string()
                && r.request_id == step
                && r.user_id == target.to_string()
        })
        .times(1)
        .returning(move |_, _| Ok(found.clone()));
    let (step, found) = (ctx.step("leave"), answer.clone());
    mocks
        .workspaces
        .expect_leave_workspace()
        .withf(move |ctx, r| {
            ctx.actor == Some(actor) && r.id == id.to_string() && r.request_id == step
        })
        .times(1)
        .returning(move |_, _| Ok(found.clone()));

    let team = mocks.team();
    assert_eq!(team.revoke(&ctx, id, invitation_id).await.unwrap(), answer);
    assert_eq!(
        team.change_role(&ctx, id, target, workspace::Role::Admin)
            .await
            .unwrap(),
        answer
    );
    assert_eq!(team.remove_member(&ctx, id, target).await.unwrap(), answer);
    team.leave(&ctx, id).await.unwrap();
}

#[tokio::test]
async fn member_command_refusals_reach_the_caller_unchanged() {
    let last_owner = refused(RejectionKind::FailedPrecondition, "LAST_OWNER");
    let insufficient = refused(RejectionKind::PermissionDenied, "INSUFFICIENT_ROLE");
    let not_found = refused(RejectionKind::NotFound, "INVITATION_NOT_FOUND");
    let mut mocks = Mocks::new();
    let answer = not_found.clone();
    mocks
        .workspaces
        .expect_revoke_invitation()
        .times(1)
        .returning(move |_, _| Err(answer.clone()));
    let answer = last_owner.clone();
    mocks
        .workspaces
        .expect_change_member_role()
        .times(1)
        .returning(move |_, _| Err(answer.clone()));
    let answer = insufficient.clone();
    mocks
        .workspaces
        .expect_remove_member()
        .times(1)
        .returning(move |_, _| Err(answer.clone()));
    let answer = last_owner.clone();
    mocks
        .workspaces
        .expect_leave_workspace()
        .times(1)
        .returning(move |_, _| Err(answer.clone()));

    let team = mocks.team();
    let ctx = signed_in(Uuid::now_v7());
    let (id, other) = (Uuid::now_v7(), Uuid::now_v7());
    assert_eq!(team.revoke(&ctx, id, other).await.unwrap_err(), not_found);
    assert_eq!(
        team.change_role(&ctx, id, other, workspace::Role::Member)
            .await
            .unwrap_err(),
        last_owner
    );
    assert_eq!(
        team.remove_member(&ctx, id, other).await.unwrap_err(),
        insufficient
    );
    assert_eq!(team.leave(&ctx, id).await.unwrap_err(), last_owner);
}

#[tokio::test]
async fn member_commands_need_a_signed_in_user() {
    let team = Mocks::new().team();
    let ctx = Ctx::anonymous();
    let (id, other) = (Uuid::now_v7(), Uuid::now_v7());
    let errors = [
        team.rename(&ctx, id, "x".into()).await.unwrap_err(),
        team.revoke(&ctx, id, other).await.unwrap_err(),
        team.change_role(&ctx, id, other, workspace::Role::Admin)
            .await
            .unwrap_err(),
        team.remove_member(&ctx, id, other).await.unwrap_err(),
        team.leave(&ctx, id).await.unwrap_err(),
    ];
    for error in errors {
        assert!(unauthenticated(&error), "{error:?}");
    }
}
