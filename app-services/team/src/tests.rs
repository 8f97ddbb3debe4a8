use std::sync::{Arc, Mutex};

use kernel_domain::RejectionKind;
use ports_app::types::examples;
use ports_app::{
    AppError, Ctx, Invitation, InvitationId, InvitationState, LookupError, Mail, MailKind,
    MockMailer, MockUsers, MockWorkspaces, NewInvitation, Role, User, UserId, UserReadError,
    UserStatus, Workspace, WorkspaceChangeError, WorkspaceId, WorkspacePage, WorkspaceReadError,
};
use uuid::Uuid;

use crate::Team;

struct Mocks {
    users: MockUsers,
    workspaces: MockWorkspaces,
    mailer: MockMailer,
}

impl Mocks {
    fn new() -> Self {
        Mocks {
            users: MockUsers::new(),
            workspaces: MockWorkspaces::new(),
            mailer: MockMailer::new(),
        }
    }

    fn team(self) -> Team {
        Team::new(
            Arc::new(self.users),
            Arc::new(self.workspaces),
            Arc::new(self.mailer),
        )
    }

    /// Reading workspace `id` answers `answer`, once.
    fn workspace_reads(&mut self, id: WorkspaceId, answer: Result<Workspace, WorkspaceReadError>) {
        self.workspaces
            .expect_get_workspace()
            .withf(move |_, asked| *asked == id)
            .times(1)
            .returning(move |_, _| answer.clone());
    }
}

/// A fresh id of any kind.
fn fresh<T: From<Uuid>>() -> T {
    Uuid::now_v7().into()
}

fn signed_in(user: Uuid) -> Ctx {
    Ctx::anonymous().acting_as(user)
}

/// A workspace whose Owner is `owner`, with `members` added in order.
fn a_workspace(id: WorkspaceId, owner: Uuid, members: &[(Uuid, Role)]) -> Workspace {
    members.iter().fold(
        examples::workspace(id, owner.into()),
        |found, &(user, role)| examples::with_member(found, user.into(), role),
    )
}

fn invitation(email: &str, state: InvitationState) -> Invitation {
    Invitation {
        state,
        ..examples::invitation(email, fresh())
    }
}

fn user(id: Uuid, email: &str) -> User {
    examples::user(id.into(), email)
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

async fn authorize_as(role: Role, at_least: Role) -> Result<Workspace, AppError> {
    let user = Uuid::now_v7();
    let id = fresh();
    let found = a_workspace(id, Uuid::now_v7(), &[(user, role)]);
    let mut mocks = Mocks::new();
    mocks.workspace_reads(id, Ok(found));
    mocks.team().authorize(&signed_in(user), id, at_least).await
}

#[tokio::test]
async fn a_member_with_the_role_or_a_higher_one_is_authorized() {
    for (role, at_least) in [
        (Role::Owner, Role::Owner),
        (Role::Owner, Role::Member),
        (Role::Admin, Role::Admin),
        (Role::Admin, Role::Member),
        (Role::Member, Role::Member),
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
        (Role::Member, Role::Admin, "admin"),
        (Role::Member, Role::Owner, "owner"),
        (Role::Admin, Role::Owner, "owner"),
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
    let (theirs, unknown) = (fresh(), fresh());
    let mut mocks = Mocks::new();
    mocks.workspace_reads(theirs, Ok(a_workspace(theirs, Uuid::now_v7(), &[])));
    mocks.workspace_reads(
        unknown,
        Err(AppError::not_found("WORKSPACE_NOT_FOUND", "the workspace service's own words").into()),
    );
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
    let id = fresh();
    let mut mocks = Mocks::new();
    mocks.workspace_reads(id, Err(unavailable().into()));
    let team = mocks.team();
    let error = team
        .authorize(&signed_in(Uuid::now_v7()), id, Role::Member)
        .await
        .unwrap_err();
    assert_eq!(error, unavailable());

    let error = team
        .authorize(&Ctx::anonymous(), fresh(), Role::Member)
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
        .withf(move |_, asked, page_size, page_token| {
            *asked == UserId::from(user) && *page_size == 20 && page_token == "next"
        })
        .times(1)
        .returning(move |_, _, _, _| {
            Ok(WorkspacePage {
                workspaces: vec![a_workspace(fresh(), user, &[])],
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
        .returning(move |_, _, _, _| Err(answer.clone()));
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
    let id = fresh();
    let ctx = signed_in(user);
    let mut mocks = Mocks::new();
    mocks
        .workspaces
        .expect_rename_workspace()
        .withf(move |ctx, step, asked, name| {
            ctx.actor == Some(user) && *asked == id && step == "rename" && name == "New name"
        })
        .times(1)
        .returning(move |_, _, _, name| {
            let mut renamed = a_workspace(id, user, &[]);
            renamed.name = name;
            Ok(renamed)
        });
    mocks
        .workspaces
        .expect_rename_workspace()
        .withf(|_, _, _, name| name.is_empty())
        .times(1)
        .returning(|_, _, _, _| {
            Err(AppError::invalid_field(
                "INVALID_WORKSPACE_NAME",
                "name",
                "the workspace name is empty",
            )
            .into())
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
        fresh(),
        owner,
        &[(erased, Role::Member), (admin, Role::Admin)],
    );
    let mut mocks = Mocks::new();
    mocks
        .users
        .expect_batch_get_users()
        .withf(move |_, ids| *ids == vec![owner.into(), erased.into(), admin.into()])
        .times(1)
        .returning(move |_, _| {
            let mut with_session = user(admin, "admin@example.com");
            with_session
                .sessions
                .push(examples::session(Uuid::now_v7().into()));
            // Identity answers in its own order here, and leaves out the erased user.
            Ok(vec![with_session, user(owner, "owner@example.com")])
        });
    let views = mocks
        .team()
        .members(&signed_in(owner), &found)
        .await
        .unwrap();
    let ids: Vec<UserId> = views.iter().map(|v| v.member.user_id).collect();
    assert_eq!(ids, vec![owner.into(), erased.into(), admin.into()]);
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
    let members: Vec<_> = (1..150).map(|_| (Uuid::now_v7(), Role::Member)).collect();
    let found = a_workspace(fresh(), Uuid::now_v7(), &members);
    let batches = Arc::new(Mutex::new(Vec::new()));
    let seen = batches.clone();
    let mut mocks = Mocks::new();
    mocks
        .users
        .expect_batch_get_users()
        .times(2)
        .returning(move |_, ids| {
            seen.lock().unwrap().push(ids.len());
            Ok(ids
                .iter()
                .map(|id| user(id.as_uuid(), "x@example.com"))
                .collect())
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
    let found = a_workspace(fresh(), Uuid::now_v7(), &[]);
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

/// The id of every invitation the mocked Workspace service makes.
fn sent_invitation_id() -> InvitationId {
    InvitationId::from_uuid(Uuid::from_u128(0x0190c0de_0000_7000_8000_000000000001))
}

/// One `invite_member` call: the step, the workspace and the invitation asked for.
type InviteCall = (String, WorkspaceId, NewInvitation);

/// A team whose workspace and Identity answer as given, with the invitation
/// and mail recorded.
struct Invite {
    mocks: Mocks,
    workspace_id: WorkspaceId,
    inviter: Uuid,
    ctx: Ctx,
    requests: Arc<Mutex<Vec<InviteCall>>>,
    mails: Arc<Mutex<Vec<Mail>>>,
}

impl Invite {
    fn new() -> Self {
        let inviter = Uuid::now_v7();
        Invite {
            mocks: Mocks::new(),
            workspace_id: fresh(),
            inviter,
            ctx: signed_in(inviter),
            requests: Arc::default(),
            mails: Arc::default(),
        }
    }

    fn workspace(&self) -> Workspace {
        a_workspace(self.workspace_id, self.inviter, &[])
    }

    fn lookup_user_answers(&mut self, answer: Result<User, AppError>) {
        let answer = answer.map_err(LookupError::from);
        self.mocks
            .users
            .expect_lookup_user()
            .times(1)
            .returning(move |_, _| answer.clone());
    }

    fn nobody_holds_the_email(&mut self) {
        self.lookup_user_answers(Err(AppError::not_found("USER_NOT_FOUND", "no such user")));
    }

    /// The invitation is asked for once, made by the acting user, and answers `answer`.
    fn invitation_answers(&mut self, answer: Result<(), AppError>) {
        let requests = self.requests.clone();
        let found = self.workspace();
        self.mocks
            .workspaces
            .expect_invite_member()
            .withf(|ctx, _, _, _| ctx.actor.is_some())
            .times(1)
            .returning(move |_, step, id, asked| {
                requests
                    .lock()
                    .unwrap()
                    .push((step.to_owned(), id, asked.clone()));
                let made = Invitation {
                    id: sent_invitation_id(),
                    email: asked.email.trim().to_lowercase(),
                    role: asked.role,
                    ..examples::invitation("", fresh())
                };
                answer
                    .clone()
                    .map(|()| (found.clone(), made))
                    .map_err(WorkspaceChangeError::from)
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

    async fn run(self, email: &str, role: Role) -> InviteOutcome {
        let checked = self.workspace();
        self.run_on(checked, email, role).await
    }

    /// Invites to `checked`, the workspace as the tenancy gate read it.
    async fn run_on(self, checked: Workspace, email: &str, role: Role) -> InviteOutcome {
        let result = self
            .mocks
            .team()
            .invite(&self.ctx, &checked, email.into(), role)
            .await;
        InviteOutcome {
            result,
            requests: self.requests.lock().unwrap().clone(),
            mails: self.mails.lock().unwrap().clone(),
        }
    }
}

struct InviteOutcome {
    result: Result<Invitation, AppError>,
    requests: Vec<InviteCall>,
    mails: Vec<Mail>,
}

#[tokio::test]
async fn an_invitation_is_made_on_the_checked_workspace_and_its_token_is_mailed() {
    let mut invite = Invite::new();
    let workspace_id = invite.workspace_id;
    invite.nobody_holds_the_email();
    invite.invitation_answers(Ok(()));
    invite.mail_answers(Ok(()));
    let outcome = invite.run("New@Example.com", Role::Admin).await;

    let made = outcome.result.unwrap();
    assert_eq!(made.email, "new@example.com");
    assert_eq!(made.id, sent_invitation_id());
    assert_eq!(outcome.requests.len(), 1);
    let (step, id, request) = &outcome.requests[0];
    assert_eq!(*id, workspace_id);
    assert_eq!(step, "invite");
    // The aggregate checks the rules atomically: the port takes no etag, so there is no
    // lost race to retry.
    assert_eq!(request.email, "New@Example.com");
    assert_eq!(request.role, Role::Admin);
    assert_eq!(request.invitee, None);
    assert_eq!(
        ports_app::token::token_target("token", &request.token),
        Ok(workspace_id.as_uuid())
    );

    assert_eq!(outcome.mails.len(), 1);
    let mail = &outcome.mails[0];
    assert_eq!(mail.kind, MailKind::Invitation);
    assert_eq!(mail.to, "new@example.com");
    assert_eq!(mail.subject, "You are invited to Acme");
    assert_eq!(mail.token, request.token);
    assert!(mail.text.contains(&request.token), "{}", mail.text);
}

#[tokio::test]
async fn an_invitee_who_has_an_account_is_named_in_the_invitation() {
    let mut invite = Invite::new();
    let holder = Uuid::now_v7();
    invite
        .mocks
        .users
        .expect_lookup_user()
        .withf(|_, email| email == "known@example.com")
        .times(1)
        .returning(move |_, _| Ok(user(holder, "known@example.com")));
    invite.invitation_answers(Ok(()));
    invite.mail_answers(Ok(()));
    let outcome = invite.run("known@example.com", Role::Member).await;
    assert!(outcome.result.is_ok());
    assert_eq!(outcome.requests[0].2.invitee, Some(holder.into()));
}

#[tokio::test]
async fn the_seat_limit_is_left_to_the_workspace_service() {
    // The gate's read shows every seat taken; the aggregate decides, atomically.
    let mut invite = Invite::new();
    invite.nobody_holds_the_email();
    let full = refused(RejectionKind::FailedPrecondition, "SEAT_LIMIT_REACHED");
    invite.invitation_answers(Err(full.clone()));
    let mut checked = invite.workspace();
    checked.seat_limit = 3;
    checked.seats_in_use = 3;
    let outcome = invite
        .run_on(checked, "new@example.com", Role::Member)
        .await;
    assert_eq!(outcome.result.unwrap_err(), full);
    assert_eq!(outcome.requests.len(), 1);
    assert!(outcome.mails.is_empty());
}

#[tokio::test]
async fn workspace_and_identity_failures_reach_the_caller_unchanged() {
    let mut invite = Invite::new();
    invite.nobody_holds_the_email();
    invite.invitation_answers(Err(unavailable()));
    let outcome = invite.run("new@example.com", Role::Member).await;
    assert_eq!(outcome.result.unwrap_err(), unavailable());
    assert_eq!(
        outcome.requests.len(),
        1,
        "a failure is not retried by hand"
    );

    let mut invite = Invite::new();
    invite.lookup_user_answers(Err(unavailable()));
    let outcome = invite.run("new@example.com", Role::Member).await;
    assert_eq!(outcome.result.unwrap_err(), unavailable());
    assert!(outcome.requests.is_empty());
}

#[tokio::test]
async fn a_malformed_email_is_refused_before_any_call_as_the_workspace_service_words_it() {
    let mut invite = Invite::new();
    invite.mocks.users.expect_lookup_user().never();
    invite.mocks.workspaces.expect_invite_member().never();
    let outcome = invite.run("not an email", Role::Member).await;
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
        // The workspace follows its subscription's standing and refuses by itself.
        refused(RejectionKind::FailedPrecondition, "SUBSCRIPTION_INACTIVE"),
        refused(RejectionKind::InvalidArgument, "REQUEST_ID_REUSED"),
        refused(RejectionKind::Aborted, "CONFLICT"),
    ] {
        let mut invite = Invite::new();
        invite.nobody_holds_the_email();
        invite.invitation_answers(Err(refusal.clone()));
        let outcome = invite.run("new@example.com", Role::Member).await;
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
        let found = invite.workspace();
        invite.nobody_holds_the_email();
        invite.invitation_answers(Ok(()));
        let mail_error = AppError::internal("smtp down");
        invite.mail_answers(Err(mail_error.clone()));
        invite
            .mocks
            .workspaces
            .expect_revoke_invitation()
            .withf(move |ctx, step, id, invitation| {
                ctx.actor.is_some()
                    && *id == workspace_id
                    && step == "revoke-unsent"
                    && *invitation == sent_invitation_id()
            })
            .times(1)
            .returning(move |_, _, _, _| {
                revoke_answer
                    .clone()
                    .map(|()| found.clone())
                    .map_err(WorkspaceChangeError::from)
            });
        let outcome = invite.run("new@example.com", Role::Member).await;
        assert_eq!(outcome.result.unwrap_err(), mail_error);
        assert_eq!(outcome.mails.len(), 1);
    }
}

#[tokio::test]
async fn inviting_needs_a_signed_in_user() {
    let checked = a_workspace(fresh(), Uuid::now_v7(), &[]);
    let error = Mocks::new()
        .team()
        .invite(
            &Ctx::anonymous(),
            &checked,
            "new@example.com".into(),
            Role::Member,
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
    workspace_id: WorkspaceId,
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
            workspace_id: workspace_id.into(),
            token: ports_app::token::new_token(workspace_id),
        }
    }

    fn user_answers(&mut self, answer: Result<User, AppError>) {
        let id = self.user;
        let answer = answer.map_err(UserReadError::from);
        self.mocks
            .users
            .expect_get_user()
            .withf(move |_, asked| *asked == id.into())
            .times(1)
            .returning(move |_, _| answer.clone());
    }

    fn user_has_email(&mut self, email: &str) {
        self.user_answers(Ok(user(self.user, email)));
    }

    fn workspace_has(&mut self, invitations: Vec<Invitation>) {
        let id = self.workspace_id;
        let mut found = a_workspace(id, Uuid::now_v7(), &[]);
        found.invitations = invitations;
        self.mocks.workspace_reads(id, Ok(found));
    }

    fn workspace_read_fails(&mut self, error: AppError) {
        self.mocks
            .workspace_reads(self.workspace_id, Err(error.into()));
    }

    async fn run(self) -> Result<Workspace, AppError> {
        self.mocks.team().accept(&self.ctx, self.token).await
    }
}

#[tokio::test]
async fn accepting_uses_the_pending_invitation_sent_to_the_users_email() {
    let mut accept = Accept::new();
    accept.user_has_email("me@example.com");
    let mine = invitation("me@example.com", InvitationState::Pending);
    let mine_id = mine.id;
    accept.workspace_has(vec![
        invitation("me@example.com", InvitationState::Revoked),
        invitation("other@example.com", InvitationState::Pending),
        mine,
    ]);
    let (user, workspace_id, token) = (accept.user, accept.workspace_id, accept.token.clone());
    accept
        .mocks
        .workspaces
        .expect_accept_invitation()
        .withf(move |ctx, step, id, acceptance| {
            ctx.actor == Some(user)
                && *id == workspace_id
                && step == "accept"
                && acceptance.invitation_id == mine_id
                && acceptance.token == token
                && acceptance.user_email == "me@example.com"
        })
        .times(1)
        .returning(move |_, _, _, _| {
            Ok(a_workspace(
                workspace_id,
                Uuid::now_v7(),
                &[(user, Role::Member)],
            ))
        });
    let joined = accept.run().await.unwrap();
    assert_eq!(joined.id, workspace_id);
    assert_eq!(
        joined.member(user.into()).map(|member| member.role),
        Some(Role::Member)
    );
}

#[tokio::test]
async fn a_suspended_user_cannot_accept_with_an_access_token_issued_before() {
    let mut accept = Accept::new();
    let mut suspended = user(accept.user, "me@example.com");
    suspended.status = UserStatus::Suspended;
    accept.user_answers(Ok(suspended));
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
    unknown.workspace_read_fails(AppError::not_found(
        "WORKSPACE_NOT_FOUND",
        "no such workspace",
    ));
    let unknown = unknown.run().await.unwrap_err();

    let mut not_invited = Accept::new();
    not_invited.user_has_email("me@example.com");
    not_invited.workspace_has(vec![
        invitation("other@example.com", InvitationState::Pending),
        invitation("me@example.com", InvitationState::Expired),
        invitation("me@example.com", InvitationState::Accepted),
    ]);
    let not_invited = not_invited.run().await.unwrap_err();

    assert!(unknown.is(RejectionKind::NotFound));
    assert_eq!(unknown.code, "INVITATION_NOT_FOUND");
    assert_eq!(unknown, not_invited);
}

#[tokio::test]
async fn accept_passes_failures_and_refusals_through() {
    let mut identity_down = Accept::new();
    identity_down.user_answers(Err(unavailable()));
    assert_eq!(identity_down.run().await.unwrap_err(), unavailable());

    let mut workspace_down = Accept::new();
    workspace_down.user_has_email("me@example.com");
    workspace_down.workspace_read_fails(unavailable());
    assert_eq!(workspace_down.run().await.unwrap_err(), unavailable());

    let mut wrong_token = Accept::new();
    wrong_token.user_has_email("me@example.com");
    wrong_token.workspace_has(vec![invitation("me@example.com", InvitationState::Pending)]);
    let refusal = refused(RejectionKind::FailedPrecondition, "TOKEN_INVALID");
    let answer = refusal.clone();
    wrong_token
        .mocks
        .workspaces
        .expect_accept_invitation()
        .times(1)
        .returning(move |_, _, _, _| Err(answer.clone().into()));
    assert_eq!(wrong_token.run().await.unwrap_err(), refusal);
}

// ---------------------------------------------------------------------------------------------
// revoke, change_role, remove_member, leave

#[tokio::test]
async fn member_commands_are_steps_made_by_the_acting_user() {
    let actor = Uuid::now_v7();
    let id: WorkspaceId = fresh();
    let target: UserId = fresh();
    let invitation_id: InvitationId = fresh();
    let ctx = signed_in(actor);
    let answer = a_workspace(id, actor, &[]);
    let made_by_actor_on = move |ctx: &Ctx, step: &str, asked: &WorkspaceId, name: &str| {
        ctx.actor == Some(actor) && *asked == id && step == name
    };
    let mut mocks = Mocks::new();

    let found = answer.clone();
    mocks
        .workspaces
        .expect_revoke_invitation()
        .withf(move |ctx, step, asked, invitation| {
            made_by_actor_on(ctx, step, asked, "revoke") && *invitation == invitation_id
        })
        .times(1)
        .returning(move |_, _, _, _| Ok(found.clone()));
    let found = answer.clone();
    mocks
        .workspaces
        .expect_change_member_role()
        .withf(move |ctx, step, asked, user, role| {
            made_by_actor_on(ctx, step, asked, "change-role")
                && *user == target
                && *role == Role::Admin
        })
        .times(1)
        .returning(move |_, _, _, _, _| Ok(found.clone()));
    let found = answer.clone();
    mocks
        .workspaces
        .expect_remove_member()
        .withf(move |ctx, step, asked, user| {
            made_by_actor_on(ctx, step, asked, "remove-member") && *user == target
        })
        .times(1)
        .returning(move |_, _, _, _| Ok(found.clone()));
    let found = answer.clone();
    mocks
        .workspaces
        .expect_leave_workspace()
        .withf(move |ctx, step, asked| made_by_actor_on(ctx, step, asked, "leave"))
        .times(1)
        .returning(move |_, _, _| Ok(found.clone()));

    let team = mocks.team();
    assert_eq!(team.revoke(&ctx, id, invitation_id).await.unwrap(), answer);
    assert_eq!(
        team.change_role(&ctx, id, target, Role::Admin)
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
        .returning(move |_, _, _, _| Err(answer.clone().into()));
    let answer = last_owner.clone();
    mocks
        .workspaces
        .expect_change_member_role()
        .times(1)
        .returning(move |_, _, _, _, _| Err(answer.clone().into()));
    let answer = insufficient.clone();
    mocks
        .workspaces
        .expect_remove_member()
        .times(1)
        .returning(move |_, _, _, _| Err(answer.clone().into()));
    let answer = last_owner.clone();
    mocks
        .workspaces
        .expect_leave_workspace()
        .times(1)
        .returning(move |_, _, _| Err(answer.clone().into()));

    let team = mocks.team();
    let ctx = signed_in(Uuid::now_v7());
    let (id, other) = (fresh(), Uuid::now_v7());
    assert_eq!(
        team.revoke(&ctx, id, other.into()).await.unwrap_err(),
        not_found
    );
    assert_eq!(
        team.change_role(&ctx, id, other.into(), Role::Member)
            .await
            .unwrap_err(),
        last_owner
    );
    assert_eq!(
        team.remove_member(&ctx, id, other.into())
            .await
            .unwrap_err(),
        insufficient
    );
    assert_eq!(team.leave(&ctx, id).await.unwrap_err(), last_owner);
}

#[tokio::test]
async fn member_commands_need_a_signed_in_user() {
    let team = Mocks::new().team();
    let ctx = Ctx::anonymous();
    let (id, other) = (fresh(), Uuid::now_v7());
    let errors = [
        team.rename(&ctx, id, "x".into()).await.unwrap_err(),
        team.revoke(&ctx, id, other.into()).await.unwrap_err(),
        team.change_role(&ctx, id, other.into(), Role::Admin)
            .await
            .unwrap_err(),
        team.remove_member(&ctx, id, other.into())
            .await
            .unwrap_err(),
        team.leave(&ctx, id).await.unwrap_err(),
    ];
    for error in errors {
        assert!(unauthenticated(&error), "{error:?}");
    }
}
