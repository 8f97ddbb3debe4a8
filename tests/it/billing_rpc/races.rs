//! Races of QUALITY.md "Reliability": random concurrent billing events only ever make legal
//! transitions; a same-etag race has exactly one winner, also across two OS processes;
//! concurrent duplicates of a request execute once.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
};

use billing_domain::{StatusKind, is_legal_transition};
use chrono::Duration;
use saas_proto::billing::v1 as pb;
use saas_tests::{DataServices, ServerProcess, SubscriptionClient, TestDatabase};
use tonic::{Code, Status};

use super::{
    DOMAIN, cancel_request, change_plan_request, change_seats_request, client_at, event, get,
    one_month_after, open, outbox, priced, request_id, resume_request, status_of, trial, version,
};
use crate::concurrency::{all_at_once, count, reason, recorded_requests};

/// A small deterministic generator (xorshift64*), so a failing run can be told by its seed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn int(&mut self, low: i32, high: i32) -> i32 {
        low + self.below((high - low + 1) as u64) as i32
    }
}

/// One random billing event.
#[derive(Debug, Clone)]
enum Move {
    Pay,
    Fail,
    CancelNow(String),
    CancelAtEnd(String),
    Resume(String),
    Seats(String, i32, i32),
    Plan(String, pb::Plan, i32),
    Expire,
    End,
}

impl Move {
    /// A random move; commands that take an etag get the one read at the start of the batch
    /// (possibly stale by now) a third of the time.
    fn random(rng: &mut Rng, etag: &str) -> Move {
        let etag = if rng.below(3) == 0 {
            etag.to_owned()
        } else {
            String::new()
        };
        match rng.below(100) {
            0..12 => Move::Pay,
            12..26 => Move::Fail,
            26..27 => Move::CancelNow(etag),
            27..31 => Move::CancelAtEnd(etag),
            31..39 => Move::Resume(etag),
            39..53 => Move::Seats(etag, rng.int(1, 60), rng.int(0, 6)),
            53..63 => {
                let plan =
                    [pb::Plan::Free, pb::Plan::Team, pb::Plan::Business][rng.below(3) as usize];
                Move::Plan(etag, plan, rng.int(0, 6))
            }
            63..80 => Move::Expire,
            _ => Move::End,
        }
    }

    async fn send(
        &self,
        client: &mut SubscriptionClient,
        id: &str,
    ) -> Result<pb::Subscription, Status> {
        let id = id.to_owned();
        let answer = match self {
            Move::Pay => {
                client
                    .record_payment_succeeded(pb::RecordPaymentSucceededRequest {
                        id,
                        request_id: request_id(),
                    })
                    .await
            }
            Move::Fail => {
                client
                    .record_payment_failed(pb::RecordPaymentFailedRequest {
                        id,
                        request_id: request_id(),
                    })
                    .await
            }
            Move::CancelNow(etag) => {
                client
                    .cancel_subscription(cancel_request(&id, etag, false))
                    .await
            }
            Move::CancelAtEnd(etag) => {
                client
                    .cancel_subscription(cancel_request(&id, etag, true))
                    .await
            }
            Move::Resume(etag) => client.resume_subscription(resume_request(&id, etag)).await,
            Move::Seats(etag, seats, in_use) => {
                client
                    .change_seats(change_seats_request(&id, etag, *seats, *in_use))
                    .await
            }
            Move::Plan(etag, plan, in_use) => {
                client
                    .change_plan(change_plan_request(&id, etag, *plan, *in_use))
                    .await
            }
            Move::Expire => {
                client
                    .expire_trial(pb::ExpireTrialRequest {
                        id,
                        request_id: request_id(),
                    })
                    .await
            }
            Move::End => {
                client
                    .end_period(pb::EndPeriodRequest {
                        id,
                        request_id: request_id(),
                    })
                    .await
            }
        };
        answer.map(|r| priced(r.into_inner()))
    }

    /// The events an accepted move may cause.
    fn events(&self) -> &'static [&'static str] {
        match self {
            Move::Pay => &["payment_succeeded"],
            Move::Fail => &["payment_failed"],
            Move::CancelNow(_) => &["canceled"],
            Move::CancelAtEnd(_) => &["cancellation_scheduled"],
            Move::Resume(_) => &["resumed"],
            Move::Seats(..) => &["seats_changed"],
            Move::Plan(..) => &["plan_changed"],
            Move::Expire => &["trial_expired", "canceled"],
            Move::End => &["period_ended", "canceled"],
        }
    }
}

/// The status a subscription is in after an event, given the status before it.
fn status_after(before: StatusKind, event_type: &str) -> StatusKind {
    match event_type.strip_prefix("billing.subscription.") {
        Some("trial_started") => StatusKind::Trialing,
        Some("payment_succeeded") => StatusKind::Active,
        Some("payment_failed" | "trial_expired" | "period_ended") => StatusKind::PastDue,
        Some("canceled") => StatusKind::Canceled,
        Some("plan_changed" | "seats_changed" | "cancellation_scheduled" | "resumed") => before,
        _ => panic!("unknown billing event {event_type}"),
    }
}

fn kind_of(subscription: &pb::Subscription) -> StatusKind {
    match status_of(subscription) {
        pb::SubscriptionStatus::Trialing => StatusKind::Trialing,
        pb::SubscriptionStatus::Active => StatusKind::Active,
        pb::SubscriptionStatus::PastDue => StatusKind::PastDue,
        pb::SubscriptionStatus::Canceled => StatusKind::Canceled,
        pb::SubscriptionStatus::Unspecified => panic!("unspecified status: {subscription:?}"),
    }
}

/// Refusals a valid billing command may meet in a race: the domain's, and the etag's.
const EXPECTED_REFUSALS: &[(Code, &str)] = &[
    (Code::FailedPrecondition, "SEATS_EXCEED_PLAN"),
    (Code::FailedPrecondition, "SEATS_BELOW_IN_USE"),
    (Code::FailedPrecondition, "PLAN_UNCHANGED"),
    (Code::FailedPrecondition, "SEATS_UNCHANGED"),
    (Code::FailedPrecondition, "SUBSCRIPTION_CANCELED"),
    (Code::FailedPrecondition, "ILLEGAL_TRANSITION"),
    (Code::FailedPrecondition, "TRIAL_NOT_ENDED"),
    (Code::FailedPrecondition, "PERIOD_NOT_ENDED"),
    (Code::FailedPrecondition, "NO_CURRENT_PERIOD"),
    (Code::FailedPrecondition, "CANCEL_ALREADY_SCHEDULED"),
    (Code::FailedPrecondition, "CANCEL_NOT_SCHEDULED"),
    (Code::Aborted, "ETAG_MISMATCH"),
    (Code::Aborted, "CONCURRENT_MODIFICATION"),
];

const SUBSCRIPTIONS: usize = 8;
const BATCHES: usize = 10;
const MOVES_PER_BATCH: usize = 5;

/// What one call of a batch came back with.
enum Outcome {
    Answer(Box<Result<pb::Subscription, Status>>),
    Swept(Result<usize, platform::store::StoreError>),
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn random_concurrent_billing_events_only_make_legal_transitions() {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let mut rng = Rng::new(seed);
    let services = DataServices::spawn().await;
    let mut clients = Vec::new();
    for _ in 0..4 {
        clients.push(services.subscriptions_client().await);
    }
    let mut client = clients[0].clone();
    let mut ids = Vec::new();
    for _ in 0..SUBSCRIPTIONS {
        ids.push(trial(&mut client).await.id);
    }

    let mut accepted: Vec<(usize, Move, pb::Subscription)> = Vec::new();
    let mut refusals: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut unexpected = Vec::new();
    let mut swept = 0;
    for batch in 0..BATCHES {
        if batch > 0 {
            // Time passes between batches: trials and periods run out.
            services
                .clock
                .advance(Duration::hours(rng.int(0, 40 * 24) as i64));
        }
        let mut plan = Vec::new();
        for (s, id) in ids.iter().enumerate() {
            let etag = get(&mut client, id).await.etag;
            for _ in 0..MOVES_PER_BATCH {
                plan.push((s, Move::random(&mut rng, &etag)));
            }
        }
        let plan = Arc::new(plan);
        // One more call in the batch is the sweep, as the service's own sweeper runs it.
        let results = all_at_once(plan.len() + 1, |i| {
            let (plan, ids) = (plan.clone(), ids.clone());
            let mut client = clients[i % clients.len()].clone();
            let store = services.subscriptions.clone();
            async move {
                match plan.get(i) {
                    Some((s, step)) => {
                        Outcome::Answer(Box::new(step.send(&mut client, &ids[*s]).await))
                    }
                    None => Outcome::Swept(store.sweep_once().await),
                }
            }
        })
        .await;
        for (i, result) in results.into_iter().enumerate() {
            match (plan.get(i), result) {
                (None, Outcome::Swept(result)) => swept += result.expect("the sweep succeeds"),
                (Some((s, step)), Outcome::Answer(answer)) => match *answer {
                    Ok(subscription) => accepted.push((*s, step.clone(), subscription)),
                    Err(status) => {
                        let info = tonic_types::StatusExt::get_details_error_info(&status);
                        let known =
                            EXPECTED_REFUSALS.contains(&(status.code(), reason(&status).as_str()));
                        if !known || info.is_none_or(|i| i.domain != DOMAIN) {
                            unexpected.push(format!("{step:?}: {status:?}"));
                        }
                        *refusals
                            .entry((format!("{:?}", status.code()), reason(&status)))
                            .or_default() += 1;
                    }
                },
                _ => unreachable!("results come back in call order"),
            }
        }
    }
    // Shown when the test fails: what the race did.
    eprintln!(
        "seed {seed}: {} accepted, {swept} swept, refusals {refusals:?}",
        accepted.len()
    );
    assert!(
        unexpected.is_empty(),
        "seed {seed}: refusals must be FAILED_PRECONDITION or ABORTED with a billing reason, \
         never INTERNAL: {unexpected:#?}"
    );

    let conn = open(&services.databases[2]).await;
    let mut committed = 0;
    let mut seen = BTreeSet::new();
    for (s, id) in ids.iter().enumerate() {
        let rows = outbox(&conn, id).await;
        let history: Vec<_> = rows
            .iter()
            .map(|r| (r.version, r.event_type.clone()))
            .collect();
        assert_eq!(
            rows.iter().map(|r| r.version).collect::<Vec<_>>(),
            (1..=rows.len() as i64).collect::<Vec<_>>(),
            "seed {seed}: one event per version, no gaps: {history:?}"
        );
        assert_eq!(rows[0].event_type, event("trial_started"));
        for row in &rows {
            assert_eq!(row.subscription_id(), *id);
        }

        // Replay the status kinds and check every step against the machine.
        let mut kinds = vec![StatusKind::Trialing];
        for row in &rows[1..] {
            let before = *kinds.last().unwrap();
            let after = status_after(before, &row.event_type);
            assert!(
                is_legal_transition(before, after),
                "seed {seed}: subscription {s} went {before} -> {after} by {} at v{}: {history:?}",
                row.event_type,
                row.version
            );
            kinds.push(after);
            seen.insert(row.event_type.clone());
        }

        // Every accepted command answered with the status its own committed event made, and
        // no two claim the same version.
        let answers: Vec<_> = accepted.iter().filter(|(i, ..)| *i == s).collect();
        let versions: BTreeSet<_> = answers.iter().map(|(.., a)| version(&a.etag)).collect();
        assert_eq!(versions.len(), answers.len(), "seed {seed}: {answers:?}");
        for (_, step, answer) in answers {
            let v = version(&answer.etag) as usize;
            assert!(
                v >= 2 && v <= rows.len(),
                "seed {seed}: {step:?} answered v{v}"
            );
            let row = &rows[v - 1];
            assert!(
                step.events().iter().any(|e| row.event_type == event(e)),
                "seed {seed}: {step:?} answered v{v}, committed as {}",
                row.event_type
            );
            assert_eq!(
                kind_of(answer),
                kinds[v - 1],
                "seed {seed}: {step:?} at v{v}"
            );
        }
        let last = get(&mut client, id).await;
        assert_eq!(version(&last.etag) as usize, rows.len(), "seed {seed}");
        assert_eq!(kind_of(&last), *kinds.last().unwrap(), "seed {seed}");
        committed += rows.len() - 1;
    }
    assert_eq!(
        committed,
        accepted.len() + swept,
        "seed {seed}: every committed event is an acknowledged command or a sweep"
    );
    // The race was a real one: commands were accepted and refused, and moved the status.
    assert!(
        seen.contains(&event("payment_succeeded")) && seen.contains(&event("payment_failed")),
        "seed {seed}: events seen {seen:?}, refusals {refusals:?}"
    );
    assert!(!refusals.is_empty(), "seed {seed}");
}

/// Checks a same-etag race: exactly one success, every other call `ABORTED` / `ETAG_MISMATCH`.
fn assert_one_winner(
    results: &[Result<pb::Subscription, Status>],
    initial: &pb::Subscription,
) -> pb::Subscription {
    let winners: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    let losers: BTreeMap<(String, String), usize> = results
        .iter()
        .filter_map(|r| r.as_ref().err())
        .fold(BTreeMap::new(), |mut seen, status| {
            *seen
                .entry((format!("{:?}", status.code()), reason(status)))
                .or_default() += 1;
            seen
        });
    assert_eq!(
        winners.len(),
        1,
        "exactly one winner; the others: {losers:?}"
    );
    assert_eq!(
        losers,
        BTreeMap::from([(
            ("Aborted".to_owned(), "ETAG_MISMATCH".to_owned()),
            results.len() - 1
        )])
    );
    assert_eq!(version(&winners[0].etag), version(&initial.etag) + 1);
    winners[0].clone()
}

/// 100 ChangeSeats with the same etag over `clients`, each to another seat count.
async fn same_etag_seat_race(
    clients: &[SubscriptionClient],
    initial: &pb::Subscription,
) -> Vec<Result<pb::Subscription, Status>> {
    all_at_once(100, |i| {
        let mut client = clients[i % clients.len()].clone();
        let request = change_seats_request(&initial.id, &initial.etag, 6 + (i % 45) as i32, 1);
        async move {
            client
                .change_seats(request)
                .await
                .map(|r| priced(r.into_inner()))
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_same_etag_seat_changes_have_exactly_one_winner() {
    let services = DataServices::spawn().await;
    let mut client = services.subscriptions_client().await;
    let initial = trial(&mut client).await;

    let results = same_etag_seat_race(&[client.clone()], &initial).await;

    let winner = assert_one_winner(&results, &initial);
    assert_eq!(get(&mut client, &initial.id).await, winner);
    let conn = open(&services.databases[2]).await;
    assert_eq!(
        crate::concurrency::outbox_rows(&conn, &initial.id, Some(&event("seats_changed"))).await,
        1
    );
    assert_eq!(recorded_requests(&conn, "ChangeSeats").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_same_etag_seat_changes_across_two_processes_have_exactly_one_winner() {
    let db = TestDatabase::fresh().await;
    let first = ServerProcess::start("billing", &db.url).await;
    let second = ServerProcess::start("billing", &db.url).await;
    assert_ne!(first.pid(), second.pid());
    let clients = [client_at(first.addr).await, client_at(second.addr).await];
    let initial = trial(&mut clients[0].clone()).await;

    let results = same_etag_seat_race(&clients, &initial).await;

    let winner = assert_one_winner(&results, &initial);
    for client in &clients {
        assert_eq!(get(&mut client.clone(), &initial.id).await, winner);
    }
    let conn = open(&db).await;
    assert_eq!(
        crate::concurrency::outbox_rows(&conn, &initial.id, Some(&event("seats_changed"))).await,
        1
    );
    assert_eq!(recorded_requests(&conn, "ChangeSeats").await, 1);
}

/// 50 copies of one payment at once over `clients`: one payment booked, every caller gets it.
async fn duplicate_payments_book_one(clients: &[SubscriptionClient], db: &TestDatabase) {
    let mut client = clients[0].clone();
    let initial = trial(&mut client).await;
    let request = pb::RecordPaymentSucceededRequest {
        id: initial.id.clone(),
        request_id: request_id(),
    };
    let results = all_at_once(50, |i| {
        let mut client = clients[i % clients.len()].clone();
        let request = request.clone();
        async move {
            client
                .record_payment_succeeded(request)
                .await
                .map(|r| r.into_inner())
        }
    })
    .await;
    let first = results[0].clone().expect("the payment is booked");
    for result in &results {
        assert_eq!(
            result.as_ref().ok(),
            Some(&first),
            "every duplicate gets the original"
        );
    }
    assert_eq!(version(&first.etag), 2);
    assert_eq!(
        super::at(&first.period_end_time),
        one_month_after(super::at(&first.update_time)),
        "one month paid, not fifty"
    );
    assert_eq!(get(&mut client, &initial.id).await, first);
    let conn = open(db).await;
    assert_eq!(
        crate::concurrency::outbox_rows(&conn, &initial.id, Some(&event("payment_succeeded")))
            .await,
        1
    );
    assert_eq!(recorded_requests(&conn, "RecordPaymentSucceeded").await, 1);
    assert_eq!(
        count(
            &conn,
            "SELECT COUNT(*) FROM idempotency WHERE response IS NULL",
            vec![]
        )
        .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_duplicate_payments_at_once_book_one_payment() {
    let services = DataServices::spawn().await;
    let client = services.subscriptions_client().await;
    duplicate_payments_book_one(&[client], &services.databases[2]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_duplicate_payments_across_two_processes_book_one_payment() {
    let db = TestDatabase::fresh().await;
    let first = ServerProcess::start("billing", &db.url).await;
    let second = ServerProcess::start("billing", &db.url).await;
    let clients = [client_at(first.addr).await, client_at(second.addr).await];
    duplicate_payments_book_one(&clients, &db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_duplicate_trials_at_once_start_one_subscription() {
    let services = DataServices::spawn().await;
    let client = services.subscriptions_client().await;
    let request = pb::StartTrialRequest {
        request_id: request_id(),
        workspace_id: super::workspace_id(),
    };
    let results = all_at_once(50, |_| {
        let mut client = client.clone();
        let request = request.clone();
        async move {
            client
                .start_trial(request)
                .await
                .map(|r| priced(r.into_inner()))
        }
    })
    .await;
    let first = results[0].clone().expect("the trial starts");
    for result in &results {
        assert_eq!(
            result.as_ref().ok(),
            Some(&first),
            "every duplicate gets the original"
        );
    }
    let conn = open(&services.databases[2]).await;
    assert_eq!(
        count(&conn, "SELECT COUNT(*) FROM subscriptions", vec![]).await,
        1
    );
    assert_eq!(count(&conn, "SELECT COUNT(*) FROM outbox", vec![]).await, 1);
    assert_eq!(recorded_requests(&conn, "StartTrial").await, 1);
}
