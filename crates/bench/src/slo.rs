//! Threshold expressions, shared by `--slo` (what must hold) and `--fail-on` (what must not):
//! `p99_ttft<=800ms`, `error_rate>0.1%`, `throughput>=50`, joined by commas.
//!
//! Metrics: `{mean,p50,p90,p95,p99,p999,max}_{ttft,itl,tpot,e2e}`, `error_rate`,
//! `throughput` (req/s), `goodput` (req/s), `output_tps` (tokens/s). Values take `ms`, `s`
//! or `%`; bare numbers are milliseconds for latencies, a fraction for `error_rate`.

use std::fmt;
use std::str::FromStr;

use crate::error::BenchError;
use crate::report::{GroupReport, Stat};

/// Comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// One clause: `metric op value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Clause {
    /// Metric name as written.
    pub metric: String,
    /// Operator.
    pub op: Op,
    /// Threshold in the metric's base unit (ms, fraction, per second).
    pub value: f64,
    /// The clause as written, for messages.
    pub text: String,
}

/// Comma-separated clauses.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Conditions(pub Vec<Clause>);

impl FromStr for Conditions {
    type Err = BenchError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(parse_clause)
            .collect::<Result<Vec<_>, _>>()
            .map(Conditions)
    }
}

impl fmt::Display for Conditions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<&str> = self.0.iter().map(|c| c.text.as_str()).collect();
        f.write_str(&parts.join(","))
    }
}

fn parse_clause(text: &str) -> Result<Clause, BenchError> {
    let bad = |why: &str| {
        BenchError::Arg(format!(
            "'{text}': {why}; write e.g. p99_ttft<=800ms, error_rate<1%, throughput>=50"
        ))
    };
    let (pos, op, len) = ["<=", ">=", "<", ">"]
        .iter()
        .filter_map(|o| text.find(o).map(|p| (p, *o)))
        .min_by_key(|(p, o)| (*p, std::cmp::Reverse(o.len())))
        .map(|(p, o)| {
            let op = match o {
                "<=" => Op::Le,
                ">=" => Op::Ge,
                "<" => Op::Lt,
                _ => Op::Gt,
            };
            (p, op, o.len())
        })
        .ok_or_else(|| bad("no comparison (<, <=, >, >=)"))?;
    let metric = text[..pos].trim().to_ascii_lowercase();
    let raw = text[pos + len..].trim().to_ascii_lowercase();
    if metric_kind(&metric).is_none() {
        return Err(bad("unknown metric"));
    }
    let (num, unit) = split_unit(&raw);
    let n: f64 = num.parse().map_err(|_| bad("the value is not a number"))?;
    let value = match (metric_kind(&metric), unit) {
        (Some(Kind::Latency), "" | "ms") => n,
        (Some(Kind::Latency), "s") => n * 1000.0,
        (Some(Kind::Latency), "us" | "µs") => n / 1000.0,
        (Some(Kind::Fraction), "%") => n / 100.0,
        (Some(Kind::Fraction), "") => n,
        (Some(Kind::Rate), "" | "/s") => n,
        _ => return Err(bad("that unit does not fit the metric")),
    };
    Ok(Clause {
        metric,
        op,
        value,
        text: text.to_string(),
    })
}

fn split_unit(raw: &str) -> (&str, &str) {
    let end = raw
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_digit() || *c == '.' || *c == '-'))
        .map_or(raw.len(), |(i, _)| i);
    (&raw[..end], raw[end..].trim())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Latency,
    Fraction,
    Rate,
}

fn metric_kind(metric: &str) -> Option<Kind> {
    match metric {
        "error_rate" => return Some(Kind::Fraction),
        "throughput" | "goodput" | "output_tps" => return Some(Kind::Rate),
        _ => {}
    }
    let (stat, what) = metric.split_once('_')?;
    let stat_ok = ["mean", "p50", "p90", "p95", "p99", "p999", "max"].contains(&stat);
    let what_ok = ["ttft", "itl", "tpot", "e2e"].contains(&what);
    (stat_ok && what_ok).then_some(Kind::Latency)
}

impl Clause {
    /// The metric's value in `g`, if measured.
    pub fn measure(&self, g: &GroupReport) -> Option<f64> {
        match self.metric.as_str() {
            "error_rate" => Some(if g.requests == 0 {
                0.0
            } else {
                g.errors as f64 / g.requests as f64
            }),
            "throughput" => Some(g.throughput_rps),
            "goodput" => g.goodput_rps,
            "output_tps" => Some(g.output_tokens_per_s),
            m => {
                let (stat, what) = m.split_once('_')?;
                let s: &Stat = match what {
                    "ttft" => g.ttft.as_ref()?,
                    "itl" => g.itl_chunk.as_ref()?,
                    "tpot" => g.tpot.as_ref()?,
                    _ => g.e2e.as_ref()?,
                };
                Some(match stat {
                    "mean" => s.mean,
                    "p50" => s.p50,
                    "p90" => s.p90,
                    "p95" => s.p95,
                    "p99" => s.p99,
                    "p999" => s.p999,
                    _ => s.max,
                })
            }
        }
    }

    /// Whether the clause is true of `value`.
    pub fn holds(&self, value: f64) -> bool {
        match self.op {
            Op::Lt => value < self.value,
            Op::Le => value <= self.value,
            Op::Gt => value > self.value,
            Op::Ge => value >= self.value,
        }
    }
}

impl Conditions {
    /// The clauses true of `g`, each with the measured value (unmeasured clauses are
    /// skipped).
    pub fn true_of(&self, g: &GroupReport) -> Vec<(Clause, f64)> {
        self.0
            .iter()
            .filter_map(|c| c.measure(g).map(|v| (c.clone(), v)))
            .filter(|(c, v)| c.holds(*v))
            .collect()
    }

    /// Whether every clause holds for `g` (an unmeasured clause does not hold).
    pub fn all_hold(&self, g: &GroupReport) -> bool {
        self.0
            .iter()
            .all(|c| c.measure(g).is_some_and(|v| c.holds(v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clauses_parse_with_units() {
        let c: Conditions = "p99_ttft>800ms, error_rate>0.1%,p50_e2e<=2s,throughput>=50"
            .parse()
            .unwrap();
        assert_eq!(c.0.len(), 4);
        assert_eq!((c.0[0].op, c.0[0].value), (Op::Gt, 800.0));
        assert!((c.0[1].value - 0.001).abs() < 1e-12);
        assert_eq!(c.0[2].value, 2000.0);
        assert_eq!(c.0[3].op, Op::Ge);
    }

    #[test]
    fn bad_clauses_are_explained() {
        for bad in [
            "p99_ttft",
            "p98_ttft<1",
            "p99_ttft<fast",
            "error_rate<5ms",
            "throughput<1%",
        ] {
            let e = bad.parse::<Conditions>().unwrap_err().to_string();
            assert!(e.contains("write e.g."), "{bad}: {e}");
        }
    }

    #[test]
    fn clauses_evaluate_against_a_group() {
        let g = GroupReport {
            requests: 1000,
            errors: 2,
            ttft: Some(Stat {
                p99: 900.0,
                ..Stat::default()
            }),
            ..GroupReport::default()
        };
        let fail_on: Conditions = "p99_ttft>800ms,error_rate>0.1%,p99_itl>5ms"
            .parse()
            .unwrap();
        let broken = fail_on.true_of(&g);
        assert_eq!(broken.len(), 2, "itl is unmeasured, so it cannot fail");
        let slo: Conditions = "p99_ttft<=800ms".parse().unwrap();
        assert!(!slo.all_hold(&g));
    }
}
