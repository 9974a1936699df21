//! What each request asks: synthetic prompts of controlled length, a JSONL prompt file,
//! or a built-in mix. Bodies are rendered once up front (or per draw, for distributions
//! from a small precomputed pool), so the hot loop never builds JSON.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use bytes::Bytes;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::error::BenchError;

/// A token count: fixed, uniform in a range, or normal around a mean.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Dist {
    /// Always `n`.
    Fixed(u32),
    /// Uniform in `lo..=hi`.
    Uniform(u32, u32),
    /// Normal with mean and standard deviation, clamped to at least 1.
    Normal(u32, u32),
}

impl Dist {
    /// One draw.
    pub fn sample(self, rng: &mut SmallRng) -> u32 {
        match self {
            Dist::Fixed(n) => n,
            Dist::Uniform(lo, hi) => rng.random_range(lo..=hi.max(lo)),
            Dist::Normal(mean, sd) => {
                // Box–Muller; one value is enough here.
                let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
                let u2: f64 = rng.random();
                let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                (f64::from(mean) + z * f64::from(sd)).round().max(1.0) as u32
            }
        }
    }

    /// The mean.
    pub fn mean(self) -> f64 {
        match self {
            Dist::Fixed(n) => f64::from(n),
            Dist::Uniform(lo, hi) => (f64::from(lo) + f64::from(hi)) / 2.0,
            Dist::Normal(m, _) => f64::from(m),
        }
    }
}

impl FromStr for Dist {
    type Err = BenchError;
    /// `256`, `128..1024` (uniform) or `512:64` (normal, mean:sd).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            BenchError::Arg(format!(
                "'{s}' is not a token count: use 256, 128..1024 (uniform) or 512:64 (mean:sd)"
            ))
        };
        let num = |t: &str| t.trim().parse::<u32>().map_err(|_| bad());
        let d = if let Some((lo, hi)) = s.split_once("..") {
            let (lo, hi) = (num(lo)?, num(hi)?);
            if lo > hi {
                return Err(bad());
            }
            Dist::Uniform(lo, hi)
        } else if let Some((m, sd)) = s.split_once(':') {
            Dist::Normal(num(m)?, num(sd)?)
        } else {
            Dist::Fixed(num(s)?)
        };
        match d {
            Dist::Fixed(0) | Dist::Uniform(0, 0) | Dist::Normal(0, _) => Err(bad()),
            d => Ok(d),
        }
    }
}

impl fmt::Display for Dist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dist::Fixed(n) => write!(f, "{n}"),
            Dist::Uniform(lo, hi) => write!(f, "{lo}..{hi}"),
            Dist::Normal(m, sd) => write!(f, "{m}±{sd}"),
        }
    }
}

/// Built-in workload mixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mix {
    /// Short chat turns: 64–256 tokens in, 64–256 out.
    Chat,
    /// Long context: 4,000–8,000 in, 128–256 out.
    LongContext,
    /// Code: 512–1,024 tokens of code in, 256–512 out.
    Code,
}

impl FromStr for Mix {
    type Err = BenchError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "chat" => Ok(Mix::Chat),
            "long" | "long-context" => Ok(Mix::LongContext),
            "code" => Ok(Mix::Code),
            other => Err(BenchError::Arg(format!(
                "unknown mix '{other}': use chat, long or code"
            ))),
        }
    }
}

/// Where prompts come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// Synthetic text of `input` tokens, asking for `output` tokens.
    Synthetic {
        /// Prompt length.
        input: Dist,
        /// Completion length (`max_tokens`).
        output: Dist,
    },
    /// A built-in mix.
    Mix(Mix),
    /// Lines of a JSONL file: `{"prompt": "…"}` or `{"messages": […]}`, optionally with
    /// `"max_tokens"` (a number, or `null` for none: the model stops when it is done).
    File {
        /// The prompts, as message arrays with their output cap.
        prompts: Vec<(Value, LineCap)>,
        /// Output cap for lines without one.
        output: Dist,
        /// File name, for the report.
        name: String,
    },
}

impl Source {
    /// Load a JSONL prompt file.
    pub fn from_file(path: &Path, output: Dist) -> Result<Source, BenchError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            BenchError::Arg(format!("cannot read prompt file {}: {e}", path.display()))
        })?;
        let mut prompts = Vec::new();
        for (i, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let v: Value = serde_json::from_str(line).map_err(|e| {
                BenchError::Arg(format!("{} line {}: not JSON ({e})", path.display(), i + 1))
            })?;
            let messages = match (v.get("messages"), v.get("prompt").and_then(Value::as_str)) {
                (Some(m @ Value::Array(_)), _) => m.clone(),
                (_, Some(p)) => json!([{"role": "user", "content": p}]),
                _ => {
                    return Err(BenchError::Arg(format!(
                        "{} line {}: needs \"prompt\" (string) or \"messages\" (array)",
                        path.display(),
                        i + 1
                    )));
                }
            };
            let cap = match v.get("max_tokens") {
                None => LineCap::Default,
                Some(Value::Null) => LineCap::Uncapped,
                Some(n) => match n.as_u64().and_then(|n| u32::try_from(n).ok()) {
                    Some(n) if n > 0 => LineCap::Given(n),
                    _ => {
                        return Err(BenchError::Arg(format!(
                            "{} line {}: \"max_tokens\" must be a positive integer or null, got {n}",
                            path.display(),
                            i + 1
                        )));
                    }
                },
            };
            prompts.push((messages, cap));
        }
        if prompts.is_empty() {
            return Err(BenchError::Arg(format!(
                "prompt file {} has no prompts",
                path.display()
            )));
        }
        Ok(Source::File {
            prompts,
            output,
            name: path.display().to_string(),
        })
    }

    /// The workload in words, for the report.
    pub fn describe(&self) -> String {
        match self {
            Source::Synthetic { input, output } => {
                format!("synthetic, input {input} tokens, output {output} tokens")
            }
            Source::Mix(m) => format!("built-in mix: {m:?}"),
            Source::File { prompts, name, .. } => format!("{} prompts from {name}", prompts.len()),
        }
    }
}

/// The output cap of one prompt-file line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineCap {
    /// No `max_tokens` in the line: `--output-tokens` applies.
    Default,
    /// `"max_tokens": N`.
    Given(u32),
    /// `"max_tokens": null`: none is sent; the model stops when it is done.
    Uncapped,
}

/// One prepared request body and the output it asks for.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// JSON body.
    pub body: Bytes,
    /// Prompt tokens by our estimator (used when the server sends no usage).
    pub input_tokens: u32,
}

/// How each request body is shaped beyond its prompt and length.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Ask for a stream (with its usage chunk).
    pub stream: bool,
    /// Send `"ignore_eos": true` beside `max_tokens`: exactly that many tokens.
    pub exact_output: bool,
}

/// Renders request bodies for one model.
#[derive(Debug)]
pub struct Workload {
    pool: Vec<Prepared>,
}

/// Bodies prepared per model; requests cycle through them.
const POOL: usize = 256;

impl Workload {
    /// Prepare a pool of bodies for `model`.
    pub fn prepare(source: &Source, model: &str, shape: Shape, seed: u64) -> Workload {
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut pool = Vec::with_capacity(POOL);
        match source {
            Source::File {
                prompts, output, ..
            } => {
                for (messages, cap) in prompts.iter().take(4096) {
                    let out = match cap {
                        LineCap::Default => Some(output.sample(&mut rng)),
                        LineCap::Given(n) => Some(*n),
                        LineCap::Uncapped => None,
                    };
                    let input = estimate_messages(messages);
                    pool.push(render(model, messages.clone(), out, shape, input));
                }
            }
            Source::Synthetic { .. } | Source::Mix(_) => {
                let (input, output, code) = match source {
                    Source::Mix(Mix::Chat) => {
                        (Dist::Uniform(64, 256), Dist::Uniform(64, 256), false)
                    }
                    Source::Mix(Mix::LongContext) => {
                        (Dist::Uniform(4000, 8000), Dist::Uniform(128, 256), false)
                    }
                    Source::Mix(Mix::Code) => {
                        (Dist::Uniform(512, 1024), Dist::Uniform(256, 512), true)
                    }
                    Source::Synthetic { input, output } => (*input, *output, false),
                    Source::File { .. } => return Workload { pool },
                };
                for i in 0..POOL {
                    let n = input.sample(&mut rng);
                    let text = synthetic_text(n, i as u64 ^ seed, code);
                    let out = output.sample(&mut rng);
                    let messages = json!([{"role": "user", "content": text}]);
                    pool.push(render(model, messages, Some(out), shape, n));
                }
            }
        }
        Workload { pool }
    }

    /// The body for request number `i`.
    pub fn get(&self, i: u64) -> &Prepared {
        let idx = usize::try_from(i % self.pool.len().max(1) as u64).unwrap_or(0);
        &self.pool[idx.min(self.pool.len().saturating_sub(1))]
    }
}

fn render(
    model: &str,
    messages: Value,
    max_tokens: Option<u32>,
    shape: Shape,
    input_tokens: u32,
) -> Prepared {
    let mut body = json!({"model": model, "messages": messages, "stream": shape.stream});
    if let Some(n) = max_tokens {
        body["max_tokens"] = json!(n);
        if shape.exact_output {
            body["ignore_eos"] = json!(true);
        }
    }
    if shape.stream {
        body["stream_options"] = json!({"include_usage": true});
    }
    Prepared {
        body: Bytes::from(body.to_string()),
        input_tokens,
    }
}

fn estimate_messages(messages: &Value) -> u32 {
    let text: u64 = messages
        .as_array()
        .map(|ms| {
            ms.iter()
                .map(|m| match m.get("content") {
                    Some(Value::String(s)) => switchyard_wire::tokens::estimate(s) + 4,
                    Some(other) => switchyard_wire::tokens::estimate(&other.to_string()) + 4,
                    None => 4,
                })
                .sum()
        })
        .unwrap_or(0);
    u32::try_from(text + 3).unwrap_or(u32::MAX)
}

/// One-token words (at most four ASCII letters, or one punctuation mark).
const WORDS: &[&str] = &[
    "the", "data", "time", "load", "test", "fast", "slow", "user", "path", "node", "edge", "core",
    "rate", "peak", "wait", "send", "read", "word", "line", "page", "file", "how", "does", "work",
];
const CODE: &[&str] = &[
    "fn", "let", "mut", "if", "else", "for", "in", "loop", "x", "y", "i", "n", "(", ")", "{", "}",
    ";", "=", "+",
];

/// Text of exactly `tokens` tokens under `switchyard_wire::tokens::estimate`.
pub fn synthetic_text(tokens: u32, seed: u64, code: bool) -> String {
    let mut rng = SmallRng::seed_from_u64(seed);
    let words = if code { CODE } else { WORDS };
    let mut s = String::with_capacity(tokens as usize * 5);
    for _ in 0..tokens {
        s.push(' ');
        s.push_str(words[rng.random_range(0..words.len())]);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_text_has_exactly_the_requested_tokens() {
        for n in [1, 7, 512, 4000] {
            assert_eq!(
                switchyard_wire::tokens::estimate(&synthetic_text(n, 3, false)),
                u64::from(n)
            );
            assert_eq!(
                switchyard_wire::tokens::estimate(&synthetic_text(n, 3, true)),
                u64::from(n)
            );
        }
    }

    #[test]
    fn distributions_parse_and_reject_nonsense() {
        assert_eq!("256".parse::<Dist>().unwrap(), Dist::Fixed(256));
        assert_eq!(
            "128..1024".parse::<Dist>().unwrap(),
            Dist::Uniform(128, 1024)
        );
        assert_eq!("512:64".parse::<Dist>().unwrap(), Dist::Normal(512, 64));
        for bad in ["", "0", "x", "9..3", "5:"] {
            assert!(bad.parse::<Dist>().is_err(), "{bad}");
        }
    }

    #[test]
    fn normal_draws_center_on_the_mean() {
        let mut rng = SmallRng::seed_from_u64(1);
        let d = Dist::Normal(500, 50);
        let mean: f64 = (0..4000)
            .map(|_| f64::from(d.sample(&mut rng)))
            .sum::<f64>()
            / 4000.0;
        assert!((mean - 500.0).abs() < 5.0, "{mean}");
    }

    #[test]
    fn prepared_bodies_ask_for_usage_when_streaming() {
        let w = Workload::prepare(
            &Source::Synthetic {
                input: Dist::Fixed(8),
                output: Dist::Fixed(4),
            },
            "m",
            Shape {
                stream: true,
                exact_output: true,
            },
            1,
        );
        let v: Value = serde_json::from_slice(&w.get(0).body).unwrap();
        assert_eq!(v["stream_options"]["include_usage"], true);
        assert_eq!(v["max_tokens"], 4);
        assert_eq!(v["ignore_eos"], true, "exact output lengths asked for");
        assert_eq!(w.get(0).input_tokens, 8);
        let natural = Workload::prepare(
            &Source::Synthetic {
                input: Dist::Fixed(8),
                output: Dist::Fixed(4),
            },
            "m",
            Shape {
                stream: false,
                exact_output: false,
            },
            1,
        );
        let v: Value = serde_json::from_slice(&natural.get(0).body).unwrap();
        assert!(v.get("ignore_eos").is_none());
    }

    #[test]
    fn jsonl_file_accepts_prompt_or_messages_and_names_bad_lines() {
        let dir = std::env::temp_dir().join(format!("sy-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.jsonl");
        std::fs::write(&good, "{\"prompt\": \"hi\"}\n\n{\"messages\": [{\"role\": \"user\", \"content\": \"yo\"}], \"max_tokens\": 9}\n{\"prompt\": \"free\", \"max_tokens\": null}\n").unwrap();
        let source = Source::from_file(&good, Dist::Fixed(4)).unwrap();
        let Source::File { prompts, .. } = &source else {
            panic!()
        };
        let caps: Vec<LineCap> = prompts.iter().map(|p| p.1).collect();
        assert_eq!(
            caps,
            [LineCap::Default, LineCap::Given(9), LineCap::Uncapped]
        );
        // A null cap sends no max_tokens at all.
        let shape = Shape {
            stream: true,
            exact_output: true,
        };
        let w = Workload::prepare(&source, "m", shape, 1);
        let sent: Vec<Value> = (0..3)
            .map(|i| serde_json::from_slice::<Value>(&w.get(i).body).unwrap()["max_tokens"].clone())
            .collect();
        assert_eq!(sent, [json!(4), json!(9), Value::Null]);
        let zero = dir.join("zero.jsonl");
        std::fs::write(&zero, "{\"prompt\": \"hi\", \"max_tokens\": 0}\n").unwrap();
        assert!(
            Source::from_file(&zero, Dist::Fixed(4))
                .unwrap_err()
                .to_string()
                .contains("line 1"),
        );
        let bad = dir.join("bad.jsonl");
        std::fs::write(&bad, "{\"prompt\": \"hi\"}\n{\"nope\": 1}\n").unwrap();
        let err = Source::from_file(&bad, Dist::Fixed(4))
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2"), "{err}");
    }
}
