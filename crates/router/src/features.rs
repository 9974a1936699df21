//! Prompt features: hashed word unigrams and bigrams, L2-normalised, plus hand-built ones.
//!
//! A word is a run of ASCII letters (lower-cased), a run of digits, or one other non-space
//! character; each word and each pair of neighbouring words is hashed (FNV-1a) into one of
//! [`BUCKETS`] slots. The hand-built features follow the buckets, at fixed indices.
//! Scoring ([`dot`]) walks the prompt once for the hashes and allocates nothing per call.

use std::cell::RefCell;

/// Hash buckets for words and word pairs.
pub const BUCKETS: usize = 1 << 15;
/// Index of the first hand-built feature.
pub const HAND: usize = BUCKETS;
/// Names of the hand-built features, in index order.
pub const HAND_NAMES: [&str; 6] = [
    "log_length",
    "digit_share",
    "multiple_choice",
    "math_symbols",
    "code",
    "bias",
];
/// All features.
pub const DIM: usize = HAND + HAND_NAMES.len();
/// Index of the always-1 `bias` feature (the intercept), the last one.
pub const BIAS: usize = DIM - 1;

/// A sparse feature vector: (index, value), indices unique.
pub type Features = Vec<(u32, f32)>;

/// Calls `f(start, end)` for each word of `text`, in order: runs of ASCII letters, runs of
/// digits, and single other non-space characters (byte ranges; ASCII case changes neither).
/// Walks bytes: a non-ASCII character is one word, the length its first byte gives.
fn for_each_word(text: &str, mut f: impl FnMut(usize, usize)) {
    let bytes = text.as_bytes();
    let mut start = 0;
    let mut kind = 0u8; // 0 none, 1 letters, 2 digits
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let k = if c.is_ascii_alphabetic() {
            1
        } else if c.is_ascii_digit() {
            2
        } else {
            0
        };
        if k != 0 && k == kind {
            i += 1;
            continue;
        }
        if kind != 0 {
            f(start, i);
        }
        kind = k;
        start = i;
        if k != 0 {
            i += 1;
            continue;
        }
        let width = utf8_width(c);
        if c.is_ascii() {
            if !c.is_ascii_whitespace() && c != 0x0B {
                f(i, i + 1);
            }
        } else if !text[i..].starts_with(char::is_whitespace) {
            f(i, (i + width).min(bytes.len()));
        }
        i += width;
    }
    if kind != 0 {
        f(start, bytes.len());
    }
}

/// Bytes of the UTF-8 character that starts with `first`.
fn utf8_width(first: u8) -> usize {
    match first {
        0x00..=0x7F => 1,
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => 4,
    }
}

#[cfg(test)]
fn words(text: &str) -> Vec<String> {
    let lower = text.to_ascii_lowercase();
    let mut out = Vec::new();
    for_each_word(&lower, |a, b| out.push(lower[a..b].to_string()));
    out
}

/// The hash's bucket: its high bits folded in (FNV's low bits mix least), then reduced.
fn bucket(hash: u32) -> u32 {
    (hash ^ (hash >> 16)) % BUCKETS as u32
}

/// FNV-1a offset basis.
const FNV_OFFSET: u32 = 0x811c_9dc5;
/// FNV-1a prime.
const FNV_PRIME: u32 = 0x0100_0193;

/// FNV-1a over `bytes`, ASCII-lower-cased, continuing from `h`.
fn fnv_lower(mut h: u32, bytes: &[u8]) -> u32 {
    for &b in bytes {
        h = (h ^ u32::from(b.to_ascii_lowercase())).wrapping_mul(FNV_PRIME);
    }
    h
}

/// The buckets of every word and every pair of neighbouring words (`"first second"`) of
/// `prompt`, sorted, repeats kept. A pair's hash continues from the first word's.
fn hashed_buckets(prompt: &str, out: &mut Vec<u32>) {
    out.clear();
    let bytes = prompt.as_bytes();
    // The hash of the previous word and a space.
    let mut prev: Option<u32> = None;
    for_each_word(prompt, |a, b| {
        let word = &bytes[a..b];
        let h = fnv_lower(FNV_OFFSET, word);
        out.push(bucket(h));
        if let Some(pair) = prev {
            out.push(bucket(fnv_lower(pair, word)));
        }
        prev = Some(fnv_lower(h, b" "));
    });
    out.sort_unstable();
}

/// (bucket, count) for each distinct bucket of sorted `buckets`.
fn counts(buckets: &[u32]) -> impl Iterator<Item = (u32, f32)> + '_ {
    buckets
        .chunk_by(|a, b| a == b)
        .map(|r| (r[0], r.len() as f32))
}

/// The L2 norm of the counts (at least 1).
fn norm(buckets: &[u32]) -> f32 {
    counts(buckets)
        .map(|(_, c)| c * c)
        .sum::<f32>()
        .sqrt()
        .max(1.0)
}

/// Layout cues of a multiple-choice question.
const CHOICE_CUES: [&str; 6] = ["\nA.", "\nB.", "\nA)", "\nB)", "(A)", "(B)"];
/// Cues of code.
const CODE_CUES: [&str; 7] = [
    "```",
    "def ",
    "fn ",
    "function ",
    "#include",
    "class ",
    "return ",
];

/// The hand-built features, in [`HAND_NAMES`] order: one pass counts characters, digits
/// and maths symbols; the layout and code cues are substring searches.
fn hand(prompt: &str) -> [f32; 6] {
    let (mut continuation, mut digits, mut math) = (0usize, 0usize, 0usize);
    for &c in prompt.as_bytes() {
        continuation += usize::from(c & 0xC0 == 0x80);
        digits += usize::from(c.is_ascii_digit());
        math += usize::from(matches!(c, b'=' | b'+' | b'*' | b'/' | b'^' | b'$' | b'%'));
    }
    let len = (prompt.len() - continuation).max(1) as f32; // characters
    let multiple_choice = CHOICE_CUES.iter().any(|m| prompt.contains(m));
    let code = CODE_CUES.iter().any(|m| prompt.contains(m));
    [
        len.ln_1p() / 10.0,
        (digits as f32 / len * 10.0).min(1.0),
        f32::from(u8::from(multiple_choice)),
        (math as f32 / len * 20.0).min(1.0),
        f32::from(u8::from(code)),
        1.0,
    ]
}

/// The features of `prompt`, as (index, value) in index order: the hashed counts divided
/// by their norm, then the hand-built ones. For training; scoring uses [`dot`].
pub fn features(prompt: &str) -> Features {
    let mut buckets = Vec::new();
    hashed_buckets(prompt, &mut buckets);
    let norm = norm(&buckets);
    counts(&buckets)
        .map(|(k, c)| (k, c / norm))
        .chain(hand_indexed(prompt))
        .collect()
}

fn hand_indexed(prompt: &str) -> impl Iterator<Item = (u32, f32)> {
    hand(prompt)
        .into_iter()
        .enumerate()
        .map(|(i, v)| ((HAND + i) as u32, v))
}

thread_local! {
    /// Bucket scratch space reused by [`dot`] on each thread.
    static SCRATCH: RefCell<Vec<u32>> = const { RefCell::new(Vec::new()) };
}

/// `Σ weights[k] · v` over [`features`]`(prompt)`, in the same order (so bit for bit the
/// same sum), without building the feature list: the only buffer is reused per thread.
pub fn dot(prompt: &str, weights: &[f32]) -> f32 {
    let w = |k: u32| weights.get(k as usize).copied().unwrap_or(0.0);
    let sum = |buckets: &mut Vec<u32>| -> f32 {
        hashed_buckets(prompt, buckets);
        let norm = norm(buckets);
        counts(buckets)
            .map(|(k, c)| (k, c / norm))
            .chain(hand_indexed(prompt))
            .map(|(k, v)| w(k) * v)
            .sum()
    };
    SCRATCH.with(|s| match s.try_borrow_mut() {
        Ok(mut buckets) => sum(&mut buckets),
        Err(_) => sum(&mut Vec::new()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_letters_digits_and_symbols() {
        assert_eq!(
            words("What is 12+30?  Ann's"),
            ["what", "is", "12", "+", "30", "?", "ann", "'", "s"]
        );
    }

    #[test]
    fn features_are_normalised_sorted_and_end_with_the_hand_built_ones() {
        let f = features("Solve: 2 + 2 = ?\nA. 3\nB. 4");
        let hashed: Vec<&(u32, f32)> = f.iter().filter(|(k, _)| (*k as usize) < HAND).collect();
        let norm: f32 = hashed.iter().map(|(_, v)| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5);
        assert!(hashed.windows(2).all(|w| w[0].0 < w[1].0));
        let hand: Vec<f32> = f
            .iter()
            .filter(|(k, _)| (*k as usize) >= HAND)
            .map(|(_, v)| *v)
            .collect();
        assert_eq!(hand.len(), HAND_NAMES.len());
        assert_eq!(hand[2], 1.0, "multiple choice");
        assert_eq!(hand[5], 1.0, "bias");
        assert_eq!(HAND_NAMES[BIAS - HAND], "bias");
        assert_eq!(f.last(), Some(&(BIAS as u32, 1.0)));
        assert_eq!(
            features("same text"),
            features("same text"),
            "deterministic"
        );
    }
}
