//! The Switchyard model catalog.
//!
//! This crate is pure and self-contained (no I/O beyond the data compiled into it). It owns:
//! - the built-in catalog in `data/catalog.toml` — providers (endpoints per region, API-key
//!   variable, wire dialect) and models (upstream names, context and output limits,
//!   capabilities, dated list prices, a typical latency profile), embedded with
//!   `include_str!` and parsed and validated by [`Catalog::builtin`];
//! - name resolution: [`normalize_name`] and [`Catalog::resolve`], which accepts canonical ids,
//!   aliases, upstream ids and vendor-prefixed / Hugging-Face-style spellings, and answers
//!   unknown names with "did you mean" suggestions ([`Catalog::suggest`]);
//! - config overlays: [`Catalog::upsert_provider`] and [`Catalog::upsert_model`] with
//!   [`ModelOverride`];
//! - cost arithmetic ([`Price::cost_usd`]) and the `switchyard models` output
//!   ([`Catalog::render_table`], [`Catalog::to_json`]).
//!
//! ```
//! use switchyard_catalog::{Capability, Catalog};
//!
//! let catalog = Catalog::builtin()?;
//! let model = catalog.resolve("Qwen/Qwen3-32B")?;
//! assert_eq!(model.id, "qwen3-32b");
//! assert!(model.supports(Capability::Text));
//! let err = catalog.resolve("qwen3-23b").unwrap_err();
//! assert!(err.to_string().contains("did you mean 'qwen3-32b'"));
//! # Ok::<(), switchyard_catalog::CatalogError>(())
//! ```

mod capability;
mod catalog;
mod error;
mod model;
mod name;
mod price;
mod render;

pub use capability::{Capabilities, Capability};
pub use catalog::{BUILTIN_TOML, Catalog, MAX_SUGGEST_QUERY_LEN};
pub use error::CatalogError;
pub use model::{DIALECTS, Model, ModelOverride, Offer, Provider, Region, Sold, defaults};
pub use name::normalize_name;
pub use price::{Billed, NANOS_PER_USD, OffPeak, Price, PriceTier};
