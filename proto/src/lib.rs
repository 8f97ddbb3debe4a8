//! The published language of the system: the gRPC contracts of every data service.
//!
//! Generated at build time from `proto/saas/**/*.proto` with protox and tonic-prost-build.
//! **Architecture invariant:** this crate depends on none of ours; wire types are mapped to
//! domain types in the data services and application services, never here.

#![allow(clippy::all, missing_docs)]

/// The encoded `FileDescriptorSet` of every proto, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/saas_descriptor.bin"));

/// What every command request names besides its arguments: the aggregate it is on (if any),
/// its request id and the etag the caller read (empty when the message has none). Implemented
/// by the build for every message with a `request_id`, so the data services parse these
/// fields in one place.
pub trait CommandRequest: prost::Message + Send + 'static {
    /// The field naming the aggregate, e.g. `id`; empty for a command that creates one.
    const TARGET_FIELD: &'static str;
    /// The aggregate's id as sent.
    fn target_id(&self) -> &str;
    /// The request id as sent.
    fn request_id(&self) -> &str;
    /// The etag as sent; empty when the caller sent none or the command takes none.
    fn etag(&self) -> &str;
}

include!(concat!(env!("OUT_DIR"), "/command_requests.rs"));

/// `saas.identity.*`
pub mod identity {
    /// `saas.identity.v1`: the `User` aggregate.
    pub mod v1 {
        tonic::include_proto!("saas.identity.v1");
    }
}

/// `saas.workspace.*`
pub mod workspace {
    /// `saas.workspace.v1`: the `Workspace` aggregate.
    pub mod v1 {
        tonic::include_proto!("saas.workspace.v1");
    }
}

/// `saas.billing.*`
pub mod billing {
    /// `saas.billing.v1`: the `Subscription` aggregate.
    pub mod v1 {
        tonic::include_proto!("saas.billing.v1");
    }
}

/// `saas.notifications.*`
pub mod notifications {
    /// `saas.notifications.v1`: the `Feed` aggregate.
    pub mod v1 {
        tonic::include_proto!("saas.notifications.v1");
    }
}

/// `saas.events.*`
pub mod events {
    /// `saas.events.v1`: the envelope every integration event travels in.
    pub mod v1 {
        tonic::include_proto!("saas.events.v1");
    }
}

/// `saas.bench.*`
pub mod bench {
    /// `saas.bench.v1`: the echo baseline of the benchmark.
    pub mod v1 {
        tonic::include_proto!("saas.bench.v1");
    }
}
