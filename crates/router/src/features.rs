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

/// A sparse feature vector: (index, value), indices unique.
pub type Features = Vec<(u32, f32)>;

fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut kind = 0u8; // 1 letters, 2 digits
    for c in text.chars() {
        let k = if c.is_ascii_alphabetic() {
            1
        } else if c.is_ascii_digit() {
            2
        } else {
            0
        };
        if k != 0 && k == kind {
            cur.push(c.to_ascii_lowercase());
            continue;
        }
        if !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        kind = k;
        if k != 0 {
            cur.push(c.to_ascii_lowercase());
        } else if !c.is_whitespace() {
            out.push(c.to_string());
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn bucket(s: &str) -> u32 {
    crc32fast::hash(s.as_bytes()) % BUCKETS as u32
}

/// The features of one prompt.
pub fn features(prompt: &str) -> Features {
    let ws = words(prompt);
    let mut counts: std::collections::BTreeMap<u32, f32> = std::collections::BTreeMap::new();
    for w in &ws {
        *counts.entry(bucket(w)).or_default() += 1.0;
    }
    let mut pair = String::new();
    for p in ws.windows(2) {
        pair.clear();
        pair.push_str(&p[0]);
        pair.push(' ');
        pair.push_str(&p[1]);
        *counts.entry(bucket(&pair)).or_default() += 1.0;
    }
    let norm = counts.values().map(|v| v * v).sum::<f32>().sqrt().max(1.0);
    let mut out: Features = counts.into_iter().map(|(k, v)| (k, v / norm)).collect();

    let len = prompt.chars().count().max(1) as f32;
    let digits = prompt.chars().filter(char::is_ascii_digit).count() as f32;
    let multiple_choice = ["\nA.", "\nB.", "\nA)", "\nB)", "(A)", "(B)"]
        .iter()
        .any(|m| prompt.contains(m));
    let math = prompt
        .chars()
        .filter(|c| matches!(c, '=' | '+' | '*' | '/' | '^' | '$' | '%'))
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
        assert_eq!(
            features("same text"),
            features("same text"),
            "deterministic"
        );
    }
}
