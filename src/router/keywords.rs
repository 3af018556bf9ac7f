//! Keyword classes for the hand-made features and the hasher for the keyword table.
//! Pure data; used by `features`.

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
}

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

pub(crate) fn keyword_table() -> HashMap<u64, Kw, BuildHasherDefault<KeyHasher>> {
    let groups: [(Kw, &str); 11] = [
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
    ];
    let mut map = HashMap::default();
    for (kw, words) in groups {
        for w in words.split_whitespace() {
            map.entry(fnv1a(w.as_bytes(), 0)).or_insert(kw);
        }
    }
    map
}
