//! Piper's sentences, rebuilt from what stock libespeak-ng gives.
//!
//! Piper runs one inference per sentence, and the sentence boundaries are
//! espeak-ng's: each `espeak_TextToPhonemes` call translates one clause, and
//! Piper's own espeak-ng build also reports the clause's punctuation and
//! whether it ends a sentence. Debian's libespeak-ng 1.51 reports neither, so
//! both are recovered here from the text each call consumed: the call
//! advances the text pointer past the clause's punctuation, its following
//! spaces and one character of look-ahead (the first of the next clause).
//! These rules were checked against Piper 1.8.0's espeak bridge on 32 English
//! sentences (abbreviations, numbers, quotes, dashes, ellipses): they agreed
//! on every clause except the end of a text, where Piper's flag does not
//! matter because its last sentence ends there anyway.

use std::ops::Range;

/// One clause as espeak-ng translated it.
#[derive(Clone, Debug, PartialEq)]
pub struct Clause {
    /// IPA phonemes, with espeak's language-switch flags removed.
    pub phonemes: String,
    /// The punctuation that ended the clause, as Piper keeps it.
    pub terminator: Option<char>,
    /// Whether a new sentence starts after this clause.
    pub ends_sentence: bool,
    /// The clause's text (byte range in the input), look-ahead excluded.
    pub text: Range<usize>,
}

impl Clause {
    /// The clause's phonemes as Piper hands them on: the phonemes, then the
    /// terminator, then a space after `, : ;` (which stay inside a sentence).
    pub fn piper_phonemes(&self) -> String {
        let mut s = self.phonemes.clone();
        if let Some(t) = self.terminator {
            s.push(t);
            if matches!(t, ',' | ':' | ';') {
                s.push(' ');
            }
        }
        s
    }
}

/// Punctuation that can end an espeak-ng clause.
fn is_clause_punctuation(c: char) -> bool {
    matches!(c, '.' | '?' | '!' | ',' | ':' | ';' | '…' | '—' | '–')
}

/// Characters that may close a clause after its punctuation (`"Stop."`).
fn is_closer(c: char) -> bool {
    matches!(c, '"' | '\'' | '”' | '’' | ')' | ']' | '}' | '»')
}

/// Where a clause's own text ends within what one call consumed: without the
/// look-ahead character that every call but the last reads.
pub fn clause_text_end(consumed: &str, is_last: bool) -> usize {
    match consumed.chars().next_back() {
        Some(c) if !is_last && !c.is_whitespace() => consumed.len() - c.len_utf8(),
        _ => consumed.len(),
    }
}

/// The terminator and sentence end of a clause, from its text (look-ahead
/// already removed). The last clause of a text always ends a sentence.
pub fn clause_end(clause_text: &str, is_last: bool) -> (Option<char>, bool) {
    let trimmed = clause_text.trim_end().trim_end_matches(is_closer);
    let run_start = trimmed
        .char_indices()
        .rev()
        .take_while(|&(_, c)| is_clause_punctuation(c))
        .last()
        .map_or(trimmed.len(), |(i, _)| i);
    let run = &trimmed[run_start..];
    let Some(first) = run.chars().next() else {
        return (None, is_last);
    };
    // An ellipsis is a pause inside the sentence with nothing kept.
    if run.contains("...") || run.contains('…') {
        return (None, is_last);
    }
    // espeak-ng reports a dash ending a clause as a semicolon.
    let terminator = if matches!(first, '—' | '–') {
        ';'
    } else {
        first
    };
    (
        Some(terminator),
        is_last || matches!(terminator, '.' | '?' | '!'),
    )
}

/// Removes espeak-ng's language-switch flags, `(en)` … `(fr)`, which wrap
/// words it reads in another language.
pub fn strip_language_flags(phonemes: &str) -> String {
    let mut out = String::with_capacity(phonemes.len());
    let mut rest = phonemes;
    while let Some(open) = rest.find('(') {
        match rest[open..].find(')') {
            Some(close) if close > 1 => {
                out.push_str(&rest[..open]);
                rest = &rest[open + close + 1..];
            }
            _ => {
                out.push_str(&rest[..=open]);
                rest = &rest[open + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// A sentence: consecutive clauses up to one that ends a sentence.
#[derive(Clone, Debug, PartialEq)]
pub struct Sentence {
    /// The sentence's text (byte range in the input).
    pub text: Range<usize>,
    /// Piper's phoneme string for the sentence (all its clauses).
    pub phonemes: String,
}

/// Groups clauses into sentences; sentences with no phoneme at all (text of
/// punctuation only) are dropped, as Piper drops them.
pub fn group(clauses: &[Clause]) -> Vec<Sentence> {
    let mut sentences = Vec::new();
    let mut current: Option<Sentence> = None;
    for clause in clauses {
        let s = current.get_or_insert_with(|| Sentence {
            text: clause.text.clone(),
            phonemes: String::new(),
        });
        s.text.end = clause.text.end;
        s.phonemes.push_str(&clause.piper_phonemes());
        if clause.ends_sentence {
            sentences.extend(current.take());
        }
    }
    sentences.extend(current.take());
    sentences.retain(|s| {
        s.phonemes
            .chars()
            .any(|c| !is_clause_punctuation(c) && c != ' ')
    });
    sentences
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a call consumed → the clause text, its terminator and sentence end.
    fn end(consumed: &str, is_last: bool) -> (String, Option<char>, bool) {
        let text = &consumed[..clause_text_end(consumed, is_last)];
        let (t, e) = clause_end(text, is_last);
        (text.to_string(), t, e)
    }

    #[test]
    fn recovers_terminators_from_consumed_text() {
        // Slices as Debian's libespeak-ng 1.51 consumed them, with Piper's answers.
        assert_eq!(
            end("Hello world. H", false),
            ("Hello world. ".into(), Some('.'), true)
        );
        assert_eq!(
            end("ow are you? I", false),
            ("ow are you? ".into(), Some('?'), true)
        );
        assert_eq!(
            end("'m fine, t", false),
            ("'m fine, ".into(), Some(','), false)
        );
        assert_eq!(end("hanks: r", false).1, Some(':'));
        assert_eq!(end("eally; y", false).1, Some(';'));
        assert_eq!(end("es!", true), ("es!".into(), Some('!'), true));
        assert_eq!(end("Dr. S", false).1, Some('.'));
        assert_eq!(end("Wait... w", false), ("Wait... ".into(), None, false));
        assert_eq!(end("hat?!", true), ("hat?!".into(), Some('?'), true));
        assert_eq!(end("Yes!! N", false).1, Some('!'));
        assert_eq!(end("top.\nN", false), ("top.\n".into(), Some('.'), true));
        assert_eq!(end("a, b", false), ("a, ".into(), Some(','), false));
        assert_eq!(end("", true), ("".into(), None, true));
        assert_eq!(end("He said \"hi.\" T", false).1, Some('.'));
        assert_eq!(end("Look — a", false), ("Look — ".into(), Some(';'), false));
        assert_eq!(end("Look – e", false).1, Some(';'));
        assert_eq!(end("Ellipsis… u", false).1, None);
        assert_eq!(end("café naïve", true), ("café naïve".into(), None, true));
    }

    #[test]
    fn a_multibyte_look_ahead_is_removed_whole() {
        assert_eq!(end("Yes. É", false), ("Yes. ".into(), Some('.'), true));
    }

    #[test]
    fn strips_language_flags_only() {
        assert_eq!(strip_language_flags("(fr)ʃɑːtˈo(en) ɪz"), "ʃɑːtˈo ɪz");
        assert_eq!(strip_language_flags("no flags"), "no flags");
        assert_eq!(strip_language_flags("a () b ( c"), "a () b ( c");
    }

    fn clause(ph: &str, t: Option<char>, ends: bool, text: Range<usize>) -> Clause {
        Clause {
            phonemes: ph.into(),
            terminator: t,
            ends_sentence: ends,
            text,
        }
    }

    #[test]
    fn groups_clauses_into_sentences_like_piper() {
        // "Hello world. I'm fine, thanks: really; yes!"
        let clauses = [
            clause("həlˈoʊ wˈɜːld", Some('.'), true, 0..13),
            clause("aɪm fˈaɪn", Some(','), false, 13..23),
            clause("θˈæŋks", Some(':'), false, 23..31),
            clause("ɹˈiəli", Some(';'), false, 31..39),
            clause("jˈɛs", Some('!'), true, 39..43),
        ];
        let s = group(&clauses);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].phonemes, "həlˈoʊ wˈɜːld.");
        assert_eq!(s[0].text, 0..13);
        assert_eq!(s[1].phonemes, "aɪm fˈaɪn, θˈæŋks: ɹˈiəli; jˈɛs!");
        assert_eq!(s[1].text, 13..43);
    }

    #[test]
    fn a_text_without_final_punctuation_is_one_sentence() {
        let s = group(&[
            clause("wˈeɪt", None, false, 0..8),
            clause("wˌʌt", None, true, 8..12),
        ]);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].phonemes, "wˈeɪtwˌʌt");
    }

    #[test]
    fn punctuation_only_and_empty_texts_have_no_sentence() {
        assert!(group(&[]).is_empty());
        assert!(group(&[clause("", None, true, 0..3)]).is_empty());
        assert!(group(&[
            clause("", Some(','), false, 0..2),
            clause("", Some('!'), true, 2..4)
        ])
        .is_empty());
    }
}
