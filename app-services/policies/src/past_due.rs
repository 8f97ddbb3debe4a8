//! A past due subscription notifies the workspace's Owners.

use platform::consume::HandlerError;
use ports_app::{ErrorKind, Mail, MailKind, Role, SubscriptionStatus, UserId, Workspace};
use saas_proto::{
    billing::v1::{SubscriptionPaymentFailed, SubscriptionPeriodEnded, SubscriptionTrialExpired},
    events::v1::EventEnvelope,
};

use crate::{
    PAYMENT_FAILED, PERIOD_ENDED, Policies, TRIAL_EXPIRED, event_ctx, handler_error, payload,
    payload_id,
};

/// The most users one `BatchGetUsers` call may ask for.
const BATCH: usize = 100;

/// Why a subscription became past due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cause {
    PaymentFailed,
    TrialExpired,
    PeriodEnded,
}

impl Policies {
    /// On `billing.subscription.payment_failed`, `trial_expired` or `period_ended` (each
    /// leaves the subscription past due): mails every Owner of the subscription's workspace
    /// a `past-due` mail (no token).
    ///
    /// - Only a subscription that is still past due is announced: when it was paid or
    ///   canceled before the event is handled, nothing is sent.
    /// - Owners are read from the workspace and their addresses from Identity; an erased
    ///   Owner (no address) is skipped, and so is an Owner whose address the mailer refuses
    ///   (logged).
    /// - A mail that fails to go out for another reason fails the event transiently: it is
    ///   retried and the Owners mailed before may get the mail again (at least once).
    /// - Other subscription events are acknowledged and ignored.
    pub async fn past_due(&self, envelope: EventEnvelope) -> Result<(), HandlerError> {
        let (cause, subscription_id, workspace_id) = match envelope.event_type.as_str() {
            PAYMENT_FAILED => {
                let event: SubscriptionPaymentFailed =
                    payload(&envelope, "saas.billing.v1.SubscriptionPaymentFailed")?;
                (
                    Cause::PaymentFailed,
                    event.subscription_id,
                    event.workspace_id,
                )
            }
            TRIAL_EXPIRED => {
                let event: SubscriptionTrialExpired =
                    payload(&envelope, "saas.billing.v1.SubscriptionTrialExpired")?;
                (
                    Cause::TrialExpired,
                    event.subscription_id,
                    event.workspace_id,
                )
            }
            PERIOD_ENDED => {
                let event: SubscriptionPeriodEnded =
                    payload(&envelope, "saas.billing.v1.SubscriptionPeriodEnded")?;
                (
                    Cause::PeriodEnded,
                    event.subscription_id,
                    event.workspace_id,
                )
            }
            _ => return Ok(()),
        };
        let ctx = event_ctx(&envelope)?;
        let subscription_id = payload_id("subscription_id", &subscription_id)?;
        let workspace_id = payload_id("workspace_id", &workspace_id)?;

        let subscription = self
            .subscriptions
            .get_subscription(&ctx, subscription_id.into())
            .await
            .map_err(|e| handler_error(e.app_error()))?;
        if subscription.status != SubscriptionStatus::PastDue {
            tracing::debug!(
                event_id = %envelope.event_id,
                %workspace_id,
                status = ?subscription.status,
                "the subscription is no longer past due; nobody is told"
            );
            return Ok(());
        }
        let held = self
            .workspaces
            .get_workspace(&ctx, workspace_id.into())
            .await
            .map_err(|e| handler_error(e.app_error()))?;
        let owners: Vec<UserId> = held
            .members_with(Role::Owner)
            .map(|member| member.user_id)
            .collect();
        let mut sent = 0_usize;
        for ids in owners.chunks(BATCH) {
            let found = self
                .users
                .batch_get_users(&ctx, ids.to_vec())
                .await
                .map_err(|e| handler_error(&e))?;
            for owner in found.iter().filter(|user| !user.email.is_empty()) {
                let mail = past_due_mail(cause, &held, &owner.email);
                match self.mailer.send(mail).await {
                    Ok(()) => sent += 1,
                    Err(error) if matches!(error.kind, ErrorKind::Rejected(_)) => {
                        tracing::warn!(
                            event_id = %envelope.event_id,
                            %workspace_id,
                            user = %owner.id,
                            error = %error,
                            "an owner's address cannot receive the past-due mail"
                        );
                    }
                    Err(error) => return Err(HandlerError::Retry(error.to_string())),
                }
            }
        }
        tracing::debug!(
            event_id = %envelope.event_id,
            %workspace_id,
            owners = owners.len(),
            sent,
            "owners told that the subscription is past due"
        );
        Ok(())
    }
}

/// The `past-due` mail to one Owner of `held`.
fn past_due_mail(cause: Cause, held: &Workspace, to: &str) -> Mail {
    // The name goes into a header: keep it on one line.
    let name: String = held.name.chars().filter(|c| !c.is_control()).collect();
    let what = match cause {
        Cause::PaymentFailed => format!("A payment for the workspace \"{name}\" failed."),
        Cause::TrialExpired => {
            format!("The trial of the workspace \"{name}\" ended without a payment.")
        }
        Cause::PeriodEnded => {
            format!("The paid period of the workspace \"{name}\" ended without a renewal payment.")
        }
    };
    Mail {
        kind: MailKind::PastDue,
        to: to.to_owned(),
        subject: format!("Payment needed for {name}"),
        text: format!(
            "Hello,\n\n{what} Its subscription is past due: please pay to keep using it.\n\n\
             You receive this mail as an owner of the workspace (slug: {}).\n",
            held.slug
        ),
        token: String::new(),
    }
}
