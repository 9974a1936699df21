//! Prompt features: hashed word unigrams and bigrams, L2-normalised, plus hand-built ones.
//!
//! A word is a run of ASCII letters (lower-cased), a run of digits, or one other non-space
//! character; each word and each pair of neighbouring words is hashed (CRC-32) into one of
//! [`BUCKETS`] slots. The hand-built features follow the buckets, at fixed indices.

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

/// The words of `lower` (the prompt, ASCII-lower-cased) as byte ranges: runs of ASCII
/// letters, runs of digits, and single other non-space characters.
fn word_spans(lower: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::with_capacity(lower.len() / 4 + 1);
    let mut start = 0;
    let mut kind = 0u8; // 0 none, 1 letters, 2 digits
    for (i, c) in lower.char_indices() {
        let k = if c.is_ascii_alphabetic() {
            1
        } else if c.is_ascii_digit() {
            2
        } else {
            0
        };
        if k != 0 && k == kind {
            continue;
        }
        if kind != 0 {
            out.push((start, i));
        }
        kind = k;
        start = i;
        if k == 0 && !c.is_whitespace() {
            out.push((i, i + c.len_utf8()));
        }
    }
    if kind != 0 {
        out.push((start, lower.len()));
    }
    out
}

#[cfg(test)]
fn words(text: &str) -> Vec<String> {
    let lower = text.to_ascii_lowercase();
    word_spans(&lower)
        .into_iter()
        .map(|(a, b)| lower[a..b].to_string())
        .collect()
}

fn bucket(hash: u32) -> u32 {
    hash % BUCKETS as u32
}

/// The features of one prompt. One allocation for the lower-cased text, one for the word
/// spans, one for the feature list; no per-word strings.
pub fn features(prompt: &str) -> Features {
    let lower = prompt.to_ascii_lowercase();
    let spans = word_spans(&lower);
    let bytes = lower.as_bytes();
    let mut out: Features = Vec::with_capacity(spans.len() * 2 + HAND_NAMES.len());
    for &(a, b) in &spans {
        out.push((bucket(crc32fast::hash(&bytes[a..b])), 1.0));
    }
    for pair in spans.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        // The CRC-32 of "first second", without building that string.
        let mut h = crc32fast::Hasher::new();
        h.update(&bytes[a.0..a.1]);
        h.update(b" ");
        h.update(&bytes[b.0..b.1]);
        out.push((bucket(h.finalize()), 1.0));
    }
    out.sort_unstable_by_key(|(k, _)| *k);
    out.dedup_by(|next, kept| {
        if next.0 == kept.0 {
            kept.1 += next.1;
            true
        } else {
            false
        }
    });
    let norm = out.iter().map(|(_, v)| v * v).sum::<f32>().sqrt().max(1.0);
    for f in &mut out {
        f.1 /= norm;
    }

    let len = prompt.chars().count().max(1) as f32;
    let digits = prompt.bytes().filter(u8::is_ascii_digit).count() as f32;
    let multiple_choice = ["\nA.", "\nB.", "\nA)", "\nB)", "(A)", "(B)"]
        .iter()
        .any(|m| prompt.contains(m));
    let math = prompt
        .bytes()
        .filter(|c| matches!(c, b'=' | b'+' | b'*' | b'/' | b'^' | b'$' | b'%'))
        .count() as f32;
    let code = [
        "```",
        "def ",
        "fn ",
        "function ",
        "#include",
        "class ",
        "return ",
    ]
    .iter()
    .any(|m| prompt.contains(m));
    let hand = [
        len.ln_1p() / 10.0,
        (digits / len * 10.0).min(1.0),
        f32::from(u8::from(multiple_choice)),
        (math / len * 20.0).min(1.0),
        f32::from(u8::from(code)),
        1.0,
    ];
    for (i, v) in hand.into_iter().enumerate() {
        out.push(((HAND + i) as u32, v));
    }
    out
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
