//! HTTP surface: vendor routes (`/{provider}/{region}{prefix}/chat/completions` and
//! `/models`), authentication, model resolution, the request pipeline, and the admin API
//! under `/_sim`.
//!
//! Pipeline of a chat request: route → auth → JSON → model → capability and dialect
//! checks → injected fault → capacity (admitted, queued, or refused as overloaded) →
//! plan, latency draw, cache lookup → body (built at once when nothing needs pacing, else
//! a paced [`Driver`] stream). Streams, and DeepSeek's non-streamed answers, send their
//! headers at once and wait in the queue inside the body (DeepSeek's keep-alives flowing);
//! other non-streamed answers wait in the handler.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use bytes::{Bytes, BytesMut};
use http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use rand::rngs::SmallRng;
use serde_json::json;
use switchyard_catalog::{Capability, Catalog, Model};
use switchyard_wire::{ChatRequest, Dialect, TokenUsage, tokens};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::answer::Render;
use crate::anthropic::{self, MessagesEvents};
use crate::cache::PromptCache;
use crate::capacity::{Capacity, Ticket};
use crate::embed;
use crate::failure::Failure;
use crate::faults::{FaultSpec, FaultTable, Injected};
use crate::generate::{self, ChoicePlan, Target};
use crate::hostile;
use crate::latency::{self, DEFAULT_PROFILE, KEEPALIVE_INTERVAL, Profile};
use crate::render::{Emitted, Events, Meta};
use crate::stats::{InFlight, Outcome, Stats};
use crate::stream::{self, Answer, Driver, Pacing, StreamFault};
use crate::vendor::{self, Fingerprints, Ids, path_prefix};
use crate::{GENERIC_PROVIDER, SimConfig};

/// Largest request body accepted (prompts can be long).
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;
/// Largest completion of a model the catalog does not know.
const GENERIC_MAX_OUTPUT: u32 = 65_536;

/// A provider as the router knows it.
#[derive(Debug)]
struct ProviderEntry {
    id: String,
    dialect: Dialect,
    /// Accepts any model name (the generic provider).
    generic: bool,
    /// `GET …/models` body.
    models_body: Bytes,
}

/// State shared by every request.
#[derive(Debug)]
pub(crate) struct Shared {
    seed: u64,
    time_scale: f64,
    jitter: bool,
    api_key: Option<String>,
    providers: HashMap<String, ProviderEntry>,
    catalog: Arc<Catalog>,
    counter: AtomicU64,
    faults: FaultTable,
    stats: Arc<Stats>,
    capacity: Capacity,
    cache: PromptCache,
    /// `system_fingerprint` values, fixed per simulator.
    fingerprints: Fingerprints,
    stop_tx: watch::Sender<bool>,
}

impl Shared {
    /// Cut every sleep and stall short (the simulator is shutting down).
    pub(crate) fn stop(&self) {
        self.stop_tx.send_replace(true);
    }

    fn route<'p>(&self, path: &'p str) -> Option<(&ProviderEntry, &'p str, &'p str)> {
        let rest = path.strip_prefix('/')?;
        let (provider, rest) = rest.split_once('/')?;
        let entry = self.providers.get(provider)?;
        // A known provider answers even a malformed path, with its own 404.
        let (region, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        Some((entry, region, tail))
    }

    fn authorize(&self, headers: &HeaderMap) -> Result<(), Failure> {
        let value = headers.get(AUTHORIZATION).ok_or(Failure::MissingKey)?;
        let token = value
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .unwrap_or("");
        if token.is_empty() {
            return Err(Failure::InvalidKey);
        }
        match &self.api_key {
            Some(key) if key != token => Err(Failure::InvalidKey),
            _ => Ok(()),
        }
    }

    /// The Anthropic-compatible endpoints take the key as `x-api-key` (Anthropic's
    /// clients) or as a bearer token (Claude Code's `ANTHROPIC_AUTH_TOKEN`).
    fn authorize_messages(&self, headers: &HeaderMap) -> Result<(), Failure> {
        let Some(key) = headers.get("x-api-key") else {
            return self.authorize(headers);
        };
        let key = key.to_str().map(str::trim).unwrap_or("");
        match &self.api_key {
            _ if key.is_empty() => Err(Failure::InvalidKey),
            Some(k) if k != key => Err(Failure::InvalidKey),
            _ => Ok(()),
        }
    }

    fn target(&self, entry: &ProviderEntry, req: &ChatRequest) -> Result<Target, Failure> {
        if req.model.trim().is_empty() {
            return Err(Failure::invalid("you must provide a model parameter"));
        }
        // A model this vendor sells, its own or another maker's, by the vendor's id for
        // it (or the catalog's). The index keeps one model per upstream id; two providers
        // may share one, so the vendor's own list is searched too.
        let found = self
            .catalog
            .find(&req.model)
            .and_then(|m| sold_here(m, &entry.id))
            .or_else(|| {
                self.catalog.models().iter().find_map(|m| {
                    let (m, id) = sold_here(m, &entry.id)?;
                    (id.eq_ignore_ascii_case(&req.model) || m.id.eq_ignore_ascii_case(&req.model))
                        .then_some((m, id))
                })
            });
        match found {
            Some((m, upstream)) => Ok(catalog_target(m, upstream.to_string())),
            None if entry.generic => Ok(Target {
                key: req.model.clone(),
                upstream: req.model.clone(),
                profile: DEFAULT_PROFILE,
                max_output: GENERIC_MAX_OUTPUT,
                vision: true,
                audio: true,
                tools: true,
                reasoning: generate::thinking_requested(req),
                json: true,
                json_schema: true,
            }),
            None => Err(Failure::ModelNotFound(req.model.clone())),
        }
    }
}

/// `m` and its id at `provider`, if that vendor sells it (its own or another maker's).
fn sold_here<'m>(m: &'m Model, provider: &str) -> Option<(&'m Model, &'m str)> {
    m.sold_by(provider).map(|s| (m, s.upstream_id))
}

/// What the simulator serves for `m`, sold as `upstream`.
fn catalog_target(m: &Model, upstream: String) -> Target {
    Target {
        key: m.id.clone(),
        upstream,
        profile: Profile {
            ttft_ms: m.typical_ttft_ms,
            tokens_per_sec: m.typical_tokens_per_sec,
        },
        max_output: m.max_output,
        vision: m.supports(Capability::Vision),
        audio: m.supports(Capability::Audio),
        tools: m.supports(Capability::Tools),
        reasoning: m.supports(Capability::Reasoning),
        json: m.supports(Capability::JsonMode),
        json_schema: m.supports(Capability::JsonSchema),
    }
}

fn models_body(catalog: &Catalog, provider: &str, created: u64) -> Bytes {
    let mut seen = std::collections::HashSet::new();
    let data: Vec<_> = catalog
        .models()
        .iter()
        .filter_map(|m| m.sold_by(provider))
        .filter(|s| seen.insert(s.upstream_id))
        .map(|s| json!({"id": s.upstream_id, "object": "model", "created": created, "owned_by": provider}))
        .collect();
    Bytes::from(serde_json::to_vec(&json!({"object": "list", "data": data})).unwrap_or_default())
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Build the router and the state behind it.
pub(crate) fn build(config: SimConfig, catalog: Arc<Catalog>) -> (Router, Arc<Shared>) {
    let created = unix_now();
    let mut providers = HashMap::new();
    for p in &config.providers {
        providers
            .entry(p.id.clone())
            .or_insert_with(|| ProviderEntry {
                id: p.id.clone(),
                dialect: p.dialect,
                generic: p.id == GENERIC_PROVIDER,
                models_body: models_body(&catalog, &p.id, created),
            });
    }
    let mut rng = latency::request_rng(config.seed, u64::MAX);
    let (stop_tx, _) = watch::channel(false);
    let counters = Arc::new(Stats::default());
    let shared = Arc::new(Shared {
        seed: config.seed,
        time_scale: latency::sanitize_scale(config.time_scale),
        jitter: config.jitter,
        api_key: config.api_key.filter(|k| !k.is_empty()),
        providers,
        catalog,
        counter: AtomicU64::new(0),
        faults: FaultTable::default(),
        capacity: Capacity::new(config.capacity, config.max_queue, Arc::clone(&counters)),
        stats: counters,
        cache: PromptCache::default(),
        fingerprints: Fingerprints::draw(&mut rng),
        stop_tx,
    });
    for f in &config.faults {
        shared.faults.set(&f.provider, &f.region, f.spec);
    }
    let router = Router::new()
        .route("/_sim/faults", get(list_faults).delete(clear_all_faults))
        .route(
            "/_sim/faults/{provider}/{region}",
            put(set_fault).delete(clear_fault),
        )
        .route("/_sim/stats", get(stats))
        .fallback(vendor)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(Arc::clone(&shared));
    (router, shared)
}

/// What a vendor path asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Chat,
    /// An Anthropic-compatible `/v1/messages` ([`anthropic`]).
    Messages,
    Models,
    Embeddings,
}

/// The API a generating request came by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Api {
    Chat,
    Messages,
}

fn endpoint(dialect: Dialect, tail: &str, method: &Method) -> Option<Endpoint> {
    if let Some(p) = anthropic::prefix(dialect)
        && tail.strip_prefix(p) == Some("/v1/messages")
        && method == Method::POST
    {
        return Some(Endpoint::Messages);
    }
    let rest = tail
        .strip_prefix(path_prefix(dialect))
        .filter(|r| r.starts_with('/'));
    // `/v1` is optional at some vendors (DeepSeek).
    let rest = match (rest, vendor::of(dialect).shape().optional_v1) {
        (Some(r), true) => Some(
            r.strip_prefix("/v1")
                .filter(|r| r.starts_with('/'))
                .unwrap_or(r),
        ),
        (r, _) => r,
    }?;
    match (rest, method) {
        ("/chat/completions", &Method::POST) => Some(Endpoint::Chat),
        ("/models", &Method::GET) => Some(Endpoint::Models),
        ("/embeddings", &Method::POST) if embed::serves(dialect) => Some(Endpoint::Embeddings),
        _ => None,
    }
}

/// Facts about a request gathered for statistics.
#[derive(Debug, Default)]
struct Note {
    model: Option<String>,
    fault: bool,
    /// `Retry-After` seconds of an injected error.
    retry_after: Option<u32>,
}

fn with_request_id(mut response: Response, dialect: Dialect, request_id: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(request_id) {
        response.headers_mut().insert(
            HeaderName::from_static(vendor::of(dialect).shape().request_id_header),
            v,
        );
    }
    response
}

fn json_response(status: StatusCode, body: Body) -> Response {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn sse_response(body: Body) -> Response {
    let mut r = Response::new(body);
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

fn error_response(dialect: Dialect, failure: &Failure, request_id: &str) -> Response {
    let (status, body) = vendor::of(dialect).error_body(failure, request_id);
    json_response(
        status,
        Body::from(serde_json::to_vec(&body).unwrap_or_default()),
    )
}

async fn vendor(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path();
    let Some((entry, region, tail)) = shared.route(path) else {
        let failure = Failure::RouteNotFound(path.to_string());
        return error_response(Dialect::OpenAi, &failure, "");
    };
    let n = shared.counter.fetch_add(1, Ordering::Relaxed);
    let mut rng = latency::request_rng(shared.seed, n);
    let created = unix_now();
    let ids = vendor::of(entry.dialect).ids(&mut rng, created);
    let mut note = Note::default();
    let found = endpoint(entry.dialect, tail, &method);
    let result = match found {
        Some(Endpoint::Chat | Endpoint::Messages) => {
            let ctx = ChatCtx {
                shared: &shared,
                entry,
                region,
                ids: &ids,
                created,
                api: if found == Some(Endpoint::Messages) {
                    Api::Messages
                } else {
                    Api::Chat
                },
            };
            chat(ctx, &headers, &body, rng, &mut note).await
        }
        Some(Endpoint::Models) => match shared.authorize(&headers) {
            Err(f) => Err(f),
            // A region that is down is down for every endpoint (health probes list models).
            Ok(()) => region_fault(&shared, entry, region, &mut rng, &mut note)
                .await
                .map(|()| json_response(StatusCode::OK, Body::from(entry.models_body.clone()))),
        },
        Some(Endpoint::Embeddings) => {
            let ctx = ChatCtx {
                shared: &shared,
                entry,
                region,
                ids: &ids,
                created,
                api: Api::Chat,
            };
            embeddings(ctx, &headers, &body, &mut rng, &mut note).await
        }
        None => Err(Failure::RouteNotFound(path.to_string())),
    };
    let response = match result {
        Ok(r) => r,
        Err(f) if found == Some(Endpoint::Messages) => {
            let (status, body) = anthropic::error_body(&f);
            json_response(
                status,
                Body::from(serde_json::to_vec(&body).unwrap_or_default()),
            )
        }
        Err(f) => {
            tracing::debug!(provider = %entry.id, region, failure = ?f, "simulated error");
            error_response(entry.dialect, &f, &ids.request)
        }
    };
    let mut response = response;
    if let (Some(secs), false) = (note.retry_after, response.status().is_success()) {
        response
            .headers_mut()
            .insert(http::header::RETRY_AFTER, http::HeaderValue::from(secs));
    }
    let outcome = Outcome {
        ok: response.status().is_success(),
        fault: note.fault,
    };
    shared
        .stats
        .record(&entry.id, region, note.model.as_deref(), outcome);
    with_request_id(response, entry.dialect, &ids.request)
}

/// The fault injected into a request that is not a chat (a model list, embeddings):
/// error kinds fail it, a broken stream is a 500, a latency spike delays it, the rest
/// leave it alone.
async fn region_fault(
    shared: &Shared,
    entry: &ProviderEntry,
    region: &str,
    rng: &mut SmallRng,
    note: &mut Note,
) -> Result<(), Failure> {
    match shared.faults.pick(&entry.id, region, rng) {
        Some(Injected::Error(f, retry_after)) => {
            note.fault = true;
            note.retry_after = retry_after;
            Err(f)
        }
        Some(Injected::DropAfter(_) | Injected::StallAfter(_)) => {
            note.fault = true;
            Err(Failure::ServerError)
        }
        Some(Injected::Delay(d)) => {
            note.fault = true;
            tokio::time::sleep(d).await;
            Ok(())
        }
        Some(Injected::Blank | Injected::Hostile(_) | Injected::Drip(_)) | None => Ok(()),
    }
}

/// `POST …/embeddings` ([`embed`]): the request checked, its fault, then the vectors
/// after the model's typical latency (scaled; embeddings take no capacity slot).
async fn embeddings(
    ctx: ChatCtx<'_>,
    headers: &HeaderMap,
    body: &Bytes,
    rng: &mut SmallRng,
    note: &mut Note,
) -> Result<Response, Failure> {
    let ChatCtx {
        shared,
        entry,
        region,
        ids,
        ..
    } = ctx;
    shared.authorize(headers)?;
    let (req, model) = embed::accept(&shared.catalog, &entry.id, entry.dialect, body)?;
    note.model = Some(model.id.clone());
    region_fault(shared, entry, region, rng, note).await?;
    let wait = latency::scaled(f64::from(model.typical_ttft_ms) / 1000.0, shared.time_scale);
    tokio::time::sleep(wait).await;
    let (answer, prompt) = embed::answer(entry.dialect, &req, model, &ids.request);
    shared.stats.add_prompt_tokens(prompt);
    Ok(json_response(
        StatusCode::OK,
        Body::from(serde_json::to_vec(&answer).unwrap_or_default()),
    ))
}

/// Who and where a chat request is.
#[derive(Clone, Copy)]
struct ChatCtx<'a> {
    shared: &'a Arc<Shared>,
    entry: &'a ProviderEntry,
    region: &'a str,
    ids: &'a Ids,
    created: u64,
    api: Api,
}

async fn chat(
    ctx: ChatCtx<'_>,
    headers: &HeaderMap,
    body: &Bytes,
    mut rng: SmallRng,
    note: &mut Note,
) -> Result<Response, Failure> {
    let ChatCtx {
        shared,
        entry,
        region,
        ids,
        created,
        api,
    } = ctx;
    let start = Instant::now();
    let req = read_request(shared, api, headers, body)?;
    let target = shared.target(entry, &req)?;
    note.model = Some(target.key.clone());
    if api == Api::Chat {
        vendor::check(entry.dialect, &req, &target)?;
    }

    let (fault, drip, blank) = match pick_fault(ctx, &req, &target.upstream, &mut rng, note).await?
    {
        Picked::Hostile(response) => return Ok(response),
        Picked::Answer { fault, drip, blank } => (fault, drip, blank),
    };
    note.fault |= fault.is_some();
    let ticket = shared.capacity.enter(&entry.id, region)?;

    let prompt = tokens::estimate_prompt(&req);
    let cached = shared.cache.observe(&entry.id, &req.messages).min(prompt);
    let mut choices = generate::plan(&req, &target, &mut rng);
    if blank {
        generate::blank(&mut choices);
    }
    let timing = latency::draw(target.profile, shared.time_scale, shared.jitter, &mut rng);
    let completion: u64 = choices.iter().map(ChoicePlan::completion_tokens).sum();
    let reasoning: u64 = choices.iter().map(|c| u64::from(c.reasoning)).sum();
    let usage = TokenUsage {
        prompt,
        cached_prompt: cached,
        completion,
        reasoning,
    };
    shared.stats.add_prompt_tokens(prompt);

    let vendor = vendor::of(entry.dialect);
    let shape = vendor.shape();
    let fingerprint = shared.fingerprints.of(entry.dialect);
    let meta = Meta {
        id: ids.response.clone(),
        request_id: ids.request.clone(),
        created,
        model: target.upstream,
        fingerprint,
    };
    let streaming = req.is_stream();
    let mut events = render(api, vendor, meta, choices, usage, &req, rng);
    let paced = shared.time_scale > 0.0;

    // Benchmark mode: nothing to wait for, nothing to break — write it all now (after
    // the queue, if there is one: slots are only held for an instant).
    if (!paced && fault.is_none()) || drip.is_some() {
        return at_once(shared, &mut events, streaming, completion, ticket, drip).await;
    }

    let pacing = paced.then_some(Pacing {
        start,
        ttft: timing.ttft,
        per_token: timing.per_token,
        keepalive: shape
            .keepalive
            .then(|| latency::scaled(KEEPALIVE_INTERVAL.as_secs_f64(), shared.time_scale)),
        keepalive_sse: shape.keepalive_sse,
    });

    let answer = Answer {
        events,
        pacing,
        fault,
        streaming,
        completion_tokens: completion,
    };
    // Streams, and DeepSeek's non-streamed answers (blank lines while waiting), send their
    // headers at once and pace the body.
    if streaming || shape.keepalive {
        let driver = Driver::new(
            answer,
            Arc::clone(&shared.stats),
            shared.stop_tx.subscribe(),
            ticket,
        );
        let body = driver.into_body();
        return Ok(if streaming {
            sse_response(body)
        } else {
            json_response(StatusCode::OK, body)
        });
    }

    when_done(shared, answer, ticket, start).await
}

/// The caller checked and the body read, as the API it came by has them.
fn read_request(
    shared: &Shared,
    api: Api,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<ChatRequest, Failure> {
    match api {
        Api::Chat => {
            shared.authorize(headers)?;
            serde_json::from_slice::<ChatRequest>(body)
                .map_err(|e| Failure::InvalidJson(e.to_string()))
        }
        Api::Messages => {
            shared.authorize_messages(headers)?;
            anthropic::chat_request(body)
        }
    }
}

/// The events of an answer in the API its request came by.
fn render(
    api: Api,
    vendor: &'static dyn vendor::Vendor,
    meta: Meta,
    choices: Vec<ChoicePlan>,
    usage: TokenUsage,
    req: &ChatRequest,
    rng: SmallRng,
) -> Render {
    let split = req
        .extra
        .get("reasoning_split")
        .and_then(serde_json::Value::as_bool)
        == Some(true);
    // The Messages API has one choice (a Messages request cannot ask for more).
    match choices.first().cloned().filter(|_| api == Api::Messages) {
        Some(plan) => Render::Messages(MessagesEvents::new(
            format!("msg_{}", meta.id.trim_start_matches("chatcmpl-")),
            meta.model,
            plan,
            usage,
            rng,
        )),
        None => Render::Chat(
            Events::new(vendor, meta, choices, usage, req.wants_stream_usage(), rng)
                .reasoning_split(split),
        ),
    }
}

/// What the fault picked for a request does to it.
enum Picked {
    /// A hostile answer of its own, in place of the vendor's.
    Hostile(Response),
    /// The vendor's answer, perhaps broken: `fault` mid-stream, dripped out every
    /// `drip`, or `blank` (no output).
    Answer {
        fault: Option<StreamFault>,
        drip: Option<Duration>,
        blank: bool,
    },
}

/// Pick the fault injected into this request (noted in `note`); an injected error ends
/// the request here.
async fn pick_fault(
    ctx: ChatCtx<'_>,
    req: &ChatRequest,
    upstream: &str,
    rng: &mut SmallRng,
    note: &mut Note,
) -> Result<Picked, Failure> {
    let mut blank = false;
    let mut drip = None;
    let fault = match ctx.shared.faults.pick(&ctx.entry.id, ctx.region, rng) {
        None => None,
        Some(Injected::Hostile(h)) => {
            note.fault = true;
            let body = hostile::body(h, req.is_stream(), &ctx.ids.response, upstream);
            return Ok(Picked::Hostile(if req.is_stream() {
                sse_response(body)
            } else {
                json_response(StatusCode::OK, body)
            }));
        }
        Some(Injected::Drip(every)) => {
            note.fault = true;
            drip = Some(every);
            None
        }
        Some(Injected::Blank) => {
            note.fault = true;
            blank = true;
            None
        }
        Some(Injected::Error(f, retry_after)) => {
            note.fault = true;
            note.retry_after = retry_after;
            return Err(f);
        }
        Some(Injected::DropAfter(n)) => Some(StreamFault::Drop(n)),
        Some(Injected::StallAfter(n)) => Some(StreamFault::Stall(n)),
        Some(Injected::Delay(d)) => {
            // The spike delays the whole answer; dropping the request cancels the wait.
            note.fault = true;
            tokio::time::sleep(d).await;
            None
        }
    };
    Ok(Picked::Answer { fault, drip, blank })
}

/// The whole answer written at once, once a capacity slot is free (and dripped out every
/// `drip`, if set).
async fn at_once(
    shared: &Shared,
    events: &mut Render,
    streaming: bool,
    completion: u64,
    ticket: Ticket,
    drip: Option<Duration>,
) -> Result<Response, Failure> {
    let _slot = match ticket {
        Ticket::Admitted(slot) => slot,
        Ticket::Queued(waiting) => {
            let mut stop = shared.stop_tx.subscribe();
            tokio::select! {
                slot = waiting => slot,
                () = stream::stopped(&mut stop) => return Err(Failure::ServerError),
            }
        }
    };
    let mut buf = BytesMut::with_capacity(if streaming { 4096 } else { 1024 });
    if streaming {
        while events.write_next(&mut buf) != Emitted::End {}
    } else {
        events.write_completion(&mut buf);
    }
    shared.stats.add_completion_tokens(completion);
    let body = match drip {
        Some(every) => hostile::drip(buf.freeze(), every),
        None => Body::from(buf.freeze()),
    };
    Ok(if streaming {
        sse_response(body)
    } else {
        json_response(StatusCode::OK, body)
    })
}

/// A non-streamed answer whose headers come with the finished body: waits for a slot
/// and for the answer's generation time (from `start`, or from admission when queued).
async fn when_done(
    shared: &Shared,
    answer: Answer,
    ticket: Ticket,
    start: Instant,
) -> Result<Response, Failure> {
    let Answer {
        mut events,
        pacing,
        fault,
        completion_tokens: completion,
        ..
    } = answer;
    let hits = fault.filter(|f| {
        let n = match f {
            StreamFault::Drop(n) | StreamFault::Stall(n) => *n,
        };
        u64::from(n) < u64::from(events.token_events())
    });
    let mut stop = shared.stop_tx.subscribe();
    let _in_flight = InFlight::new(Arc::clone(&shared.stats));
    // Held until the finished body is handed over (or the client goes away).
    let (_slot, start) = match ticket {
        Ticket::Admitted(slot) => (slot, start),
        Ticket::Queued(waiting) => tokio::select! {
            slot = waiting => (slot, Instant::now()),
            () = stream::stopped(&mut stop) => return Err(Failure::ServerError),
        },
    };
    if let Some(p) = pacing {
        let steps = match hits {
            Some(StreamFault::Drop(n) | StreamFault::Stall(n)) => n.min(events.decode_steps()),
            None => events.decode_steps(),
        };
        let done = stream::at(
            start,
            p.ttft.saturating_add(p.per_token.saturating_mul(steps)),
        );
        if !stream::sleep_until(done, &mut stop).await {
            return Err(Failure::ServerError);
        }
    }
    match hits {
        Some(StreamFault::Stall(_)) => {
            stream::stopped(&mut stop).await;
            Err(Failure::ServerError)
        }
        Some(StreamFault::Drop(_)) => {
            let broken = futures_util::stream::once(async {
                Err::<Bytes, _>(std::io::Error::new(
                    std::io::ErrorKind::ConnectionAborted,
                    "simulated connection drop",
                ))
            });
            Ok(json_response(StatusCode::OK, Body::from_stream(broken)))
        }
        None => {
            let mut buf = BytesMut::with_capacity(1024);
            events.write_completion(&mut buf);
            shared.stats.add_completion_tokens(completion);
            Ok(json_response(StatusCode::OK, Body::from(buf.freeze())))
        }
    }
}

fn admin_error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": {"message": message.into()}}))).into_response()
}

async fn set_fault(
    State(shared): State<Arc<Shared>>,
    Path((provider, region)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    if !shared.providers.contains_key(&provider) {
        let mut known: Vec<&str> = shared.providers.keys().map(String::as_str).collect();
        known.sort_unstable();
        return admin_error(
            StatusCode::NOT_FOUND,
            format!(
                "unknown provider '{provider}' (known: {})",
                known.join(", ")
            ),
        );
    }
    let spec: FaultSpec = match serde_json::from_slice(&body) {
        Ok(s) => s,
        Err(e) => {
            return admin_error(
                StatusCode::BAD_REQUEST,
                format!(
                    "invalid fault: {e}; expected {{\"kind\": \"rate_limit\"|\"overloaded\"|\
                     \"insufficient_balance\"|\"server_error\"|\"auth\"|\"drop_after\"|\
                     \"stall_after\"|\"latency_spike\"|\"blank_answer\", \"tokens\": N, \"delay_ms\": MS, \
                     \"count\": N, \"probability\": P, \"retry_after_secs\": S}}"
                ),
            );
        }
    };
    if let Err(e) = spec.validate() {
        return admin_error(StatusCode::BAD_REQUEST, format!("invalid fault: {e}"));
    }
    shared.faults.set(&provider, &region, spec);
    let mut v = serde_json::to_value(spec).unwrap_or_default();
    if let Some(obj) = v.as_object_mut() {
        obj.insert("provider".into(), json!(provider));
        obj.insert("region".into(), json!(region));
    }
    Json(v).into_response()
}

async fn clear_fault(
    State(shared): State<Arc<Shared>>,
    Path((provider, region)): Path<(String, String)>,
) -> Response {
    let cleared = shared.faults.clear(&provider, &region);
    Json(json!({"cleared": cleared})).into_response()
}

async fn clear_all_faults(State(shared): State<Arc<Shared>>) -> Response {
    Json(json!({"cleared": shared.faults.clear_all()})).into_response()
}

async fn list_faults(State(shared): State<Arc<Shared>>) -> Response {
    Json(json!({"faults": shared.faults.list()})).into_response()
}

async fn stats(State(shared): State<Arc<Shared>>) -> Response {
    Json(shared.stats.to_json()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_follow_each_vendors_prefix() {
        let post = Method::POST;
        assert_eq!(
            endpoint(Dialect::DeepSeek, "/chat/completions", &post),
            Some(Endpoint::Chat)
        );
        assert_eq!(
            endpoint(Dialect::DeepSeek, "/v1/chat/completions", &post),
            Some(Endpoint::Chat)
        );
        assert_eq!(
            endpoint(
                Dialect::DashScope,
                "/compatible-mode/v1/chat/completions",
                &post
            ),
            Some(Endpoint::Chat)
        );
        assert_eq!(
            endpoint(Dialect::DashScope, "/chat/completions", &post),
            None
        );
        assert_eq!(
            endpoint(Dialect::Moonshot, "/v1/chat/completions", &post),
            Some(Endpoint::Chat)
        );
        assert_eq!(
            endpoint(Dialect::Zhipu, "/api/paas/v4/chat/completions", &post),
            Some(Endpoint::Chat)
        );
        assert_eq!(
            endpoint(Dialect::Zhipu, "/api/paas/v4/models", &Method::GET),
            Some(Endpoint::Models)
        );
        assert_eq!(
            endpoint(Dialect::OpenAi, "/v1/chat/completions", &Method::GET),
            None
        );
        assert_eq!(
            endpoint(Dialect::OpenAi, "/v1x/chat/completions", &post),
            None
        );
        assert_eq!(
            endpoint(Dialect::Moonshot, "/v1/v1/chat/completions", &post),
            None
        );
    }
}
