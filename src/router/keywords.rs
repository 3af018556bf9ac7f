//! Keyword classes for the hand-made features and the hasher for the keyword table.
//! Pure data; used by `features`. A word may belong to several classes (a bit set per word).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::features::fnv1a;

/// Keyword classes counted by the dense features.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kw {
    Math,
    Reasoning,
    Multistep,
    Code,
    Constraint,
    Creative,
    Roleplay,
    Extraction,
    Negation,
    Hedge,
    Refusal,
    /// Maths word problems: parts and multiples ("half", "twice", "third").
    Fraction,
    /// Numbers written as words.
    NumberWord,
}

/// Number of keyword classes (the length of a count array).
pub(crate) const KW_CLASSES: usize = 13;

/// A word's keyword classes as a bit set (bit `Kw as u32`): a word may count in several.
pub(crate) type KwSet = u32;

/// Keys are already FNV hashes: pass them through instead of SipHashing them again.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) ^ u64::from(*b) ^ (self.0 >> 56);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

pub(crate) fn keyword_table() -> HashMap<u64, KwSet, BuildHasherDefault<KeyHasher>> {
    let groups: [(Kw, &str); KW_CLASSES] = [
        (
            Kw::Math,
            "calculate compute solve equation equations integral derivative probability sum \
             product prime primes matrix ratio percent percentage average mean median remainder \
             divisible factor factorial polynomial root roots square cube area volume perimeter \
             radius triangle circle angle geometry algebra fraction decimal expected variance \
             minimum maximum total digits integer integers log sqrt theorem formula evaluate \
             simplify numbers number math mathematical arithmetic",
        ),
        (
            Kw::Reasoning,
            "why explain prove proof reason reasoning deduce infer logic logical puzzle riddle \
             suppose assume assuming therefore implies imply contradiction paradox argument valid \
             conclude conclusion justify analyze analyse compare consequence hypothesis trick \
             derive true statement statements",
        ),
        (
            Kw::Multistep,
            "first then next after finally each every remaining left times twice half third per \
             step steps afterwards later week weeks day days hours minutes month months year \
             years more less",
        ),
        (
            Kw::Code,
            "code function python java javascript program algorithm implement implementation bug \
             debug sql query class def return regex api compile script array loop recursion \
             complexity html css rust bash json int void const var println printf struct",
        ),
        (
            Kw::Constraint,
            "must exactly only least most without format words bullet limit ensure include \
             including concise brief sentence sentences paragraph paragraphs rhyme begin \
             start end within under",
        ),
        (
            Kw::Creative,
            "write poem story essay blog email letter compose creative imagine describe draft \
             slogan tweet song lyrics haiku speech narrative persuasive travel post catchy title \
             fun vivid",
        ),
        (
            Kw::Roleplay,
            "pretend act role character persona roleplay embody chat dialogue conversation \
             yourself",
        ),
        (
            Kw::Extraction,
            "extract summarize summary list identify table classify categorize rewrite rephrase \
             translate output key keys",
        ),
        (
            Kw::Negation,
            "not except incorrect false never cannot none neither nor",
        ),
        (
            Kw::Hedge,
            "however actually wait mistake correct correction approximately assume assuming \
             round rounded rounding unclear possible estimate but although cannot can't",
        ),
        (
            Kw::Refusal,
            "sorry unable apologize apologise refuse inappropriate",
        ),
        (
            Kw::Fraction,
            "half halves third thirds quarter quarters fourth fifth fifths tenth twice double \
             doubles doubled triple tripled thrice fraction percent percentage",
        ),
        (
            Kw::NumberWord,
            "one two three four five six seven eight nine ten eleven twelve thirteen fifteen \
             twenty thirty forty fifty sixty hundred hundreds thousand thousands million",
        ),
    ];
    let mut map: HashMap<u64, KwSet, BuildHasherDefault<KeyHasher>> = HashMap::default();
    // The first eleven classes stay exclusive (first group wins, as the hand prior was set
    // with); the word-problem classes are counted on top of them.
    let exclusive: KwSet = (1 << Kw::Fraction as u32) - 1;
    for (kw, words) in groups {
        let bit: KwSet = 1 << kw as u32;
        for w in words.split_whitespace() {
            let set = map.entry(fnv1a(w.as_bytes(), 0)).or_insert(0);
            if bit & exclusive == 0 || *set & exclusive == 0 {
                *set |= bit;
            }
        }
    }
    map
}
