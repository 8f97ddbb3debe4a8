use kernel_domain::{Rejection, RejectionKind};

use crate::{BillingError, Money, Plan, Seats, StatusKind};

#[test]
fn money_displays_as_dollars_and_cents() {
    let cases = [
        (0, "$0.00"),
        (5, "$0.05"),
        (800, "$8.00"),
        (1500, "$15.00"),
        (123_456, "$1,234.56"),
        (1_200_000, "$12,000.00"),
        (100_000_000, "$1,000,000.00"),
        (u64::MAX, "$184,467,440,737,095,516.15"),
    ];
    for (cents, shown) in cases {
        assert_eq!(Money::from_cents(cents).to_string(), shown);
    }
}

#[test]
fn money_arithmetic_is_checked() {
    let eight = Money::from_cents(800);
    assert_eq!(eight.checked_add(eight), Some(Money::from_cents(1600)));
    assert_eq!(eight.checked_mul(5), Some(Money::from_cents(4000)));
    assert_eq!(
        eight.checked_sub(Money::from_cents(300)),
        Some(Money::from_cents(500))
    );
    assert_eq!(Money::MAX.checked_add(Money::from_cents(1)), None);
    assert_eq!(Money::MAX.checked_mul(2), None);
    assert_eq!(Money::ZERO.checked_sub(Money::from_cents(1)), None);
}

#[test]
fn money_is_stored_as_cents() {
    assert_eq!(
        serde_json::to_string(&Money::from_cents(800)).unwrap(),
        "800"
    );
    assert_eq!(
        serde_json::from_str::<Money>("1500").unwrap(),
        Money::from_cents(1500)
    );
    assert!(serde_json::from_str::<Money>("-1").is_err());
    assert!(serde_json::from_str::<Money>("8.5").is_err());
}

#[test]
fn seats_must_be_at_least_one() {
    assert_eq!(Seats::parse(0), Err(BillingError::InvalidSeats));
    assert_eq!(Seats::parse(1).map(Seats::get), Ok(1));
    assert_eq!(Seats::MIN.get(), 1);
    assert_eq!(Seats::parse(u32::MAX).map(Seats::get), Ok(u32::MAX));
}

#[test]
fn seats_deserialization_applies_the_rules() {
    assert!(serde_json::from_str::<Seats>("0").is_err());
    assert!(serde_json::from_str::<Seats>("-3").is_err());
    assert_eq!(serde_json::from_str::<Seats>("7").unwrap().get(), 7);
    assert_eq!(
        serde_json::to_string(&Seats::parse(7).unwrap()).unwrap(),
        "7"
    );
}

#[test]
fn plan_catalogue_has_its_seat_limits_and_prices() {
    let catalogue: Vec<(Plan, u32, u64)> = Plan::ALL
        .into_iter()
        .map(|plan| (plan, plan.max_seats(), plan.price_per_seat().cents()))
        .collect();
    assert_eq!(
        catalogue,
        [
            (Plan::Free, 3, 0),
            (Plan::Team, 50, 800),
            (Plan::Business, 1000, 1500)
        ]
    );
    assert_eq!(Plan::Team.price_per_seat().to_string(), "$8.00");
}

#[test]
fn plan_parses_from_its_name() {
    assert_eq!(Plan::parse("free"), Ok(Plan::Free));
    assert_eq!(Plan::parse("team"), Ok(Plan::Team));
    assert_eq!(Plan::parse("business"), Ok(Plan::Business));
    assert_eq!(Plan::parse("  Business \n"), Ok(Plan::Business));
    assert_eq!(Plan::try_from("TEAM"), Ok(Plan::Team));
    for plan in Plan::ALL {
        assert_eq!(Plan::parse(&plan.to_string()), Ok(plan));
    }
}

#[test]
fn unknown_plans_are_refused() {
    for bad in ["", "  ", "enterprise", "teams", "free plan", "t eam"] {
        assert_eq!(Plan::parse(bad), Err(BillingError::InvalidPlan), "{bad:?}");
    }
}

#[test]
fn plan_and_status_serialize_as_their_names() {
    assert_eq!(
        serde_json::to_string(&Plan::Business).unwrap(),
        "\"business\""
    );
    assert_eq!(
        serde_json::from_str::<Plan>("\"free\"").unwrap(),
        Plan::Free
    );
    for kind in StatusKind::ALL {
        assert_eq!(
            serde_json::to_string(&kind).unwrap(),
            format!("\"{}\"", kind.as_str())
        );
    }
    assert_eq!(StatusKind::PastDue.to_string(), "past_due");
}

#[test]
fn invalid_values_are_bad_input_on_their_field() {
    let cases = [
        (Seats::parse(0).unwrap_err(), "INVALID_SEATS", "seats"),
        (Plan::parse("gold").unwrap_err(), "INVALID_PLAN", "plan"),
    ];
    for (error, reason, field) in cases {
        let rejection = Rejection::from(error);
        assert_eq!(rejection.kind, RejectionKind::InvalidArgument);
        assert_eq!(rejection.reason, reason);
        assert_eq!(rejection.field_violations.len(), 1);
        assert_eq!(rejection.field_violations[0].field, field);
    }
}

#[test]
fn every_error_has_its_stable_reason_and_kind() {
    use RejectionKind::FailedPrecondition;
    let cases = [
        (
            BillingError::SeatsExceedPlan {
                seats: 51,
                plan: Plan::Team,
                max: 50,
            },
            "SEATS_EXCEED_PLAN",
        ),
        (
            BillingError::SeatsBelowInUse {
                seats: 3,
                in_use: 4,
            },
            "SEATS_BELOW_IN_USE",
        ),
        (BillingError::PlanUnchanged(Plan::Team), "PLAN_UNCHANGED"),
        (BillingError::SeatsUnchanged(5), "SEATS_UNCHANGED"),
        (BillingError::Canceled, "SUBSCRIPTION_CANCELED"),
        (
            BillingError::IllegalTransition {
                action: "expire the trial",
                from: StatusKind::Active,
            },
            "ILLEGAL_TRANSITION",
        ),
        (
            BillingError::TrialNotEnded {
                trial_ends_at: super::t0(),
            },
            "TRIAL_NOT_ENDED",
        ),
        (
            BillingError::PeriodNotEnded {
                period_ends_at: super::t0(),
            },
            "PERIOD_NOT_ENDED",
        ),
        (BillingError::NoCurrentPeriod, "NO_CURRENT_PERIOD"),
        (
            BillingError::CancelAlreadyScheduled,
            "CANCEL_ALREADY_SCHEDULED",
        ),
        (BillingError::CancelNotScheduled, "CANCEL_NOT_SCHEDULED"),
    ];
    for (error, reason) in cases {
        let message = error.to_string();
        let rejection = Rejection::from(error);
        assert_eq!(rejection.reason, reason);
        assert_eq!(rejection.kind, FailedPrecondition, "{reason}");
        assert_eq!(rejection.message, message);
        assert!(rejection.field_violations.is_empty());
    }
}

#[test]
fn error_messages_read_as_sentences() {
    assert_eq!(
        BillingError::IllegalTransition {
            action: "expire the trial",
            from: StatusKind::PastDue
        }
        .to_string(),
        "cannot expire the trial while the subscription is past due"
    );
    assert_eq!(
        BillingError::SeatsExceedPlan {
            seats: 5,
            plan: Plan::Free,
            max: 3
        }
        .to_string(),
        "5 seats are more than the 3 the free plan allows"
    );
}
