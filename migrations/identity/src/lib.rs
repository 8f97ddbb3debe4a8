//! identity-migrations
