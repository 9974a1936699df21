//! The HTTP client side: calling a vendor ([`send`]), reading its whole answer
//! ([`answer`]), and the provider as the request path sees it ([`provider`]). Nothing
//! here knows about a request's routing or its usage record.

pub mod answer;
pub mod provider;
pub mod send;

use std::pin::Pin;

use bytes::Bytes;
use futures_util::Stream;

pub use provider::{ProviderRuntime, RegionRuntime};

/// An upstream body as a stream of byte chunks.
pub type ByteStream = Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;
