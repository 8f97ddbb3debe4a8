use std::sync::{Arc, Mutex};

use kernel_domain::RejectionKind;
use kernel_domain::Version;
use ports_app::types::examples;
use ports_app::{
    AppError, Ctx, ErrorKind, MockSubscriptions, MockWorkspaces, Plan, SeatLimitError,
    Subscription, SubscriptionChangeError, SubscriptionId, SubscriptionReadError,
    SubscriptionStatus, Workspace, WorkspaceId,
};
use uuid::Uuid;

use crate::Plans;

/// What the use case asked of the data services, in order.
type Log = Arc<Mutex<Vec<String>>>;

struct Setup {
    workspaces: MockWorkspaces,
    subscriptions: MockSubscriptions,
    ctx: Ctx,
    workspace_id: WorkspaceId,
    subscription_id: SubscriptionId,
    log: Log,
}

impl Setup {
    fn new() -> Self {
        Setup {
            workspaces: MockWorkspaces::new(),
            subscriptions: MockSubscriptions::new(),
            ctx: Ctx::anonymous().acting_as(Uuid::now_v7()),
            workspace_id: Uuid::now_v7().into(),
            subscription_id: Uuid::now_v7().into(),
            log: Arc::default(),
        }
    }

    fn plans(self) -> (Plans, Log) {
        (
            Plans::new(Arc::new(self.workspaces), Arc::new(self.subscriptions)),
            self.log,
        )
    }

    fn a_workspace(&self, seat_limit: i32, seats_in_use: i32, etag: &str) -> Workspace {
        Workspace {
            seat_limit,
            seats_in_use,
            version: Version::parse_etag(etag).expect("an etag Workspace issues"),
            ..examples::workspace(self.workspace_id, Uuid::now_v7().into())
        }
    }

    fn a_subscription(&self, seats: i32) -> Subscription {
        a_subscription(self.subscription_id, self.workspace_id, seats)
    }

    fn workspace_is(&mut self, seat_limit: i32, seats_in_use: i32, etag: &str) {
        let found = self.a_workspace(seat_limit, seats_in_use, etag);
        let id = self.workspace_id;
        self.workspaces
            .expect_get_workspace()
            .withf(move |_, asked| *asked == id)
            .times(1)
            .returning(move |_, _| Ok(found.clone()));
    }

    fn subscription_is(&mut self, seats: i32) {
        let found = self.a_subscription(seats);
        let id = self.workspace_id;
        self.subscriptions
            .expect_lookup_subscription()
            .withf(move |_, workspace_id| *workspace_id == id)
            .times(1)
            .returning(move |_, _| Ok(found.clone()));
    }

    /// The seat limit answers as given for `step`, made by the system for this workspace.
    fn seat_limit_answers(&mut self, step: &str, limit: i32, answer: Result<Workspace, AppError>) {
        let log = self.log.clone();
        let request_id = self.ctx.request_id;
        let id = self.workspace_id;
        let name = step.to_owned();
        let answer = answer.map_err(SeatLimitError::from);
        self.workspaces
            .expect_set_seat_limit()
            .withf(move |ctx, step, asked, seat_limit| {
                ctx.actor.is_none()
                    && ctx.request_id == request_id
                    && step == name
                    && *asked == id
                    && *seat_limit == limit
            })
            .times(1)
            .returning(move |_, step, _, _| {
                log.lock().unwrap().push(format!("{step} {limit}"));
                answer.clone()
            });
    }

    /// Billing's seat change answers as given, for `seats` with `in_use` seats in use.
    fn change_seats_answers(
        &mut self,
        seats: i32,
        in_use: i32,
        answer: Result<Subscription, SubscriptionChangeError>,
    ) {
        let log = self.log.clone();
        let id = self.subscription_id;
        self.subscriptions
            .expect_change_seats()
            .withf(move |_, step, subscription, asked, asked_in_use| {
                step == "change-seats"
                    && *subscription == id
                    && *asked == seats
                    && *asked_in_use == in_use
            })
            .times(1)
            .returning(move |_, _, _, _, _| {
                log.lock().unwrap().push(format!("change-seats {seats}"));
                answer.clone()
            });
    }

    async fn change_seats(self, seats: i32) -> (Result<Subscription, AppError>, Vec<String>) {
        let (ctx, id) = (self.ctx.clone(), self.workspace_id);
        let (plans, log) = self.plans();
        let result = plans.change_seats(&ctx, id, seats).await;
        let log = log.lock().unwrap().clone();
        (result, log)
    }
}

fn refused(kind: RejectionKind, code: &'static str) -> AppError {
    AppError::rejected(kind, code, format!("refused: {code}"))
}

fn unavailable() -> AppError {
    refused(RejectionKind::Unavailable, "OVERLOADED")
}

fn a_subscription(id: SubscriptionId, workspace_id: WorkspaceId, seats: i32) -> Subscription {
    let now = chrono::DateTime::from_timestamp(1_767_225_600, 0).expect("a valid time");
    Subscription {
        id,
        workspace_id,
        plan: Plan::Team,
        seats,
        status: SubscriptionStatus::Active,
        trial_end_time: None,
        period_end_time: None,
        cancel_at_period_end: false,
        cancel_time: None,
        monthly_amount_minor: i64::from(seats) * 800,
        currency_code: "USD".into(),
        version: Version::new(3),
        create_time: now,
        update_time: now,
    }
}

// ---------------------------------------------------------------------------------------------
// subscription, change_plan

#[tokio::test]
async fn the_subscription_is_looked_up_by_workspace() {
    let mut setup = Setup::new();
    setup.subscription_is(5);
    let expected = setup.a_subscription(5);
    let (ctx, id) = (setup.ctx.clone(), setup.workspace_id);
    let (plans, _) = setup.plans();
    assert_eq!(plans.subscription(&ctx, id).await.unwrap(), expected);

    let mut setup = Setup::new();
    setup
        .subscriptions
        .expect_lookup_subscription()
        .times(1)
        .returning(|_, _| {
            Err(SubscriptionReadError::NotFound(AppError::not_found(
                "SUBSCRIPTION_NOT_FOUND",
                "none",
            )))
        });
    let (ctx, id) = (setup.ctx.clone(), setup.workspace_id);
    let (plans, _) = setup.plans();
    assert_eq!(
        plans.subscription(&ctx, id).await.unwrap_err().code,
        "SUBSCRIPTION_NOT_FOUND"
    );
}

#[tokio::test]
async fn a_plan_change_carries_the_seats_in_use_of_the_workspace() {
    let mut setup = Setup::new();
    setup.workspace_is(5, 4, "W/\"v2\"");
    setup.subscription_is(5);
    let id = setup.subscription_id;
    let mut changed = setup.a_subscription(5);
    changed.plan = Plan::Business;
    let answer = changed.clone();
    setup
        .subscriptions
        .expect_change_plan()
        .withf(move |_, step, subscription, plan, seats_in_use| {
            step == "change-plan"
                && *subscription == id
                && *plan == Plan::Business
                && *seats_in_use == 4
        })
        .times(1)
        .returning(move |_, _, _, _, _| Ok(answer.clone()));
    let (ctx, ws) = (setup.ctx.clone(), setup.workspace_id);
    let (plans, _) = setup.plans();
    assert_eq!(
        plans.change_plan(&ctx, ws, Plan::Business).await.unwrap(),
        changed
    );
}

#[tokio::test]
async fn plan_change_failures_reach_the_caller_unchanged() {
    // The workspace cannot be read: Billing is not asked.
    let mut setup = Setup::new();
    setup
        .workspaces
        .expect_get_workspace()
        .times(1)
        .returning(|_, _| Err(unavailable().into()));
    let (ctx, ws) = (setup.ctx.clone(), setup.workspace_id);
    let (plans, _) = setup.plans();
    let error = plans.change_plan(&ctx, ws, Plan::Free).await;
    assert_eq!(error.unwrap_err(), unavailable());

    // No subscription.
    let mut setup = Setup::new();
    setup.workspace_is(5, 1, "W/\"v1\"");
    let missing = AppError::not_found("SUBSCRIPTION_NOT_FOUND", "no such subscription");
    let answer = missing.clone();
    setup
        .subscriptions
        .expect_lookup_subscription()
        .times(1)
        .returning(move |_, _| Err(SubscriptionReadError::NotFound(answer.clone())));
    let (ctx, ws) = (setup.ctx.clone(), setup.workspace_id);
    let (plans, _) = setup.plans();
    let error = plans.change_plan(&ctx, ws, Plan::Free).await;
    assert_eq!(error.unwrap_err(), missing);

    // Billing refuses.
    let mut setup = Setup::new();
    setup.workspace_is(5, 5, "W/\"v1\"");
    setup.subscription_is(5);
    let refusal = refused(RejectionKind::FailedPrecondition, "SEATS_EXCEED_PLAN");
    let answer = refusal.clone();
    setup
        .subscriptions
        .expect_change_plan()
        .times(1)
        .returning(move |_, _, _, _, _| Err(SubscriptionChangeError::Refused(answer.clone())));
    let (ctx, ws) = (setup.ctx.clone(), setup.workspace_id);
    let (plans, _) = setup.plans();
    let error = plans.change_plan(&ctx, ws, Plan::Free).await;
    assert_eq!(error.unwrap_err(), refusal);
}

// ---------------------------------------------------------------------------------------------
// change_seats

#[tokio::test]
async fn fewer_than_one_seat_is_a_bad_field_and_nothing_is_asked() {
    for seats in [0, -3] {
        let (result, log) = Setup::new().change_seats(seats).await;
        let error = result.unwrap_err();
        assert!(error.is(RejectionKind::InvalidArgument));
        assert_eq!(error.code, "INVALID_SEATS");
        assert_eq!(error.fields[0].field, "seats");
        assert!(log.is_empty());
    }
}

#[tokio::test]
async fn lowering_lowers_the_seat_limit_first_then_the_subscription() {
    let mut setup = Setup::new();
    setup.workspace_is(10, 4, "W/\"v8\"");
    setup.subscription_is(10);
    let lowered = setup.a_workspace(6, 3, "W/\"v9\"");
    setup.seat_limit_answers("lower-seat-limit/W/\"v8\"", 6, Ok(lowered));
    let changed = setup.a_subscription(6);
    // The seats in use are the ones the lowered workspace reported.
    setup.change_seats_answers(6, 3, Ok(changed.clone()));
    let (result, log) = setup.change_seats(6).await;
    assert_eq!(result.unwrap(), changed);
    assert_eq!(log, vec!["lower-seat-limit/W/\"v8\" 6", "change-seats 6"]);
}

#[tokio::test]
async fn a_seat_limit_below_the_seats_in_use_leaves_the_subscription_alone() {
    let mut setup = Setup::new();
    setup.workspace_is(10, 8, "W/\"v8\"");
    setup.subscription_is(10);
    let refusal = refused(
        RejectionKind::FailedPrecondition,
        "SEAT_LIMIT_BELOW_SEATS_IN_USE",
    );
    setup.seat_limit_answers("lower-seat-limit/W/\"v8\"", 6, Err(refusal.clone()));
    let (result, log) = setup.change_seats(6).await;
    assert_eq!(result.unwrap_err(), refusal);
    assert_eq!(log, vec!["lower-seat-limit/W/\"v8\" 6"]);
}

#[tokio::test]
async fn a_subscription_that_refuses_fewer_seats_gets_the_seat_limit_back() {
    for restore_answer in [Ok(()), Err(unavailable())] {
        let mut setup = Setup::new();
        setup.workspace_is(10, 4, "W/\"v8\"");
        setup.subscription_is(10);
        let lowered = setup.a_workspace(6, 4, "W/\"v9\"");
        setup.seat_limit_answers("lower-seat-limit/W/\"v8\"", 6, Ok(lowered));
        let refusal = refused(RejectionKind::FailedPrecondition, "SUBSCRIPTION_CANCELED");
        setup.change_seats_answers(6, 4, Err(SubscriptionChangeError::Refused(refusal.clone())));
        let restored = setup.a_workspace(10, 4, "W/\"v10\"");
        setup.seat_limit_answers(
            "restore-seat-limit/W/\"v9\"",
            10,
            restore_answer.map(|()| restored),
        );
        let (result, log) = setup.change_seats(6).await;
        assert_eq!(result.unwrap_err(), refusal);
        assert_eq!(
            log,
            vec![
                "lower-seat-limit/W/\"v8\" 6",
                "change-seats 6",
                "restore-seat-limit/W/\"v9\" 10"
            ]
        );
    }
}

#[tokio::test]
async fn an_open_outcome_of_the_subscription_change_keeps_the_lowered_limit() {
    for open in [
        unavailable(),
        AppError::internal("connection reset"),
        AppError {
            kind: ErrorKind::Timeout,
            code: "TIMEOUT".into(),
            message: "no answer in time".into(),
            fields: Vec::new(),
            retry_after: None,
        },
    ] {
        let mut setup = Setup::new();
        setup.workspace_is(10, 4, "W/\"v8\"");
        setup.subscription_is(10);
        let lowered = setup.a_workspace(6, 4, "W/\"v9\"");
        setup.seat_limit_answers("lower-seat-limit/W/\"v8\"", 6, Ok(lowered));
        setup.change_seats_answers(6, 4, Err(SubscriptionChangeError::Other(open.clone())));
        let (result, log) = setup.change_seats(6).await;
        assert_eq!(result.unwrap_err(), open);
        assert_eq!(log, vec!["lower-seat-limit/W/\"v8\" 6", "change-seats 6"]);
    }
}

#[tokio::test]
async fn a_retry_after_the_limit_was_lowered_goes_on_with_the_subscription() {
    // An earlier attempt lowered the limit to 6; the subscription still has 10 seats.
    let mut setup = Setup::new();
    setup.workspace_is(6, 4, "W/\"v9\"");
    setup.subscription_is(10);
    let changed = setup.a_subscription(6);
    setup.change_seats_answers(6, 4, Ok(changed.clone()));
    let (result, log) = setup.change_seats(6).await;
    assert_eq!(result.unwrap(), changed);
    assert_eq!(log, vec!["change-seats 6"]);

    // A refusal then does not raise a limit this attempt did not lower.
    let mut setup = Setup::new();
    setup.workspace_is(6, 4, "W/\"v9\"");
    setup.subscription_is(10);
    let refusal = refused(RejectionKind::FailedPrecondition, "SUBSCRIPTION_CANCELED");
    setup.change_seats_answers(6, 4, Err(SubscriptionChangeError::Refused(refusal.clone())));
    let (result, log) = setup.change_seats(6).await;
    assert_eq!(result.unwrap_err(), refusal);
    assert_eq!(log, vec!["change-seats 6"]);
}

#[tokio::test]
async fn raising_changes_only_the_subscription_and_the_limit_follows_by_event() {
    let mut setup = Setup::new();
    setup.workspace_is(5, 5, "W/\"v4\"");
    setup.subscription_is(5);
    let changed = setup.a_subscription(8);
    setup.change_seats_answers(8, 5, Ok(changed.clone()));
    setup.workspaces.expect_set_seat_limit().never();
    let (result, log) = setup.change_seats(8).await;
    assert_eq!(result.unwrap(), changed);
    assert_eq!(log, vec!["change-seats 8"]);
}

#[tokio::test]
async fn a_subscription_that_refuses_more_seats_leaves_the_limit_alone() {
    let mut setup = Setup::new();
    setup.workspace_is(5, 5, "W/\"v4\"");
    setup.subscription_is(5);
    let refusal = refused(RejectionKind::FailedPrecondition, "SEATS_EXCEED_PLAN");
    setup.change_seats_answers(
        80,
        5,
        Err(SubscriptionChangeError::Refused(refusal.clone())),
    );
    let (result, log) = setup.change_seats(80).await;
    assert_eq!(result.unwrap_err(), refusal);
    assert_eq!(log, vec!["change-seats 80"]);
}

#[tokio::test]
async fn the_same_seats_answer_the_subscription_as_it_is() {
    let mut setup = Setup::new();
    setup.workspace_is(5, 2, "W/\"v4\"");
    setup.subscription_is(5);
    let expected = setup.a_subscription(5);
    let (result, log) = setup.change_seats(5).await;
    assert_eq!(result.unwrap(), expected);
    assert!(log.is_empty());
}

#[tokio::test]
async fn the_same_seats_bring_a_limit_left_above_them_down() {
    // An earlier lowering left the limit at 9 while the subscription has 8 seats.
    let mut setup = Setup::new();
    setup.workspace_is(9, 5, "W/\"v4\"");
    setup.subscription_is(8);
    let expected = setup.a_subscription(8);
    let lowered = setup.a_workspace(8, 5, "W/\"v5\"");
    setup.seat_limit_answers("lower-seat-limit/W/\"v4\"", 8, Ok(lowered));
    let (result, log) = setup.change_seats(8).await;
    assert_eq!(result.unwrap(), expected);
    assert_eq!(log, vec!["lower-seat-limit/W/\"v4\" 8"]);

    // If it cannot come down, that is the answer.
    let mut setup = Setup::new();
    setup.workspace_is(9, 5, "W/\"v4\"");
    setup.subscription_is(8);
    setup.seat_limit_answers("lower-seat-limit/W/\"v4\"", 8, Err(unavailable()));
    let (result, _) = setup.change_seats(8).await;
    assert_eq!(result.unwrap_err(), unavailable());
}

#[tokio::test]
async fn the_same_seats_leave_a_limit_below_them_to_the_seat_limit_policy() {
    // The subscription has 8 seats; the policy has not raised the limit from 5 yet.
    let mut setup = Setup::new();
    setup.workspace_is(5, 5, "W/\"v4\"");
    setup.subscription_is(8);
    setup.workspaces.expect_set_seat_limit().never();
    let expected = setup.a_subscription(8);
    let (result, log) = setup.change_seats(8).await;
    assert_eq!(result.unwrap(), expected);
    assert!(log.is_empty());
}

#[tokio::test]
async fn seat_change_reads_that_fail_reach_the_caller_unchanged() {
    let mut setup = Setup::new();
    setup
        .workspaces
        .expect_get_workspace()
        .times(1)
        .returning(|_, _| Err(unavailable().into()));
    let (result, log) = setup.change_seats(3).await;
    assert_eq!(result.unwrap_err(), unavailable());
    assert!(log.is_empty());

    let mut setup = Setup::new();
    setup.workspace_is(5, 2, "W/\"v1\"");
    setup
        .subscriptions
        .expect_lookup_subscription()
        .times(1)
        .returning(|_, _| Err(SubscriptionReadError::Other(unavailable())));
    let (result, log) = setup.change_seats(3).await;
    assert_eq!(result.unwrap_err(), unavailable());
    assert!(log.is_empty());
}

// ---------------------------------------------------------------------------------------------
// cancel, resume

#[tokio::test]
async fn cancel_and_resume_act_on_the_workspaces_subscription() {
    for at_period_end in [true, false] {
        let mut setup = Setup::new();
        setup.subscription_is(5);
        let id = setup.subscription_id;
        let mut canceled = setup.a_subscription(5);
        canceled.cancel_at_period_end = at_period_end;
        let answer = canceled.clone();
        setup
            .subscriptions
            .expect_cancel_subscription()
            .withf(move |_, step, subscription, at_end| {
                step == "cancel" && *subscription == id && *at_end == at_period_end
            })
            .times(1)
            .returning(move |_, _, _, _| Ok(answer.clone()));
        let (ctx, ws) = (setup.ctx.clone(), setup.workspace_id);
        let (plans, _) = setup.plans();
        assert_eq!(
            plans.cancel(&ctx, ws, at_period_end).await.unwrap(),
            canceled
        );
    }

    let mut setup = Setup::new();
    setup.subscription_is(5);
    let id = setup.subscription_id;
    let resumed = setup.a_subscription(5);
    let answer = resumed.clone();
    setup
        .subscriptions
        .expect_resume_subscription()
        .withf(move |_, step, subscription| step == "resume" && *subscription == id)
        .times(1)
        .returning(move |_, _, _| Ok(answer.clone()));
    let (ctx, ws) = (setup.ctx.clone(), setup.workspace_id);
    let (plans, _) = setup.plans();
    assert_eq!(plans.resume(&ctx, ws).await.unwrap(), resumed);
}

#[tokio::test]
async fn cancel_and_resume_failures_reach_the_caller_unchanged() {
    let mut setup = Setup::new();
    setup
        .subscriptions
        .expect_lookup_subscription()
        .times(2)
        .returning(|_, _| Err(SubscriptionReadError::Other(unavailable())));
    let (ctx, ws) = (setup.ctx.clone(), setup.workspace_id);
    let (plans, _) = setup.plans();
    assert_eq!(
        plans.cancel(&ctx, ws, true).await.unwrap_err(),
        unavailable()
    );
    assert_eq!(plans.resume(&ctx, ws).await.unwrap_err(), unavailable());

    let mut setup = Setup::new();
    setup
        .subscriptions
        .expect_lookup_subscription()
        .times(2)
        .returning(|_, workspace_id| Ok(a_subscription(Uuid::now_v7().into(), workspace_id, 5)));
    let scheduled = refused(
        RejectionKind::FailedPrecondition,
        "CANCEL_ALREADY_SCHEDULED",
    );
    let answer = scheduled.clone();
    setup
        .subscriptions
        .expect_cancel_subscription()
        .times(1)
        .returning(move |_, _, _, _| Err(SubscriptionChangeError::Refused(answer.clone())));
    let not_scheduled = refused(RejectionKind::FailedPrecondition, "CANCEL_NOT_SCHEDULED");
    let answer = not_scheduled.clone();
    setup
        .subscriptions
        .expect_resume_subscription()
        .times(1)
        .returning(move |_, _, _| Err(SubscriptionChangeError::Refused(answer.clone())));
    let (ctx, ws) = (setup.ctx.clone(), setup.workspace_id);
    let (plans, _) = setup.plans();
    assert_eq!(plans.cancel(&ctx, ws, true).await.unwrap_err(), scheduled);
    assert_eq!(plans.resume(&ctx, ws).await.unwrap_err(), not_scheduled);
}
