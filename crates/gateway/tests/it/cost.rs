//! Exact cost: worked examples for each vendor's usage shape (cached and reasoning tokens
//! included), and the cost the gateway returns and records for real requests.

use crate::common::{ask, start_with};
use serde_json::json;
use switchyard_catalog::{Catalog, Price};
use switchyard_wire::ChatCompletion;
use switchyard_wire::dialect::normalize_completion;

fn price(input: f64, cached_input: f64, output: f64) -> Price {
    Price {
        input,
        cached_input,
        output,
        as_of: String::new(),
        source: "worked example".into(),
        thinking_output: None,
        tiers: Vec::new(),
        off_peak: None,
    }
}

/// A worked example: vendor, its completion body, a price, the normalised tokens
/// (prompt, cached, completion, reasoning) and the cost in nano-dollars.
type Example = (&'static str, &'static [u8], Price, [u64; 4], u64);

/// Each vendor's own completion body, its usage normalised, then priced.
#[test]
fn every_vendors_usage_shape_is_priced_exactly() {
    let cases: [Example; 4] = [
        (
            // DeepSeek: prompt_cache_hit/miss_tokens and reasoning inside completion.
            // 15 miss × $0.28 + 3,072 hit × $0.028 + 96 completion × $0.42 (per 1M).
            "deepseek",
            include_bytes!("../../../wire/tests/fixtures/deepseek_completion.json"),
            price(0.28, 0.028, 0.42),
            [3087, 3072, 96, 71],
            130_536,
        ),
        (
            // DashScope: prompt_tokens_details.cached_tokens.
            // 67 × $0.40 + 1,408 × $0.08 + 17 × $1.20.
            "dashscope",
            include_bytes!("../../../wire/tests/fixtures/dashscope_completion.json"),
            price(0.4, 0.08, 1.2),
            [1475, 1408, 17, 0],
            159_840,
        ),
        (
            // Kimi: usage inside choices[0], cached_tokens at the top of it.
            // 24 × $0.60 + 8,192 × $0.15 + 14 × $2.50.
            "moonshot",
            include_bytes!("../../../wire/tests/fixtures/moonshot_completion_usage_in_choice.json"),
            price(0.6, 0.15, 2.5),
            [8216, 8192, 14, 0],
            1_278_200,
        ),
        (
            // GLM: prompt_tokens_details.cached_tokens.
            // 36 × $0.60 + 576 × $0.11 + 35 × $2.20.
            "zhipu",
            include_bytes!("../../../wire/tests/fixtures/zhipu_completion.json"),
            price(0.6, 0.11, 2.2),
            [612, 576, 35, 0],
            161_960,
        ),
    ];
    for (vendor, body, price, [prompt, cached, completion, reasoning], nanos) in cases {
        let mut resp: ChatCompletion = serde_json::from_slice(body).unwrap();
        let u = normalize_completion(&mut resp).unwrap();
        assert_eq!(
            (u.prompt, u.cached_prompt, u.completion, u.reasoning),
            (prompt, cached, completion, reasoning),
            "{vendor}"
        );
        assert_eq!(
            price.cost_nanos(u.prompt, u.cached_prompt, u.completion),
            nanos,
            "{vendor}"
        );
    }
}

#[tokio::test]
async fn each_family_returns_and_records_the_exact_cost_of_a_request() {
    let gw = start_with(0.0, |_| {}).await;
    let catalog = Catalog::builtin().unwrap();
    for model in ["deepseek-v4-flash", "qwen3-32b", "kimi-k2.5", "glm-4.6"] {
        // The same long prompt twice: the second hits the vendor's prompt cache where the
        // vendor has one, so cached tokens are priced too.
        let mut body = ask(
            model,
            &"the quick brown fox jumps over the lazy dog ".repeat(200),
        );
        body["max_tokens"] = json!(64);
        let mut last = None;
        for _ in 0..2 {
            let r = gw.chat(body.clone()).await;
            assert_eq!(r.status, 200, "{model}");
            last = Some(r);
        }
        let r = last.unwrap();
        let usage = &r.json()["usage"];
        let prompt = usage["prompt_tokens"].as_u64().unwrap();
        let cached = usage["prompt_tokens_details"]["cached_tokens"]
            .as_u64()
            .unwrap_or(0);
        let completion = usage["completion_tokens"].as_u64().unwrap();
        let reasoning = usage["completion_tokens_details"]["reasoning_tokens"]
            .as_u64()
            .unwrap_or(0);
        // Billed as the vendor bills, at the hour it was served (DeepSeek's off-peak).
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let nanos = catalog
            .get(model)
            .unwrap()
            .price
            .bill_nanos(&switchyard_catalog::Billed {
                prompt,
                cached_prompt: cached,
                completion,
                reasoning,
                at_unix_secs: now,
            });
        assert!(nanos > 0, "{model}: a priced model is never free");
        let header = r.header("x-switchyard-cost-usd").unwrap();
        assert_eq!(
            header,
            format!("{}.{:09}", nanos / 1_000_000_000, nanos % 1_000_000_000),
            "{model}"
        );
        let events = gw.usage_events();
        let last = events.iter().rev().find(|e| e.model == model).unwrap();
        assert_eq!(last.cost_nanos, nanos, "{model}: recorded as returned");
        assert_eq!(
            (
                last.prompt_tokens,
                last.cached_tokens,
                last.completion_tokens
            ),
            (prompt, cached, completion)
        );
    }
    let deepseek = gw
        .usage_events()
        .into_iter()
        .filter(|e| e.model == "deepseek-v4-flash")
        .collect::<Vec<_>>();
    assert!(
        deepseek[1].cached_tokens > 0,
        "DeepSeek's cache hit on the repeated prompt is priced at the cached rate"
    );
}

#[tokio::test]
async fn a_stream_reports_its_cost_in_a_comment_before_done() {
    let gw = start_with(0.0, |_| {}).await;
    let mut body = ask("deepseek-v4-flash", "hi");
    body["stream"] = json!(true);
    body["max_tokens"] = json!(20);
    let r = gw.chat(body).await;
    assert_eq!(r.status, 200);
    let events = r.events();
    let n = events.len();
    let switchyard_wire::SseEvent::Comment(comment) = &events[n - 2] else {
        panic!("no cost comment before [DONE]: {:?}", &events[n - 2..]);
    };
    let cost = comment.strip_prefix("x-switchyard-cost-usd ").unwrap();
    let recorded = gw.usage_events()[0].cost_nanos;
    assert!(recorded > 0);
    assert_eq!(
        cost,
        format!(
            "{}.{:09}",
            recorded / 1_000_000_000,
            recorded % 1_000_000_000
        )
    );
    assert!(r.ends_with_done());
}

/// The built-in prices as the vendors bill them, against worked examples: DeepSeek's
/// off-peak half price, Qwen Plus's context tiers and thinking output price.
#[test]
fn built_in_prices_bill_off_peak_hours_context_tiers_and_thinking_as_the_vendors_do() {
    use switchyard_catalog::Billed;
    let cat = Catalog::builtin().unwrap();
    let price = |id: &str| cat.get(id).unwrap().price.clone();
    // Monday 2026-12-07 02:30 UTC (peak), 05:00 (between the windows), Saturday 02:30.
    let (peak, between, saturday) = (1_796_610_600, 1_796_619_600, 1_796_437_800);
    let flash = price("deepseek-v4-flash");
    let bill = |p: &Price, prompt, cached, completion, reasoning, at| {
        p.bill_nanos(&Billed {
            prompt,
            cached_prompt: cached,
            completion,
            reasoning,
            at_unix_secs: at,
        })
    };
    // 10,000 prompt tokens (4,000 cached) and 2,000 out at $0.14 / $0.0028 / $0.28 per M:
    // 840,000 + 11,200 + 560,000 n$ at peak; half off-peak.
    assert_eq!(bill(&flash, 10_000, 4_000, 2_000, 0, peak), 1_411_200);
    assert_eq!(bill(&flash, 10_000, 4_000, 2_000, 0, between), 705_600);
    assert_eq!(bill(&flash, 10_000, 4_000, 2_000, 0, saturday), 705_600);
    let plus = price("qwen-plus");
    // 100,000 prompt tokens, 1,000 out: $0.111 in, $0.278 out; thinking $1.111 out.
    assert_eq!(
        bill(&plus, 100_000, 0, 1_000, 0, peak),
        11_100_000 + 278_000
    );
    assert_eq!(
        bill(&plus, 100_000, 0, 1_000, 400, peak),
        11_100_000 + 1_111_000
    );
    // 200,000 tokens fall in the 128K-256K tier: $0.333 in, $2.778 out ($3.333 thinking).
    assert_eq!(
        bill(&plus, 200_000, 0, 1_000, 0, peak),
        66_600_000 + 2_778_000
    );
    assert_eq!(
        bill(&plus, 200_000, 0, 1_000, 1, peak),
        66_600_000 + 3_333_000
    );
    // Qwen has no peak hours: the same bill any time.
    assert_eq!(
        bill(&plus, 200_000, 0, 1_000, 0, saturday),
        bill(&plus, 200_000, 0, 1_000, 0, peak)
    );
}
