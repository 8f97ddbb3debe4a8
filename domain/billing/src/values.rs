//! Value objects of the Billing context: money, seats and plans.

use serde::{Deserialize, Serialize};

use crate::BillingError;

/// An amount of US dollars in whole cents (minor units), never negative, never a float.
///
/// Arithmetic is checked: every operation that could overflow returns an `Option`, so an
/// overflow is never silent. Stored and sent as the number of cents; shown as `$8.00`, with
/// a comma between thousands (`$12,000.00`).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Money(u64);

impl Money {
    /// Nothing.
    pub const ZERO: Money = Money(0);
    /// The largest amount there is.
    pub const MAX: Money = Money(u64::MAX);

    /// An amount of cents.
    pub const fn from_cents(cents: u64) -> Self {
        Money(cents)
    }

    /// The amount in cents.
    pub const fn cents(self) -> u64 {
        self.0
    }

    /// The sum, or `None` if it would overflow.
    pub const fn checked_add(self, other: Money) -> Option<Money> {
        match self.0.checked_add(other.0) {
            Some(cents) => Some(Money(cents)),
            None => None,
        }
    }

    /// The difference, or `None` if `other` is larger (money here is never negative).
    pub const fn checked_sub(self, other: Money) -> Option<Money> {
        match self.0.checked_sub(other.0) {
            Some(cents) => Some(Money(cents)),
            None => None,
        }
    }

    /// `factor` times this amount, or `None` if it would overflow.
    pub const fn checked_mul(self, factor: u64) -> Option<Money> {
        match self.0.checked_mul(factor) {
            Some(cents) => Some(Money(cents)),
            None => None,
        }
    }
}

impl std::fmt::Display for Money {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let dollars = (self.0 / 100).to_string();
        let mut grouped = String::with_capacity(dollars.len() + dollars.len() / 3);
        for (i, digit) in dollars.chars().enumerate() {
            if i > 0 && (dollars.len() - i).is_multiple_of(3) {
                grouped.push(',');
            }
            grouped.push(digit);
        }
        write!(f, "${grouped}.{:02}", self.0 % 100)
    }
}

/// How many seats a subscription pays for: at least 1.
///
/// The upper bound depends on the plan ([`Plan::max_seats`]) and the lower bound on the
/// seats in use; the [`crate::Subscription`] checks both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct Seats(u32);

impl Seats {
    /// The fewest seats a subscription can have.
    pub const MIN: Seats = Seats(1);

    /// Checks a seat count as a client asked for it (`INVALID_SEATS` if 0).
    pub const fn parse(seats: u32) -> Result<Self, BillingError> {
        if seats == 0 {
            Err(BillingError::InvalidSeats)
        } else {
            Ok(Seats(seats))
        }
    }

    /// A seat count known when compiling; fails the build if it is 0.
    pub(crate) const fn constant(seats: u32) -> Self {
        assert!(seats >= 1, "a subscription has at least one seat");
        Seats(seats)
    }

    /// The number of seats.
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<u32> for Seats {
    type Error = BillingError;
    fn try_from(value: u32) -> Result<Self, Self::Error> {
        Seats::parse(value)
    }
}

impl From<Seats> for u32 {
    fn from(seats: Seats) -> Self {
        seats.0
    }
}

impl std::fmt::Display for Seats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A plan of the catalogue: how many seats it allows and what a seat costs per month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Plan {
    /// Up to 3 seats, free of charge.
    Free,
    /// Up to 50 seats at $8.00 per seat and month.
    Team,
    /// Up to 1 000 seats at $15.00 per seat and month.
    Business,
}

impl Plan {
    /// The whole catalogue, cheapest first.
    pub const ALL: [Plan; 3] = [Plan::Free, Plan::Team, Plan::Business];

    /// Parses a plan name as a client sent it: `free`, `team` or `business`, ignoring
    /// surrounding whitespace and case (`INVALID_PLAN` otherwise).
    pub fn parse(raw: &str) -> Result<Self, BillingError> {
        let name = raw.trim();
        Plan::ALL
            .into_iter()
            .find(|plan| plan.as_str().eq_ignore_ascii_case(name))
            .ok_or(BillingError::InvalidPlan)
    }

    /// The plan's name: `free`, `team` or `business`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Plan::Free => "free",
            Plan::Team => "team",
            Plan::Business => "business",
        }
    }

    /// The most seats a subscription on this plan may have.
    pub const fn max_seats(self) -> u32 {
        match self {
            Plan::Free => 3,
            Plan::Team => 50,
            Plan::Business => 1000,
        }
    }

    /// What one seat costs per month.
    pub const fn price_per_seat(self) -> Money {
        Money::from_cents(self.price_per_seat_cents() as u64)
    }

    const fn price_per_seat_cents(self) -> u32 {
        match self {
            Plan::Free => 0,
            Plan::Team => 800,
            Plan::Business => 1500,
        }
    }

    /// What `seats` seats cost per month: seats × price per seat.
    ///
    /// Exact for any seat count: both factors are below 2³², so the product fits in 64 bits.
    pub const fn monthly_amount(self, seats: Seats) -> Money {
        Money::from_cents(self.price_per_seat_cents() as u64 * seats.get() as u64)
    }
}

impl TryFrom<&str> for Plan {
    type Error = BillingError;
    fn try_from(value: &str) -> Result<Self, Self::Error> {
        Plan::parse(value)
    }
}

impl std::fmt::Display for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
