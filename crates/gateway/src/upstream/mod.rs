//! The HTTP client side: calling a vendor ([`send`]), reading its whole answer
//! ([`answer`]), and the provider as the request path sees it ([`provider`]). Nothing
//! here knows about a request's routing or its usage record.

pub(crate) mod answer;
pub(crate) mod provider;
pub(crate) mod send;

use std::pin::Pin;

use bytes::Bytes;
use futures_util::Stream;

pub(crate) use provider::{ProviderRuntime, RegionRuntime};

/// An upstream body as a stream of byte chunks.
pub(crate) type ByteStream = Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;
