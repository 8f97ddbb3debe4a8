//! identity-domain
