//! saas-proto
