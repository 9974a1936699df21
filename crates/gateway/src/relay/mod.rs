//! Streaming relay: upstream SSE bytes in, normalised OpenAI chunks out, as they arrive.
//!
//! Each network read is parsed, every complete event normalised ([`StreamNormalizer`]),
//! and the results written in one frame — nothing is buffered beyond one read. Usage is
//! captured from wherever the vendor put it and shown to the client only if it asked
//! (`stream_options.include_usage`), always as the OpenAI trailing `choices:[]` chunk.
//! Until the first token, data events are held back (keep-alive comments still flow), so
//! an upstream that breaks off, errs or misses the time-to-first-token deadline can be
//! replaced by the provider's next region without the client seeing anything but a
//! longer wait. After the first token, a broken or stalled upstream ends the stream with
//! an SSE error event (never a clean end that looks like success). If the client leaves, dropping the relay drops the
//! upstream connection (cancelling it) and records the usage produced so far.

use std::convert::Infallible;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use metrics::{counter, histogram};
use serde_json::json;
use switchyard_wire::{
    ChatChunk, Dialect, SseEvent, SseParser, StreamNormalizer, TokenUsage, tokens,
};
use tokio::time::Instant;

mod failover;

pub(crate) use failover::{Failover, Leg, PendingFallbacks};

use crate::ctx::RequestCtx;
use crate::routing::deadlines::{ClientExpiry, Deadlines};
use crate::routing::deployment::Permit;
use crate::telemetry::GENAI_TTFT;
use crate::upstream::ByteStream;
use crate::usage::Outcome;

/// The attempt to relay.
pub(crate) struct Attempt {
    /// Its body.
    pub upstream: ByteStream,
    /// Its slot on the deployment.
    pub permit: Permit,
    /// When it was sent.
    pub sent: std::time::Instant,
}

/// Most upstream bytes parsed and relayed in one frame.
const SLICE: usize = 8 * 1024;

/// State of one relayed stream.
pub(crate) struct Relay {
    ctx: RequestCtx,
    dialect: Dialect,
    upstream: ByteStream,
    /// The rest of the upstream's last chunk, handled [`SLICE`] bytes at a time.
    pending: Bytes,
    parser: SseParser,
    norm: StreamNormalizer,
    wants_usage: bool,
    limits: Deadlines,
    deadline: Instant,
    out: Vec<u8>,
    done: bool,
    recorded: bool,
    saw_first_token: bool,
    completion_estimate: u64,
    reasoning: String,
    tool_call_ids: Vec<String>,
    last_id: String,
    last_created: u64,
    /// Data events held back until the first token (dropped if the attempt is replaced).
    held: Vec<u8>,
    failover: Failover,
    /// Set when the current attempt failed before its first token and another region may
    /// take over: the reason, for the logs.
    switch_reason: Option<String>,
    /// The switch is due to a time to first token the client shortened: the deployment
    /// left behind is not to blame, and the next attempt spends no retry budget.
    switch_blameless: bool,
    ttft_deadline: Instant,
    /// When the last data event (not a comment) arrived.
    last_data: Instant,
    /// Slot of the current attempt on its deployment.
    permit: Permit,
    /// When the current attempt was sent.
    sent: std::time::Instant,
    /// Cancelled when the drain at shutdown ends what still runs.
    shutdown: tokio_util::sync::CancellationToken,
    _inflight: Box<dyn Send + Sync>,
}

impl Relay {
    /// Wrap an upstream response that answered 2xx.
    pub(crate) fn new(
        ctx: RequestCtx,
        dialect: Dialect,
        attempt: Attempt,
        wants_usage: bool,
        limits: Deadlines,
        failover: Failover,
        inflight: impl Send + Sync + 'static,
    ) -> Self {
        let deadline = Instant::from_std(ctx.started) + limits.request;
        let ttft_deadline = (Instant::now() + limits.ttft).min(deadline);
        let shutdown = ctx.st.drain.ended_here();
        Relay {
            ctx,
            dialect,
            upstream: attempt.upstream,
            pending: Bytes::new(),
            parser: SseParser::new(),
            norm: StreamNormalizer::new(),
            wants_usage,
            limits,
            deadline,
            out: Vec::with_capacity(1024),
            done: false,
            recorded: false,
            saw_first_token: false,
            completion_estimate: 0,
            reasoning: String::new(),
            tool_call_ids: Vec::new(),
            last_id: String::new(),
            last_created: 0,
            held: Vec::new(),
            failover,
            switch_reason: None,
            switch_blameless: false,
            ttft_deadline,
            last_data: Instant::now(),
            permit: attempt.permit,
            sent: attempt.sent,
            shutdown,
            _inflight: Box::new(inflight),
        }
    }

    /// The response body stream.
    pub(crate) fn into_stream(
        self,
    ) -> impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static {
        futures_util::stream::unfold(self, |mut relay| async move {
            relay.next_frame().await.map(|b| (Ok(b), relay))
        })
    }

    async fn next_frame(&mut self) -> Option<Bytes> {
        while !self.done {
            if let Some(reason) = self.switch_reason.take() {
                self.pending = Bytes::new();
                self.switch_region(&reason).await;
                if !self.out.is_empty() {
                    return Some(Bytes::from(std::mem::take(&mut self.out)));
                }
                continue;
            }
            if !self.pending.is_empty() {
                self.on_pending();
                if !self.out.is_empty() {
                    return Some(Bytes::from(std::mem::take(&mut self.out)));
                }
                continue;
            }
            // Before the first token the TTFT deadline governs (a vendor may queue a request
            // for minutes, sending keep-alives); after it, the idle gap counts from the last
            // data event, so keep-alive comments alone cannot keep a dead stream open.
            let wait_until = if self.saw_first_token {
                (self.last_data + self.limits.idle).min(self.deadline)
            } else {
                self.ttft_deadline.min(self.deadline)
            };
            let next = tokio::select! {
                biased;
                r = tokio::time::timeout_at(wait_until, self.upstream.next()) => r,
                () = self.shutdown.cancelled() => {
                    self.shut_down();
                    return Some(Bytes::from(std::mem::take(&mut self.out)));
                }
            };
            match next {
                // A limit the client shortened ran out: the client's own choice, not the
                // deployment's fault, so no mark against its health.
                Err(_) if self.client_limit_ran_out() == Some(ClientExpiry::Request) => self
                    .fail_now(
                        "client_timeout",
                        "the time limit this request set (x-switchyard-timeout) ran out",
                    ),
                Err(_) if self.client_limit_ran_out() == Some(ClientExpiry::Ttft) => {
                    let message = "no first token within the limit this request set (x-switchyard-ttft-timeout)";
                    if self.can_switch() {
                        self.switch_blameless = true;
                        self.switch_reason = Some(format!("client_timeout: {message}"));
                    } else {
                        self.fail_now("client_timeout", message);
                    }
                }
                Err(_)
                    if !self.saw_first_token
                        && Instant::now() >= self.ttft_deadline
                        && Instant::now() < self.deadline =>
                {
                    self.fail(
                        "upstream_ttft_timeout",
                        &format!("no first token within {}s", self.limits.ttft.as_secs_f64()),
                    );
                }
                Err(_) if Instant::now() >= self.deadline => {
                    self.fail(
                        "upstream_timeout",
                        "the request took longer than request_timeout_secs",
                    );
                }
                Err(_) => self.fail(
                    "upstream_stall",
                    &format!(
                        "the upstream sent no data for {}s",
                        self.limits.idle.as_secs()
                    ),
                ),
                Ok(None) => self.on_eof(),
                Ok(Some(Err(e))) => self.fail(
                    "upstream_stream_interrupted",
                    &format!("upstream connection failed: {e}"),
                ),
                Ok(Some(Ok(bytes))) => self.pending = bytes,
            }
            self.on_pending();
            if !self.out.is_empty() {
                return Some(Bytes::from(std::mem::take(&mut self.out)));
            }
        }
        None
    }

    /// Handle the next [`SLICE`] bytes of the upstream's chunk. A vendor (or a reader that
    /// fell behind) may deliver hundreds of kilobytes at once; taken whole, that is a
    /// parser buffer and an answer frame as large, held while the client is slow. In
    /// slices, each frame waits for the client's connection to take the previous one.
    fn on_pending(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let piece = self.pending.split_to(self.pending.len().min(SLICE));
        self.on_bytes(&piece);
    }

    /// Parse what arrived and act on each whole event, until the stream ends or switches.
    fn on_bytes(&mut self, bytes: &[u8]) {
        if let Err(e) = self.parser.push(bytes) {
            return self.fail("upstream_bad_response", &e.to_string());
        }
        while !self.done && self.switch_reason.is_none() {
            match self.parser.next_event() {
                Ok(Some(ev)) => self.on_event(ev),
                Ok(None) => break,
                Err(e) => self.fail("upstream_bad_response", &e.to_string()),
            }
        }
    }

    /// Which limit the client shortened, if any, the time-out that just fired is.
    fn client_limit_ran_out(&self) -> Option<ClientExpiry> {
        if self.limits.request_by_client && Instant::now() >= self.deadline {
            Some(ClientExpiry::Request)
        } else if self.limits.ttft_by_client
            && !self.saw_first_token
            && self.sent.elapsed() >= self.limits.ttft
        {
            Some(ClientExpiry::Ttft)
        } else {
            None
        }
    }

    fn on_event(&mut self, ev: SseEvent) {
        match ev {
            SseEvent::Comment(text) => {
                self.out.extend_from_slice(b": ");
                self.out.extend_from_slice(text.as_bytes());
                self.out.extend_from_slice(b"\n\n");
            }
            SseEvent::Data { data, .. } if data.trim() == "[DONE]" => self.finish_ok(),
            SseEvent::Data { data, event } => {
                self.last_data = Instant::now();
                if event.as_deref() == Some("error") {
                    self.upstream_error(&data);
                    return;
                }
                match serde_json::from_str::<ChatChunk>(&data) {
                    // An error in a chunk of its own, or (OpenRouter) beside a choice
                    // that finishes with "error".
                    Ok(chunk) if chunk.extra.get("error").is_some_and(|e| !e.is_null()) => {
                        self.upstream_error(&data);
                    }
                    Ok(chunk) => self.on_chunk(chunk),
                    Err(e) => {
                        counter!("switchyard_upstream_garbage_total", "provider" => self.ctx.provider.clone())
                            .increment(1);
                        tracing::warn!(request_id = %self.ctx.request_id, error = %e, "skipped an upstream event that is not a chunk");
                    }
                }
            }
        }
    }

    fn on_chunk(&mut self, mut chunk: ChatChunk) {
        let keep = match self.norm.apply(&mut chunk) {
            Ok(keep) => keep,
            Err(e) => return self.fail("upstream_bad_response", &e.message),
        };
        for choice in &chunk.choices {
            let d = &choice.delta;
            if !self.saw_first_token && d.has_output() {
                self.saw_first_token = true;
                self.ctx.trace(|t| t.first_token());
                self.ctx.ttft = Some(self.ctx.started.elapsed());
                let dep = self.permit.deployment();
                let since_sent = self.sent.elapsed();
                dep.observe_ttft(since_sent);
                let st = &self.ctx.st;
                match st.routes.get(&self.ctx.model_id) {
                    Some(route) => {
                        if let Some(h) = &route.hedge {
                            h.observe(true, since_sent);
                        }
                        crate::dispatch::report_answer(st, route, dep);
                    }
                    None => st.health.success(&dep.provider, &dep.name),
                }
                let ttft = self.ctx.started.elapsed().as_secs_f64();
                match self
                    .ctx
                    .st
                    .model_metrics(&self.ctx.model_id, &self.ctx.provider)
                {
                    Some(m) => {
                        m.ttft.record(ttft);
                        m.genai_ttft.record(ttft);
                    }
                    None => {
                        histogram!("switchyard_ttft_seconds", "model" => self.ctx.model_id.clone(),
                        "provider" => self.ctx.provider.clone())
                        .record(ttft);
                        histogram!(GENAI_TTFT, "gen_ai_operation_name" => "chat",
                            "gen_ai_system" => self.ctx.provider.clone(), "gen_ai_request_model" => self.ctx.model_id.clone())
                        .record(ttft);
                    }
                }
            }
            self.completion_estimate += d.content.as_deref().map_or(0, tokens::estimate)
                + d.reasoning_content.as_deref().map_or(0, tokens::estimate);
            if let Some(r) = &d.reasoning_content
                && choice.index == 0
                && self.reasoning.len().saturating_add(r.len()) <= crate::reasoning::MAX_ENTRY_BYTES
            {
                self.reasoning.push_str(r);
            }
            for call in d.tool_calls.iter().flatten() {
                if let Some(id) = &call.id
                    && self.tool_call_ids.len() < switchyard_wire::dialect::MAX_TOOL_CALLS as usize
                {
                    self.tool_call_ids.push(id.clone());
                }
                if let Some(f) = &call.function {
                    self.completion_estimate += f.arguments.as_deref().map_or(0, tokens::estimate)
                        + f.name.as_deref().map_or(0, tokens::estimate);
                }
            }
        }
        if !chunk.id.is_empty() && chunk.id != self.last_id {
            self.last_id.clone_from(&chunk.id);
        }
        if chunk.created != 0 {
            self.last_created = chunk.created;
        }
        if keep {
            chunk.model.clone_from(&self.ctx.model_id);
            if self.saw_first_token {
                self.release_held();
                self.write_data(&chunk);
            } else {
                let out = std::mem::take(&mut self.out);
                self.write_data(&chunk);
                self.held.append(&mut self.out);
                self.out = out;
            }
        }
    }

    /// Send the data events held back before the first token.
    fn release_held(&mut self) {
        if !self.held.is_empty() {
            self.out.append(&mut self.held);
        }
    }

    fn write_data<T: serde::Serialize>(&mut self, value: &T) {
        self.out.extend_from_slice(b"data: ");
        if serde_json::to_writer(&mut self.out, value).is_err() {
            self.out.extend_from_slice(b"{}");
        }
        self.out.extend_from_slice(b"\n\n");
    }

    fn usage_now(&self) -> (TokenUsage, bool) {
        match self.norm.usage() {
            Some(u) => (u, false),
            None => (
                TokenUsage {
                    prompt: self.ctx.prompt_estimate,
                    completion: self.completion_estimate,
                    ..TokenUsage::default()
                },
                true,
            ),
        }
    }

    fn finish_ok(&mut self) {
        self.release_held();
        let (usage, estimated) = self.usage_now();
        if self.wants_usage {
            let chunk = json!({
                "id": self.last_id,
                "object": "chat.completion.chunk",
                "created": self.last_created,
                "model": self.ctx.model_id,
                "choices": [],
                "usage": usage.to_wire(),
            });
            self.write_data(&chunk);
        }
        if let Some(conv) = &self.ctx.conversation
            && !self.tool_call_ids.is_empty()
            && !self.reasoning.is_empty()
        {
            self.ctx.st.reasoning.insert(
                conv,
                self.tool_call_ids.iter().map(String::as_str),
                &self.reasoning,
            );
        }
        let nanos = self.record(usage, estimated, Outcome::Completed);
        // Headers went out with the first byte: a stream's cost comes as an SSE comment
        // (clients skip comments) just before `[DONE]`.
        if let Some(nanos) = nanos {
            self.out.extend_from_slice(cost_comment(nanos).as_bytes());
        }
        self.out.extend_from_slice(b"data: [DONE]\n\n");
        self.done = true;
    }

    fn on_eof(&mut self) {
        match self.parser.finish() {
            Ok(Some(ev)) => self.on_event(ev),
            Ok(None) => {}
            Err(e) => return self.fail("upstream_bad_response", &e.to_string()),
        }
        if self.done || self.switch_reason.is_some() {
            return;
        }
        if self.norm.finished() {
            // Some vendors end without `[DONE]` after a proper finish: that is success.
            self.finish_ok();
        } else {
            self.fail(
                "upstream_stream_interrupted",
                "the upstream closed the stream before it finished",
            );
        }
    }

    fn upstream_error(&mut self, data: &str) {
        let err = self.dialect.parse_error(500, data.as_bytes(), None);
        if err.kind.retryable() && self.can_switch() {
            self.switch_reason = Some(err.message);
            return;
        }
        self.release_held();
        let api = err.to_api_error(&self.ctx.provider);
        self.write_data(&json!({ "error": api }));
        self.done = true;
        let (usage, estimated) = self.usage_now();
        self.record(usage, estimated, Outcome::Interrupted);
    }

    fn fail(&mut self, code: &str, message: &str) {
        if self.can_switch() {
            self.switch_reason = Some(format!("{code}: {message}"));
            return;
        }
        self.fail_now(code, message);
    }

    /// End the stream with an SSE error event.
    fn fail_now(&mut self, code: &str, message: &str) {
        let body = json!({"error": {
            "message": format!("{}: {message}", self.ctx.provider),
            "type": "upstream_error",
            "param": null,
            "code": code,
            "provider": self.ctx.provider,
            "retryable": true,
        }});
        self.end_with(code, &body);
    }

    /// The drain at shutdown ran out of time (`[server] drain_timeout_secs`): end the
    /// stream with an error event that says so (never a clean end that looks complete).
    fn shut_down(&mut self) {
        let body = json!({"error": {
            "message": "the gateway is shutting down and this stream ran past its drain_timeout_secs; retry the request",
            "type": "server_error",
            "param": null,
            "code": "shutting_down",
            "retryable": true,
        }});
        self.end_with("shutting_down", &body);
    }

    /// Send what was held back, then the error event `body`; record the usage so far.
    fn end_with(&mut self, code: &str, body: &serde_json::Value) {
        self.release_held();
        counter!("switchyard_stream_failures_total", "provider" => self.ctx.provider.clone(), "code" => code.to_string())
            .increment(1);
        self.write_data(body);
        self.done = true;
        let (usage, estimated) = self.usage_now();
        self.record(usage, estimated, Outcome::Interrupted);
    }

    /// Record usage once; the cost in nano-dollars, or `None` if already recorded.
    fn record(&mut self, usage: TokenUsage, estimated: bool, outcome: Outcome) -> Option<u64> {
        if self.recorded {
            return None;
        }
        self.recorded = true;
        self.permit.set_used(usage.total());
        Some(self.ctx.record(usage, estimated, outcome))
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if !self.recorded {
            counter!("switchyard_client_disconnects_total", "model" => self.ctx.model_id.clone(), "provider" => self.ctx.provider.clone())
                .increment(1);
            let (usage, estimated) = self.usage_now();
            self.record(usage, estimated, Outcome::ClientDisconnected);
        }
    }
}

/// The SSE comment that carries a stream's cost (`: x-switchyard-cost-usd 0.000012345`).
pub(crate) fn cost_comment(nanos: u64) -> String {
    format!(
        ": x-switchyard-cost-usd {}.{:09}\n\n",
        nanos / 1_000_000_000,
        nanos % 1_000_000_000
    )
}
