//! saas-tests
