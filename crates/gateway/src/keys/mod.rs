//! Gateway keys on the request path: who is calling ([`ring`]), may they use this model,
//! and are they within their rate limits and budget ([`admission`]) — all from memory,
//! never the database; with `[limits] backend = "redis"` the limits and budgets are
//! shared by replicas ([`redis`]), optionally through local leases (`lease`).
//! [`access`] guards the admin and ops endpoints.

pub(crate) mod access;
pub(crate) mod admission;
mod lease;
pub(crate) mod redis;
pub(crate) mod ring;

pub(crate) use admission::{Admission, KeyState};
pub(crate) use ring::Keyring;
