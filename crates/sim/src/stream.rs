//! The paced response body: waits for a capacity slot if the request is queued, then for
//! the time to first token (DeepSeek's keep-alives flowing throughout), releases events
//! on the decode schedule, and plays `drop_after` / `stall_after` faults. It holds its
//! capacity slot until the last byte is handed to the connection, or until it is
//! dropped.
//!
//! The body is a lazy stream polled by the HTTP connection itself — no task is spawned
//! per request. When the client goes away the connection drops the stream, and with it
//! all generation state; when the simulator shuts down every sleep is cut short.
//!
//! Pacing is by schedule, not by per-token sleeps: event `k` is due at
//! `start + ttft + (k - 1) * per_token`, where `start` is when the request was admitted
//! (its arrival, unless it queued); events already due are written together and only
//! an event in the future causes a flush and a sleep. Timer granularity therefore never
//! slows a fast time scale down.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use bytes::{Bytes, BytesMut};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::answer::Render;
use crate::capacity::{Slot, Ticket, Waiting};
use crate::render::Emitted;
use crate::stats::{InFlight, Stats};

/// Bytes buffered before a write is forced.
const FLUSH_BYTES: usize = 16 * 1024;
/// What DeepSeek sends while a non-streamed request waits.
const KEEPALIVE_BLANK: &[u8] = b"\n";
/// Pause before a `drop_after` cuts the connection, so the tokens before it get out.
const DROP_FLUSH_PAUSE: Duration = Duration::from_millis(5);

/// When things happen.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pacing {
    /// When the request was admitted (a slot free for it).
    pub start: Instant,
    /// Delay before the first token.
    pub ttft: Duration,
    /// Delay between tokens.
    pub per_token: Duration,
    /// Keep-alive interval while waiting, for dialects that send keep-alives.
    pub keepalive: Option<Duration>,
    /// The SSE comment a waiting stream sends (`: keep-alive` at DeepSeek).
    pub keepalive_sse: &'static [u8],
}

impl Pacing {
    fn first_token_at(&self) -> Instant {
        at(self.start, self.ttft)
    }

    /// When token step `step` (1-based; 0 is the role chunk) is due.
    fn step_at(&self, step: u32) -> Instant {
        at(
            self.first_token_at(),
            self.per_token.saturating_mul(step.saturating_sub(1)),
        )
    }
}

/// `t + d`, or `t` should that overflow.
pub(crate) fn at(t: Instant, d: Duration) -> Instant {
    t.checked_add(d).unwrap_or(t)
}

/// A stream fault in play.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StreamFault {
    /// Close the connection after this many output tokens.
    Drop(u32),
    /// Go silent after this many output tokens.
    Stall(u32),
}

impl StreamFault {
    fn after(self) -> u32 {
        match self {
            StreamFault::Drop(n) | StreamFault::Stall(n) => n,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Start,
    Queued,
    Waiting,
    Emitting,
    Faulted,
    Finished,
}

/// Resolves when the simulator shuts down (never, if the signal is gone).
pub(crate) async fn stopped(rx: &mut watch::Receiver<bool>) {
    if rx.wait_for(|s| *s).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Sleep until `t`; `false` if the simulator shut down first.
pub(crate) async fn sleep_until(t: Instant, stop: &mut watch::Receiver<bool>) -> bool {
    if t <= Instant::now() {
        return true;
    }
    tokio::select! {
        () = tokio::time::sleep_until(t) => true,
        () = stopped(stop) => false,
    }
}

/// Produces the body of one paced (or faulted) response.
#[derive(Debug)]
pub(crate) struct Driver {
    events: Render,
    buf: BytesMut,
    pacing: Option<Pacing>,
    fault: Option<StreamFault>,
    streaming: bool,
    stage: Stage,
    next_keepalive: Option<Instant>,
    tokens_sent: u32,
    completion_tokens: u64,
    finished: bool,
    in_flight: InFlight,
    stop: watch::Receiver<bool>,
    /// The capacity slot, once admitted; released when the body ends.
    slot: Option<Slot>,
    /// The place in the capacity queue, until admitted.
    queue: Option<Waiting>,
}

/// What a [`Driver`] sends, and how.
#[derive(Debug)]
pub(crate) struct Answer {
    /// The events of the answer.
    pub(crate) events: Render,
    /// When they are due; `None` sends them at once.
    pub(crate) pacing: Option<Pacing>,
    /// A fault to inject.
    pub(crate) fault: Option<StreamFault>,
    /// Sent as SSE (else as one JSON body).
    pub(crate) streaming: bool,
    /// What a complete answer reports as completion tokens.
    pub(crate) completion_tokens: u64,
}

impl Driver {
    /// A driver for `answer`; `ticket` is the request's capacity slot or place in the
    /// queue.
    pub(crate) fn new(
        answer: Answer,
        stats: Arc<Stats>,
        stop: watch::Receiver<bool>,
        ticket: Ticket,
    ) -> Driver {
        let Answer {
            events,
            pacing,
            fault,
            streaming,
            completion_tokens,
        } = answer;
        let (slot, queue) = match ticket {
            Ticket::Admitted(slot) => (Some(slot), None),
            Ticket::Queued(waiting) => (None, Some(waiting)),
        };
        Driver {
            events,
            buf: BytesMut::with_capacity(4096),
            pacing,
            fault,
            streaming,
            stage: Stage::Start,
            next_keepalive: None,
            tokens_sent: 0,
            completion_tokens,
            finished: false,
            in_flight: InFlight::new(stats),
            stop,
            slot,
            queue,
        }
    }

    /// The HTTP body.
    pub(crate) fn into_body(self) -> Body {
        Body::from_stream(futures_util::stream::unfold(self, |mut d| async move {
            d.next().await.map(|item| (item, d))
        }))
    }

    fn keepalive_bytes(&self) -> Bytes {
        Bytes::from_static(if self.streaming {
            self.pacing.map_or(b"\n".as_slice(), |p| p.keepalive_sse)
        } else {
            KEEPALIVE_BLANK
        })
    }

    fn flush(&mut self) -> Option<io::Result<Bytes>> {
        Some(Ok(self.buf.split().freeze()))
    }

    fn shut_down(&mut self) -> Option<io::Result<Bytes>> {
        self.stage = Stage::Finished;
        self.queue = None;
        self.slot = None;
        Some(Err(io::Error::other("simulator shutting down")))
    }

    /// Whether a non-streamed answer hits its fault (it has more tokens than allowed).
    fn fault_hits_whole_answer(&self) -> bool {
        self.fault
            .is_some_and(|f| u64::from(f.after()) < u64::from(self.events.token_events()))
    }

    /// When the wait before output ends.
    fn wait_target(&self) -> Option<Instant> {
        let p = self.pacing?;
        if self.streaming {
            return Some(p.first_token_at());
        }
        let mut steps = self.events.decode_steps();
        if let (true, Some(f)) = (self.fault_hits_whole_answer(), self.fault) {
            steps = steps.min(f.after());
        }
        Some(at(p.first_token_at(), p.per_token.saturating_mul(steps)))
    }

    /// The next piece of the body.
    pub(crate) async fn next(&mut self) -> Option<io::Result<Bytes>> {
        loop {
            match self.stage {
                Stage::Start => {
                    let queued = self.queue.is_some();
                    self.stage = if queued {
                        Stage::Queued
                    } else {
                        Stage::Waiting
                    };
                    if let Some(p) = self.pacing {
                        let waits = queued || self.wait_target().is_some_and(|t| t > p.start);
                        if let (Some(interval), true) = (p.keepalive, waits) {
                            self.next_keepalive = Some(at(p.start, interval));
                            return Some(Ok(self.keepalive_bytes()));
                        }
                    }
                }
                Stage::Queued => {
                    if let Some(out) = self.queue_wait().await {
                        return Some(out);
                    }
                }
                Stage::Waiting => {
                    if let Some(target) = self.wait_target() {
                        if let (Some(ka), Some(p)) = (self.next_keepalive, self.pacing)
                            && ka < target
                        {
                            if !sleep_until(ka, &mut self.stop).await {
                                return self.shut_down();
                            }
                            let interval = p.keepalive.unwrap_or(Duration::MAX);
                            self.next_keepalive = Some(at(ka, interval));
                            return Some(Ok(self.keepalive_bytes()));
                        }
                        if !sleep_until(target, &mut self.stop).await {
                            return self.shut_down();
                        }
                    }
                    if self.streaming {
                        self.stage = Stage::Emitting;
                    } else if self.fault_hits_whole_answer() {
                        self.stage = Stage::Faulted;
                    } else {
                        self.events.write_completion(&mut self.buf);
                        self.finished = true;
                        self.stage = Stage::Finished;
                        return self.flush();
                    }
                }
                Stage::Emitting => {
                    if let Some(out) = self.emit().await {
                        return Some(out);
                    }
                }
                Stage::Faulted => {
                    return match self.fault {
                        Some(StreamFault::Stall(_)) => {
                            stopped(&mut self.stop).await;
                            self.shut_down()
                        }
                        _ => {
                            // Let the connection flush what was sent: hyper drops its
                            // write buffer when the body fails in the same poll.
                            tokio::time::sleep(DROP_FLUSH_PAUSE).await;
                            self.stage = Stage::Finished;
                            Some(Err(io::Error::new(
                                io::ErrorKind::ConnectionAborted,
                                "simulated connection drop",
                            )))
                        }
                    };
                }
                Stage::Finished => {
                    self.slot = None;
                    return None;
                }
            }
        }
    }

    /// Wait in the capacity queue, with keep-alives; returns a piece to send, or `None`
    /// once admitted (the schedule then starts from now).
    async fn queue_wait(&mut self) -> Option<io::Result<Bytes>> {
        let Some(queue) = self.queue.as_mut() else {
            self.stage = Stage::Waiting;
            return None;
        };
        let keepalive = self
            .pacing
            .and_then(|p| p.keepalive)
            .zip(self.next_keepalive);
        let tick = async {
            match keepalive {
                Some((_, t)) => tokio::time::sleep_until(t).await,
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            biased;
            slot = queue => {
                self.slot = Some(slot);
                self.queue = None;
                if let Some(p) = &mut self.pacing {
                    p.start = Instant::now();
                }
                self.stage = Stage::Waiting;
                None
            }
            () = tick => {
                if let Some((interval, t)) = keepalive {
                    self.next_keepalive = Some(at(t, interval));
                }
                Some(Ok(self.keepalive_bytes()))
            }
            () = stopped(&mut self.stop) => self.shut_down(),
        }
    }

    /// Write due events; returns a piece to send, or `None` after a stage change.
    async fn emit(&mut self) -> Option<io::Result<Bytes>> {
        loop {
            if let Some(f) = self.fault
                && self.tokens_sent >= f.after()
                && self.events.next_is_token()
            {
                self.stage = Stage::Faulted;
                return (!self.buf.is_empty()).then(|| self.flush()).flatten();
            }
            if let (Some(p), Some(step)) = (self.pacing, self.events.step()) {
                let due = p.step_at(step);
                if due > Instant::now() {
                    if !self.buf.is_empty() {
                        return self.flush();
                    }
                    if !sleep_until(due, &mut self.stop).await {
                        return self.shut_down();
                    }
                }
            }
            match self.events.write_next(&mut self.buf) {
                Emitted::Token => self.tokens_sent += 1,
                Emitted::Other => {}
                Emitted::End => {
                    self.finished = true;
                    self.stage = Stage::Finished;
                    return (!self.buf.is_empty()).then(|| self.flush()).flatten();
                }
            }
            if self.buf.len() >= FLUSH_BYTES {
                return self.flush();
            }
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let sent = if self.finished {
            self.completion_tokens
        } else {
            u64::from(self.tokens_sent)
        };
        self.in_flight.stats().add_completion_tokens(sent);
    }
}
