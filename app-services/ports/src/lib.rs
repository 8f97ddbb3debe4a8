//! The ports application services depend on, in the application's language.
//!
//! Use cases reach the data services only through the traits here: [`Users`] (Identity),
//! [`Workspaces`] (Workspace), [`Subscriptions`] (Billing) and [`Feeds`] (Notifications),
//! plus [`Mailer`] for outgoing mail. A unit test mocks the trait (`MockUsers`, ... with the
//! `testsuite` feature; [`types::examples`] has ready-made values).
//!
//! Every port speaks the application's language: typed ids ([`types`]), the kernel's
//! `Version` instead of etag strings, plain enums and structs, a step name instead of a
//! request id, and per method a typed error enum ([`WorkspaceReadError`], ...) whose variants
//! a use case `match`es on, with `Other` for everything else. Only the adapters (in
//! `adapters-app`) map to and from the published language; this crate does not depend on
//! it, nor on tonic or prost.
//!
//! Every call carries a [`Ctx`]: the acting user, the use case's request id (from which each
//! step's request id is derived, so a retried use case converges) and a correlation id for
//! logs. Failures come back as [`AppError`], which keeps the data service's stable reason and
//! field violations and knows its HTTP status.
//!
//! **Architecture invariant:** nothing here opens a database or a connection; the adapters
//! (`adapters-app`) do.

pub mod billing;
mod context;
mod error;
pub mod identity;
pub mod mail;
pub mod notifications;
#[cfg(feature = "http")]
pub mod problem;
pub mod sign_up;
pub mod token;
pub mod types;
pub mod workspace;

pub use billing::{
    Plan, StartTrialError, Subscription, SubscriptionChangeError, SubscriptionReadError,
    SubscriptionStatus, Subscriptions,
};
pub use context::{Ctx, IDEMPOTENCY_KEY_FIELD};
pub use error::{AppError, AppResult, ErrorKind, FieldErrors, REQUEST_ID_REUSED};
pub use identity::{
    CloseSessionError, CredentialsError, LookupError, NewUser, Session, SessionError, SignInError,
    SignUpState, SignUpWindow, TokenError, User, UserChangeError, UserReadError, UserStatus, Users,
};
pub use mail::{Mail, MailKind, Mailer};
pub use notifications::{FeedEntry, FeedError, FeedPage, Feeds, NewFeedEntry};
pub use types::{InvitationId, SessionId, SubscriptionId, UserId, WorkspaceId};
pub use workspace::{
    Acceptance, Invitation, InvitationState, Member, NewInvitation, NewWorkspace, Role,
    SeatLimitError, SubscriptionStanding, Workspace, WorkspaceChangeError, WorkspacePage,
    WorkspaceReadError, Workspaces,
};

#[cfg(any(test, feature = "testsuite"))]
pub use mail::MockMailer;
#[cfg(any(test, feature = "testsuite"))]
pub use {
    billing::MockSubscriptions, identity::MockUsers, notifications::MockFeeds,
    workspace::MockWorkspaces,
};
