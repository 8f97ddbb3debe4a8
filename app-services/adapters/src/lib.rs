//! The adapters of the application's ports (`ports-app`): [`grpc`] calls the data services,
//! [`mail`] sends mail as files, over SMTP or into memory.
//!
//! Use cases never see this crate: the launcher and the tests build the adapters and hand
//! them to the use cases as the port traits.

pub mod grpc;
pub mod mail;
