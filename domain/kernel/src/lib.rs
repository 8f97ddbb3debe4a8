//! The shared kernel: the few concepts every bounded context speaks the same way.
//!
//! - [`Email`]: an address as users type it, normalised (trimmed, lower-cased) and checked.
//! - [`Version`]: how many commands an aggregate has accepted; its wire form is the opaque etag.
//! - [`Clock`]: where "now" comes from. The domain never reads the system clock itself.
//! - [`Rejection`]: why a command or a value was refused, in words the edge can pass on.
//! - [`TokenHash`]: the only form in which single-use secret tokens are kept.
//! - Id newtypes via [`entity_id!`], all UUIDv7 made outside the domain.
//! - [`text`]: the rules of names, slugs and passwords, which the application layer checks too.
//!
//! **Architecture invariant:** nothing here performs I/O, spawns, or awaits.

mod clock;
mod email;
mod id;
mod rejection;
pub mod text;
mod token;
mod version;

pub use clock::{Clock, ManualClock, Timestamp};
pub use email::{Email, EmailError};
pub use rejection::{ErrorKind, FieldViolation, ProtocolKind, Rejection, RejectionKind};
pub use token::{TokenHash, TokenHashError};
pub use uuid::Uuid;
pub use version::{EtagError, Version};

/// A domain event: something that happened to an aggregate, named in the past tense.
///
/// Events leave a data service through its outbox; they never carry secrets (no password
/// hashes, no token hashes).
pub trait DomainEvent: serde::Serialize + std::fmt::Debug + Send + Sync {
    /// A stable, dotted name such as `identity.user.registered`.
    fn event_type(&self) -> &'static str;
}

/// The root of an aggregate: the only way into its children, identified by a UUID.
pub trait AggregateRoot:
    serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug + Clone + Send + Sync + 'static
{
    /// The events this aggregate emits.
    type Event: DomainEvent + 'static;
    /// The aggregate's id as a UUID.
    fn aggregate_id(&self) -> Uuid;
}
