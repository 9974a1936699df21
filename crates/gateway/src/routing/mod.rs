//! Routing: where one request may go and in what order, knowing nothing of HTTP or of the
//! gateway's state. Every piece here is a plain value the runtime builds from config and
//! the request path consults:
//!
//! - [`fit`] — whether a model can take a request (capabilities);
//! - [`virtual_models`] — a virtual model's rules and policy pick a catalog model, and
//!   decide whether a cheap answer escalates;
//! - [`route`] — a model's deployments in tiers, ranked by its balance policy;
//! - [`deployment`] — one deployment: slots, vendor quotas, measured TTFT;
//! - [`deadlines`] — a request's time limits (the model's, shortened by the client);
//! - [`health`] — circuit breakers per deployment;
//! - [`hedger`] and [`retry_budget`] — when a hedge goes out, how many retries and hedges
//!   the traffic allows;
//! - [`bucket`] — the per-minute token bucket behind quotas and key limits.

pub(crate) mod bucket;
pub(crate) mod deadlines;
pub(crate) mod deployment;
pub(crate) mod fit;
pub(crate) mod health;
pub(crate) mod hedger;
pub(crate) mod retry_budget;
pub(crate) mod route;
pub(crate) mod virtual_models;
