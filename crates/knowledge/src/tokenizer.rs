//! Chinese analysis: jieba words and character bigrams, both lower-cased and
//! without punctuation.
//!
//! Words (jieba's search mode, which also emits the shorter words inside a
//! long one) give precise matches; bigrams of adjacent characters survive
//! segmentation differences between a citizen's phrasing and an official
//! reply (景蓉华苑 vs 景蓉花苑, unknown place names). The index holds both and
//! a query scores on both (see docs/knowledge.md for the measurement).

use tantivy::tokenizer::{
    LowerCaser, RemoveLongFilter, TextAnalyzer, Token, TokenFilter, TokenStream, Tokenizer,
};
use tantivy_jieba::JiebaTokenizer;

/// Name of the word analyzer in the index's tokenizer manager.
pub const WORDS: &str = "zh_words";
/// Name of the bigram analyzer in the index's tokenizer manager.
pub const BIGRAMS: &str = "zh_bigrams";

/// Tokens longer than this (bytes) are dropped: base64 blobs, long URLs.
const MAX_TOKEN_BYTES: usize = 60;

/// jieba words (search mode), punctuation and spaces dropped, lower-cased.
pub fn words_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(JiebaTokenizer::new())
        .filter(WordTokensOnly)
        .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES))
        .filter(LowerCaser)
        .build()
}

/// Overlapping character bigrams of CJK runs, whole words of ASCII runs.
pub fn bigrams_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(BigramTokenizer)
        .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES))
        .filter(LowerCaser)
        .build()
}

/// Runs `analyzer` over `text` and returns the token texts in order.
pub fn token_texts(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut stream = analyzer.token_stream(text);
    let mut out = Vec::new();
    while stream.advance() {
        out.push(stream.token().text.clone());
    }
    out
}

/// Whether a token carries a word: jieba also emits every space and
/// punctuation mark as a token of its own.
fn is_word(text: &str) -> bool {
    text.chars().any(char::is_alphanumeric)
}

/// Token filter keeping only [`is_word`] tokens (tantivy's `AlphaNumOnlyFilter`
/// is ASCII-only and would drop every Chinese word).
#[derive(Debug, Clone, Copy)]
pub struct WordTokensOnly;

impl TokenFilter for WordTokensOnly {
    type Tokenizer<T: Tokenizer> = WordTokensOnlyTokenizer<T>;

    fn transform<T: Tokenizer>(self, tokenizer: T) -> WordTokensOnlyTokenizer<T> {
        WordTokensOnlyTokenizer(tokenizer)
    }
}

/// [`WordTokensOnly`] around a tokenizer.
#[derive(Debug, Clone)]
pub struct WordTokensOnlyTokenizer<T>(T);

impl<T: Tokenizer> Tokenizer for WordTokensOnlyTokenizer<T> {
    type TokenStream<'a> = WordTokensOnlyStream<T::TokenStream<'a>>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        WordTokensOnlyStream(self.0.token_stream(text))
    }
}

/// The stream of [`WordTokensOnlyTokenizer`].
#[derive(Debug)]
pub struct WordTokensOnlyStream<S>(S);

impl<S: TokenStream> TokenStream for WordTokensOnlyStream<S> {
    fn advance(&mut self) -> bool {
        while self.0.advance() {
            if is_word(&self.0.token().text) {
                return true;
            }
        }
        false
    }

    fn token(&self) -> &Token {
        self.0.token()
    }

    fn token_mut(&mut self) -> &mut Token {
        self.0.token_mut()
    }
}

/// Character bigrams: no crate offers a CJK bigram tokenizer for tantivy's
/// API (its `NgramTokenizer` makes n-grams of whole text including spaces
/// and punctuation, and splits ASCII words), so this is the small one.
#[derive(Debug, Clone, Copy, Default)]
pub struct BigramTokenizer;

/// Which kind of run a character belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Run {
    /// ASCII letters and digits: kept as whole words.
    Ascii,
    /// Any other letter or digit (Han, kana, fullwidth...): bigrams.
    Wide,
    /// Spaces and punctuation: separators.
    Gap,
}

fn run_of(c: char) -> Run {
    if c.is_ascii_alphanumeric() {
        Run::Ascii
    } else if c.is_alphanumeric() {
        Run::Wide
    } else {
        Run::Gap
    }
}

/// Bigram tokens of `text` with byte offsets.
fn bigram_tokens(text: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut push = |from: usize, to: usize| {
        tokens.push(Token {
            offset_from: from,
            offset_to: to,
            position: tokens.len(),
            text: text[from..to].to_owned(),
            position_length: 1,
        });
    };
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let end_of = |i: usize| chars.get(i).map_or(text.len(), |(at, _)| *at);
    let mut start = 0;
    while start < chars.len() {
        let kind = run_of(chars[start].1);
        let mut stop = start + 1;
        while stop < chars.len() && run_of(chars[stop].1) == kind {
            stop += 1;
        }
        match kind {
            Run::Gap => {}
            Run::Ascii => push(chars[start].0, end_of(stop)),
            Run::Wide if stop - start == 1 => push(chars[start].0, end_of(stop)),
            Run::Wide => {
                for (i, (at, _)) in chars.iter().enumerate().take(stop - 1).skip(start) {
                    push(*at, end_of(i + 2));
                }
            }
        }
        start = stop;
    }
    tokens
}

impl Tokenizer for BigramTokenizer {
    type TokenStream<'a> = BigramStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> BigramStream {
        BigramStream {
            tokens: bigram_tokens(text),
            next: 0,
            current: Token::default(),
        }
    }
}

/// The stream of [`BigramTokenizer`].
#[derive(Debug)]
pub struct BigramStream {
    tokens: Vec<Token>,
    next: usize,
    current: Token,
}

impl TokenStream for BigramStream {
    fn advance(&mut self) -> bool {
        match self.tokens.get_mut(self.next) {
            Some(token) => {
                self.current = std::mem::take(token);
                self.next += 1;
                true
            }
            None => false,
        }
    }

    fn token(&self) -> &Token {
        &self.current
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.current
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn bigrams_of_chinese_and_words_of_ascii() {
        let tokens = token_texts(&mut bigrams_analyzer(), "物业管理，GPS定位 A3区");
        assert_eq!(
            tokens,
            ["物业", "业管", "管理", "gps", "定位", "a3", "区"].map(String::from)
        );
    }

    #[test]
    fn bigram_offsets_point_at_the_text() {
        let text = "小区停车费";
        let mut analyzer = bigrams_analyzer();
        let mut stream = analyzer.token_stream(text);
        while stream.advance() {
            let token = stream.token();
            assert_eq!(&text[token.offset_from..token.offset_to], token.text);
        }
    }

    #[test]
    fn words_drop_punctuation_and_lowercase() {
        let tokens = token_texts(&mut words_analyzer(), "小区停车收费问题！ WiFi，");
        assert!(tokens.contains(&"停车".to_owned()), "{tokens:?}");
        assert!(tokens.contains(&"wifi".to_owned()), "{tokens:?}");
        assert!(tokens.iter().all(|t| is_word(t)), "{tokens:?}");
    }

    #[test]
    fn nothing_from_punctuation_only() {
        assert!(token_texts(&mut words_analyzer(), "！？。…「」 ,.;").is_empty());
        assert!(token_texts(&mut bigrams_analyzer(), "！？。…「」 ,.;").is_empty());
    }

    proptest! {
        #[test]
        fn any_text_tokenizes_within_its_bounds(text in ".{0,200}") {
            for analyzer in [&mut words_analyzer(), &mut bigrams_analyzer()] {
                let mut stream = analyzer.token_stream(&text);
                while stream.advance() {
                    let token = stream.token();
                    prop_assert!(token.offset_from <= token.offset_to);
                    prop_assert!(text.get(token.offset_from..token.offset_to).is_some());
                    prop_assert!(!token.text.is_empty());
                }
            }
        }
    }
}
