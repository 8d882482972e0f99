//! What the dispatch model reads of a ticket: hashed features of its text
//! (characters, character bigrams, jieba words), its region, subject,
//! legacy hotline and request type.
//!
//! A feature is a namespace byte and a text (`b` + `噪音`); its key is the
//! 64-bit FNV-1a hash of both, computed over the bytes without building a
//! string, so inference allocates one normalized copy of the text and
//! nothing per feature. FNV-1a rather than std's SipHash: the keys are
//! stored in models and must not change between releases or platforms,
//! and 64 bits make a collision among a model's few thousand features
//! negligible.
//!
//! Values: a text feature counted `c` times weighs `1 + ln c`, and the text
//! features of a ticket (those the model knows) are scaled to unit length,
//! so a long description does not outweigh a short one; the categorical
//! features (region, subject, hotline, type) weigh 1. Training and
//! inference both go through [`for_each_feature`] and [`values`].

use std::sync::LazyLock;

use jieba_rs::Jieba;
use serde::{Deserialize, Serialize};

use hotline_domain::{routing::RoutingInput, text_enum::TextEnum};

/// jieba with its default dictionary, built once per process (~0.1 s).
static JIEBA: LazyLock<Jieba> = LazyLock::new(Jieba::new);

/// Feature families, each a namespace of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// One character (CJK) or one ASCII word.
    Unigram,
    /// Two adjacent units of the above.
    Bigram,
    /// A jieba word of two or more characters.
    Word,
    /// A jieba word or bigram of the title, again: the agent's summary.
    Title,
    /// A prefix of the region code (2, 4, 6, 9, 12 digits).
    Region,
    /// A prefix of the subject code (each level).
    Subject,
    /// The retired departmental hotline the call came through.
    Hotline,
    /// The request type.
    RequestType,
}

impl Family {
    /// The namespace byte, the first character of a feature's name.
    pub fn tag(self) -> u8 {
        match self {
            Self::Unigram => b'u',
            Self::Bigram => b'b',
            Self::Word => b'w',
            Self::Title => b't',
            Self::Region => b'r',
            Self::Subject => b's',
            Self::Hotline => b'h',
            Self::RequestType => b'q',
        }
    }

    /// The family of a namespace byte.
    pub fn from_tag(tag: u8) -> Option<Self> {
        Some(match tag {
            b'u' => Self::Unigram,
            b'b' => Self::Bigram,
            b'w' => Self::Word,
            b't' => Self::Title,
            b'r' => Self::Region,
            b's' => Self::Subject,
            b'h' => Self::Hotline,
            b'q' => Self::RequestType,
            _ => return None,
        })
    }

    /// Whether the family is read from the text (and scaled with it).
    pub fn is_text(self) -> bool {
        matches!(
            self,
            Self::Unigram | Self::Bigram | Self::Word | Self::Title
        )
    }
}

/// Which families a model reads, stored with the model: a model is always
/// applied with the features it was trained on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FeatureSpec {
    /// Characters (and ASCII words).
    pub unigrams: bool,
    /// Character bigrams.
    pub bigrams: bool,
    /// jieba words of title and description.
    pub words: bool,
    /// The title's jieba words and bigrams again, in a namespace of their
    /// own: the agent's summary of the matter.
    pub title: bool,
    /// Region code prefixes.
    pub region: bool,
    /// Subject code prefixes.
    pub subject: bool,
    /// Legacy hotline.
    pub hotline: bool,
    /// Request type.
    pub request_type: bool,
    /// Characters of the description read; the rest is ignored. Bounds
    /// the cost of one inference whatever the caller wrote.
    pub max_description_chars: usize,
}

impl Default for FeatureSpec {
    fn default() -> Self {
        Self {
            unigrams: true,
            bigrams: true,
            // Segmenting the whole description was half the cost of an
            // inference and added no accuracy over its characters and
            // bigrams (docs/dispatch-model.md); the title's words stay.
            words: false,
            title: true,
            region: true,
            subject: true,
            hotline: true,
            request_type: true,
            max_description_chars: 600,
        }
    }
}

/// 64-bit FNV-1a of the namespace byte and the text.
pub fn feature_key(family: Family, text: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in std::iter::once(&family.tag()).chain(text.as_bytes()) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The display name of a feature: `b:噪音`, `r:4301`.
pub fn feature_name(family: Family, text: &str) -> String {
    format!("{}:{text}", char::from(family.tag()))
}

/// The family and text of a display name.
pub fn parse_feature_name(name: &str) -> Option<(Family, &str)> {
    let (tag, text) = name.split_once(':')?;
    match tag.as_bytes() {
        [b] => Some((Family::from_tag(*b)?, text)),
        _ => None,
    }
}

/// Lower-cases ASCII, folds full-width ASCII forms to half-width and the
/// ideographic space to a space, so `ＡＢＣ１２` and `abc12` are one feature.
fn normalize_into(out: &mut String, text: &str, max_chars: usize) {
    for c in text.chars().take(max_chars) {
        let c = match c {
            '\u{ff01}'..='\u{ff5e}' => char::from_u32(u32::from(c) - 0xfee0).unwrap_or(c),
            '\u{3000}' => ' ',
            c => c,
        };
        out.push(c.to_ascii_lowercase());
    }
}

/// Whether `c` is a letter: the CJK Unified Ideographs, where almost every
/// character of a ticket lies, are answered without `char::is_alphabetic`'s
/// table search (a tenth of an inference otherwise).
fn is_letter(c: char) -> bool {
    matches!(c, '\u{4e00}'..='\u{9fff}') || c.is_alphabetic()
}

/// Whether `c` is a letter or a digit, as [`is_letter`].
fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || is_letter(c) || c.is_numeric()
}

/// A unit of text: one non-ASCII letter (a Han character), or one run of
/// ASCII letters and digits that is not all digits (numbers — dates,
/// phone numbers, house numbers — identify a case, not a unit).
/// Punctuation and spaces separate runs; bigrams never cross them.
fn units(text: &str, mut emit: impl FnMut(Option<(usize, usize)>)) {
    // The ASCII run being read: where it starts, whether it has a letter.
    let mut ascii: Option<(usize, bool)> = None;
    for (i, c) in text.char_indices() {
        if c.is_ascii_alphanumeric() {
            let run = ascii.get_or_insert((i, false));
            run.1 |= c.is_ascii_alphabetic();
            continue;
        }
        if let Some((start, letters)) = ascii.take() {
            emit(letters.then_some((start, i)));
        }
        emit(is_letter(c).then_some((i, i + c.len_utf8())));
    }
    if let Some((start, letters)) = ascii {
        emit(letters.then_some((start, text.len())));
    }
}

/// Characters and bigrams of `text` into `emit`.
fn char_features(
    text: &str,
    unigram: Option<Family>,
    bigram: Option<Family>,
    emit: &mut impl FnMut(Family, &str),
) {
    let mut previous: Option<(usize, usize)> = None;
    units(text, |unit| {
        if let Some((start, end)) = unit {
            if let Some(family) = unigram {
                emit(family, &text[start..end]);
            }
            if let (Some(family), Some((p_start, p_end))) = (bigram, previous)
                && p_end == start
            {
                emit(family, &text[p_start..end]);
            }
        }
        previous = unit;
    });
}

/// jieba words of two or more characters with a letter in them.
fn words(text: &str, family: Family, emit: &mut impl FnMut(Family, &str)) {
    for token in JIEBA.cut(text, false) {
        let word = token.word;
        let long = word.chars().nth(1).is_some();
        if long && word.chars().any(is_letter) && word.chars().all(is_word_char) {
            emit(family, word);
        }
    }
}

/// Every feature occurrence of `input` (a feature found twice is emitted
/// twice). `scratch` holds the normalized text between calls.
pub fn for_each_feature(
    spec: &FeatureSpec,
    input: &RoutingInput<'_>,
    scratch: &mut String,
    mut emit: impl FnMut(Family, &str),
) {
    scratch.clear();
    normalize_into(scratch, input.title, usize::MAX);
    let title_len = scratch.len();
    scratch.push('\n');
    normalize_into(scratch, input.description, spec.max_description_chars);
    let text = scratch.as_str();
    char_features(
        text,
        spec.unigrams.then_some(Family::Unigram),
        spec.bigrams.then_some(Family::Bigram),
        &mut emit,
    );
    if spec.words {
        words(text, Family::Word, &mut emit);
    }
    if spec.title {
        let title = &text[..title_len];
        char_features(title, None, Some(Family::Title), &mut emit);
        words(title, Family::Title, &mut emit);
    }
    if spec.region {
        let region = input.region_code.trim();
        for len in [2, 4, 6, 9, 12] {
            if let Some(prefix) = region.get(..len) {
                emit(Family::Region, prefix);
            }
        }
    }
    if spec.subject
        && let Some(subject) = input.subject_code.map(str::trim)
    {
        for (i, c) in subject.char_indices() {
            if c == '.' {
                emit(Family::Subject, &subject[..i]);
            }
        }
        if !subject.is_empty() {
            emit(Family::Subject, subject);
        }
    }
    if spec.hotline
        && let Some(hotline) = input
            .legacy_hotline
            .map(str::trim)
            .filter(|h| !h.is_empty())
    {
        emit(Family::Hotline, hotline);
    }
    if spec.request_type {
        emit(Family::RequestType, input.request_type.code());
    }
}

/// Feature values from `(column, text?, count)` entries, one per distinct
/// feature: `1 + ln count`, text features scaled to unit length together.
pub fn values(entries: &[(u32, bool, u32)], out: &mut Vec<(u32, f32)>) {
    let value = |count: u32| 1.0 + (count.max(1) as f32).ln();
    let norm: f32 = entries
        .iter()
        .filter(|e| e.1)
        .map(|e| value(e.2).powi(2))
        .sum();
    let scale = if norm > 0.0 { norm.sqrt().recip() } else { 1.0 };
    out.clear();
    out.extend(entries.iter().map(|&(column, text, count)| {
        (
            column,
            if text {
                value(count) * scale
            } else {
                value(count)
            },
        )
    }));
}
