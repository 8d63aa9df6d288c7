//! Phoneme strings → the ids a Piper model reads, as Piper builds them:
//! NFD-normalise, one phoneme per character (or per known vowel cluster),
//! each phoneme's ids followed by the pad id, the whole wrapped as
//! `^ _ (p _)* $`. Phonemes missing from the voice's map are skipped and
//! counted, never fatal.
//!
//! NFD comes from the `unicode-normalization` crate: a correct NFD needs the
//! Unicode decomposition and combining-class tables (thousands of entries),
//! and a hand-written subset would silently differ from Piper's
//! `unicodedata.normalize("NFD", …)` for some voice's language.

use std::collections::HashMap;

use unicode_normalization::UnicodeNormalization;

use crate::config::{BOS, EOS, PAD};

/// A voice's phoneme → ids table, with the three fixed symbols looked up once.
#[derive(Clone, Debug)]
pub struct IdMap {
    map: HashMap<String, Vec<i64>>,
    bos: Vec<i64>,
    pad: Vec<i64>,
    eos: Vec<i64>,
    /// Vowel clusters to merge, longest first.
    clusters: Vec<Vec<String>>,
}

/// One phoneme that the map knows, with its ids.
#[derive(Clone, Debug, PartialEq)]
pub struct Phoneme {
    pub text: String,
    pub ids: Vec<i64>,
}

/// A sentence's known phonemes and how many unknown ones were skipped.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Mapped {
    pub phonemes: Vec<Phoneme>,
    pub unknown: usize,
}

impl IdMap {
    /// Builds the table; the config check guarantees `^ _ $` are present.
    pub fn new(map: HashMap<String, Vec<i64>>, vowel_clusters: &[Vec<String>]) -> IdMap {
        let get = |s: &str| map.get(s).cloned().unwrap_or_default();
        let mut clusters = vowel_clusters.to_vec();
        clusters.sort_by_key(|c| std::cmp::Reverse(c.len()));
        IdMap {
            bos: get(BOS),
            pad: get(PAD),
            eos: get(EOS),
            map,
            clusters,
        }
    }

    /// Splits a phoneme string into Piper's phonemes and maps them.
    pub fn map(&self, phonemes: &str) -> Mapped {
        let chars: Vec<String> = phonemes.nfd().map(String::from).collect();
        let mut out = Mapped::default();
        for text in merge_clusters(chars, &self.clusters) {
            match self.map.get(&text) {
                Some(ids) => out.phonemes.push(Phoneme {
                    ids: ids.clone(),
                    text,
                }),
                None => out.unknown += 1,
            }
        }
        out
    }

    /// The model input for some phonemes: `^ _ (p _)* $`.
    pub fn ids(&self, phonemes: &[Phoneme]) -> Vec<i64> {
        let mut ids = Vec::with_capacity(self.id_len(phonemes));
        ids.extend(&self.bos);
        ids.extend(&self.pad);
        for p in phonemes {
            ids.extend(&p.ids);
            ids.extend(&self.pad);
        }
        ids.extend(&self.eos);
        ids
    }

    /// How many ids [`IdMap::ids`] gives for these phonemes.
    pub fn id_len(&self, phonemes: &[Phoneme]) -> usize {
        self.fixed_len() + phonemes.iter().map(|p| self.unit_len(p)).sum::<usize>()
    }

    fn fixed_len(&self) -> usize {
        self.bos.len() + self.pad.len() + self.eos.len()
    }

    fn unit_len(&self, p: &Phoneme) -> usize {
        p.ids.len() + self.pad.len()
    }

    /// Cuts a sentence's phonemes into pieces whose ids fit in `max_ids`,
    /// each piece one inference. A cut goes after the last clause
    /// punctuation (`, : ;` and its space) that fits, else after the last
    /// space between words, else (a "word" longer than a piece) where the
    /// piece is full. Fails only if not even one phoneme fits.
    pub fn split<'a>(&self, phonemes: &'a [Phoneme], max_ids: usize) -> Option<Vec<&'a [Phoneme]>> {
        let mut pieces = Vec::new();
        let mut rest = phonemes;
        while self.id_len(rest) > max_ids {
            let mut len = self.fixed_len();
            let mut fit = 0;
            for p in rest {
                len += self.unit_len(p);
                if len > max_ids {
                    break;
                }
                fit += 1;
            }
            if fit == 0 {
                return None;
            }
            let fitting = &rest[..fit];
            let after = |pred: &dyn Fn(usize) -> bool| (1..fit).rev().find(|&i| pred(i));
            let clause_cut = after(&|i| {
                fitting[i].text == " "
                    && matches!(
                        fitting[i - 1].text.as_str(),
                        "," | ":" | ";" | "." | "!" | "?"
                    )
            });
            let word_cut = after(&|i| fitting[i].text == " ");
            // Cut after the space, so the next piece starts with a word.
            let cut = clause_cut.or(word_cut).map_or(fit, |i| i + 1);
            pieces.push(&rest[..cut]);
            rest = &rest[cut..];
        }
        if !rest.is_empty() || pieces.is_empty() {
            pieces.push(rest);
        }
        Some(pieces)
    }
}

/// Joins adjacent characters that form a known vowel cluster (longest
/// first), as Piper does for voices trained with clusters.
fn merge_clusters(chars: Vec<String>, clusters: &[Vec<String>]) -> Vec<String> {
    if clusters.is_empty() {
        return chars;
    }
    let mut out = Vec::with_capacity(chars.len());
    let mut i = 0;
    while i < chars.len() {
        match clusters.iter().find(|c| chars[i..].starts_with(c)) {
            Some(c) => {
                out.push(c.concat());
                i += c.len();
            }
            None => {
                out.push(chars[i].clone());
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &[i64])]) -> HashMap<String, Vec<i64>> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_vec()))
            .collect()
    }

    /// The ids the PyPI test voice (en_US-joe-medium) uses for these symbols.
    fn joe() -> IdMap {
        IdMap::new(
            map(&[
                ("_", &[0]),
                ("^", &[1]),
                ("$", &[2]),
                (" ", &[3]),
                (",", &[8]),
                (".", &[10]),
                ("h", &[20]),
                ("l", &[24]),
                ("o", &[27]),
                ("w", &[35]),
                ("d", &[17]),
                ("ə", &[59]),
                ("ɜ", &[62]),
                ("ʊ", &[100]),
                ("ˈ", &[120]),
                ("ː", &[122]),
                ("c", &[16]),
                ("\u{0327}", &[140]),
            ]),
            &[],
        )
    }

    #[test]
    fn maps_a_sentence_like_piper() {
        let m = joe();
        // Piper 1.8.0's ids for "Hello world." with this voice.
        let mapped = m.map("həlˈoʊ wˈɜːld.");
        assert_eq!(mapped.unknown, 0);
        assert_eq!(
            m.ids(&mapped.phonemes),
            vec![
                1, 0, 20, 0, 59, 0, 24, 0, 120, 0, 27, 0, 100, 0, 3, 0, 35, 0, 120, 0, 62, 0, 122,
                0, 24, 0, 17, 0, 10, 0, 2
            ]
        );
    }

    #[test]
    fn decomposes_to_nfd_before_mapping() {
        // U+00E7 (ç) is c + U+0327 in NFD, both of which the map knows.
        let m = joe();
        let mapped = m.map("\u{e7}");
        assert_eq!(mapped.unknown, 0);
        assert_eq!(m.ids(&mapped.phonemes), vec![1, 0, 16, 0, 140, 0, 2]);
    }

    #[test]
    fn skips_and_counts_unknown_phonemes() {
        let m = joe();
        let mapped = m.map("hʒlʒ");
        assert_eq!(mapped.unknown, 2);
        assert_eq!(m.ids(&mapped.phonemes), vec![1, 0, 20, 0, 24, 0, 2]);
        let empty = m.map("");
        assert_eq!(m.ids(&empty.phonemes), vec![1, 0, 2]);
    }

    #[test]
    fn multi_id_phonemes_and_vowel_clusters() {
        let m = IdMap::new(
            map(&[
                ("_", &[0]),
                ("^", &[1]),
                ("$", &[2]),
                ("a", &[5]),
                ("ɪ", &[6]),
                ("aɪ", &[161]),
                ("x", &[7, 8]),
            ]),
            &[vec!["a".into(), "ɪ".into()]],
        );
        let mapped = m.map("aɪxa");
        let texts: Vec<&str> = mapped.phonemes.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(texts, ["aɪ", "x", "a"]);
        assert_eq!(
            m.ids(&mapped.phonemes),
            vec![1, 0, 161, 0, 7, 8, 0, 5, 0, 2]
        );
        assert_eq!(m.id_len(&mapped.phonemes), 10);
    }

    fn texts(pieces: &[&[Phoneme]]) -> Vec<String> {
        pieces
            .iter()
            .map(|p| p.iter().map(|x| x.text.as_str()).collect())
            .collect()
    }

    #[test]
    fn a_short_sentence_is_one_piece() {
        let m = joe();
        let p = m.map("hələ").phonemes;
        assert_eq!(texts(&m.split(&p, 64).unwrap()), ["hələ"]);
        assert_eq!(texts(&m.split(&[], 64).unwrap()), [""]);
    }

    #[test]
    fn long_sentences_split_at_clauses_then_words() {
        let m = joe();
        // 18 phonemes: 3 + 2 * 18 = 39 ids.
        let p = m.map("hə, wo lə. ləhə wə").phonemes;
        assert_eq!(m.id_len(&p), 39);
        // 21 ids hold 9 phonemes: cuts after the last punctuation and space
        // that fit.
        let pieces = m.split(&p, 21).unwrap();
        assert_eq!(texts(&pieces), ["hə, ", "wo lə. ", "ləhə wə"]);
        for piece in &pieces {
            assert!(m.id_len(piece) <= 21);
        }
        // Without clause punctuation, at the last space that fits.
        let p = m.map("hələ wələ hələ").phonemes;
        assert_eq!(texts(&m.split(&p, 23).unwrap()), ["hələ wələ ", "hələ"]);
        // A word longer than a piece is cut where the piece is full.
        let p = m.map("hələwələ").phonemes;
        assert_eq!(texts(&m.split(&p, 9).unwrap()), ["həl", "əwə", "lə"]);
        // Not even one phoneme fits.
        assert!(m.split(&p, 3).is_none());
    }
}
