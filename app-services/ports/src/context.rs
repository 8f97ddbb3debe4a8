use uuid::Uuid;

/// Namespace for deriving step request ids from a use case's request id (UUIDv5).
const STEP_NAMESPACE: Uuid = Uuid::from_u128(0x6d1f_0a52_3c4e_4b8e_9a57_0e2b_7f61_c3d9);

/// How a client names the use case's request id: the HTTP header it sends it in. A field
/// error about a request id names this, never the data services' `request_id`.
pub const IDEMPOTENCY_KEY_FIELD: &str = "Idempotency-Key";

/// Who is calling and why, carried on every port call.
///
/// - `actor`: the authenticated user the call is made for (`x-saas-actor` on the wire), or
///   `None` for anonymous use cases (sign-up, login, password reset).
/// - `request_id`: the use case's idempotency key (the HTTP `Idempotency-Key` header, or a
///   fresh id). Each data-service command gets [`Ctx::step`] of it, so retrying the use case
///   with the same key replays the steps that already happened instead of repeating them.
/// - `correlation_id`: travels as `x-request-id` so the logs of every hop line up.
/// - `deadline`: when the caller stops waiting (the edge's per-route budget); every call
///   made for it gets what remains as its gRPC deadline. `None`: each call gets the
///   adapter's own deadline (policies, tools).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ctx {
    pub actor: Option<Uuid>,
    pub request_id: Uuid,
    pub correlation_id: String,
    pub deadline: Option<std::time::Instant>,
}

impl Ctx {
    /// An anonymous context with a fresh request id.
    pub fn anonymous() -> Self {
        let request_id = Uuid::now_v7();
        Ctx {
            actor: None,
            request_id,
            correlation_id: request_id.to_string(),
            deadline: None,
        }
    }

    /// The same call made for `user`.
    #[must_use]
    pub fn acting_as(&self, user: Uuid) -> Self {
        Ctx {
            actor: Some(user),
            ..self.clone()
        }
    }

    /// The same call under another request id (the HTTP `Idempotency-Key`).
    #[must_use]
    pub fn with_request_id(&self, request_id: Uuid) -> Self {
        Ctx {
            request_id,
            ..self.clone()
        }
    }

    /// The same call, to be answered within `budget` from now.
    #[must_use]
    pub fn within(&self, budget: std::time::Duration) -> Self {
        Ctx {
            deadline: std::time::Instant::now().checked_add(budget),
            ..self.clone()
        }
    }

    /// The acting user, or `UNAUTHENTICATED` for a use case that needs one.
    pub fn user(&self) -> crate::AppResult<Uuid> {
        self.actor.ok_or_else(|| {
            crate::AppError::rejected(
                kernel_domain::RejectionKind::Unauthenticated,
                "UNAUTHENTICATED",
                "sign in first",
            )
        })
    }

    /// The request id of one named step of this use case: the same for the same use-case
    /// request id and step name, different for anything else.
    pub fn step(&self, name: &str) -> String {
        Uuid::new_v5(
            &STEP_NAMESPACE,
            format!("{}/{name}", self.request_id).as_bytes(),
        )
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_id_is_stable_for_the_same_request_and_distinct_per_step() {
        let ctx = Ctx::anonymous();
        assert_eq!(ctx.step("register"), ctx.step("register"));
        assert_ne!(ctx.step("register"), ctx.step("create-workspace"));
        let other = ctx.with_request_id(Uuid::now_v7());
        assert_ne!(ctx.step("register"), other.step("register"));
        assert!(Uuid::try_parse(&ctx.step("register")).is_ok());
    }
}
