//! The gateway's integration tests, in one test binary: each module is one area, all of
//! them sharing the fixtures of [`common`].

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test crate: a failed unwrap is a failed test"
)]

mod common;

mod chaos;
mod cost;
mod dashboard;
mod dialects;
mod failover;
mod hostile_upstream;
mod keys;
mod otlp;
mod postgres_usage;
mod routing;
mod shared_limits;
mod slow_clients;
mod stores;
mod telemetry;
mod timeouts;
mod trails;
mod trust;
mod upstream_failures;
mod usage_log;
mod vendors;
mod virtual_models;
