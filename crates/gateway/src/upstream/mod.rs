//! The HTTP client side: calling a vendor ([`send`]), reading its whole answer
//! ([`answer`]), and the provider as the request path sees it ([`provider`]). Nothing
//! here knows about a request's routing or its usage record.

pub(crate) mod answer;
pub(crate) mod client;
pub(crate) mod messages;
pub(crate) mod provider;
pub(crate) mod send;

use std::pin::Pin;

use bytes::Bytes;
use futures_util::Stream;

pub(crate) use provider::{ProviderRuntime, RegionRuntime};

pub(crate) use client::{UpstreamClient, UpstreamResponse};

/// An upstream body as a stream of byte chunks.
pub(crate) type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, hyper::Error>> + Send>>;

/// `resp`'s body as a [`ByteStream`] of its data frames (trailers are not relayed).
pub(crate) fn body_stream(resp: UpstreamResponse) -> ByteStream {
    Box::pin(http_body_util::BodyDataStream::new(resp.into_body()))
}
