//! identity-data
