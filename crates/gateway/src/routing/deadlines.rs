//! One request's time limits: its model's, shortened where the client asked.

use std::time::{Duration, Instant};

/// Time limits of one model.
#[derive(Debug, Clone, Copy)]
pub struct RouteTimeouts {
    /// Whole request.
    pub request: Duration,
    /// Until the first token of a stream.
    pub ttft: Duration,
    /// Gap between data events after the first token.
    pub idle: Duration,
}

/// Shorter limits a client asked for (`x-switchyard-timeout`,
/// `x-switchyard-ttft-timeout`), parsed before anything is spent.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ClientLimits {
    /// Whole request.
    pub request: Option<Duration>,
    /// Until the first token of a stream.
    pub ttft: Option<Duration>,
}

/// One request's time limits: its model's [`RouteTimeouts`], shortened where the client
/// asked (a client cannot raise them). A limit the client shortened is the client's own:
/// its expiry says nothing about the deployment, so it never counts against the
/// deployment's health, the retry budget or latency statistics.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadlines {
    /// Whole request, from its arrival.
    pub request: Duration,
    /// Until the first token of a stream, from when an attempt is sent.
    pub ttft: Duration,
    /// Gap between data events after the first token.
    pub idle: Duration,
    /// `request` is shorter than the model's because the client asked.
    pub request_by_client: bool,
    /// `ttft` is shorter than the model's because the client asked.
    pub ttft_by_client: bool,
}

impl Deadlines {
    /// The model's limits, shortened by the client's.
    pub(crate) fn new(route: RouteTimeouts, client: ClientLimits) -> Self {
        let shorten = |configured: Duration, asked: Option<Duration>| match asked {
            Some(a) if a < configured => (a, true),
            _ => (configured, false),
        };
        let (request, request_by_client) = shorten(route.request, client.request);
        let (ttft, ttft_by_client) = shorten(route.ttft, client.ttft);
        Deadlines {
            request,
            ttft,
            idle: route.idle,
            request_by_client,
            ttft_by_client,
        }
    }

    /// Which limit the client shortened, if any, explains a time-out seen now on an
    /// attempt sent at `sent` of a request that arrived at `started`.
    pub(crate) fn client_expired(
        &self,
        started: Instant,
        sent: Instant,
        stream: bool,
    ) -> Option<ClientExpiry> {
        if self.request_by_client && started.elapsed() >= self.request {
            Some(ClientExpiry::Request)
        } else if stream && self.ttft_by_client && sent.elapsed() >= self.ttft {
            Some(ClientExpiry::Ttft)
        } else {
            None
        }
    }
}

/// A limit the client shortened that ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientExpiry {
    /// The whole request's: it is over.
    Request,
    /// One attempt's time to first token: the next deployment may still answer in time,
    /// but the one that did not is not to blame.
    Ttft,
}
