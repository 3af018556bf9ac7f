//! Detectors: one byte pass finds triggers (digit spans, `@`, secret prefixes, IBAN starts);
//! regexes run only for triggered secret/e-mail/IBAN kinds, the numeric parser for digit spans;
//! validators (Luhn, mod-97, number plans) decide every numeric finding.

use std::sync::LazyLock;

use regex::Regex;

use super::numeric::{Span, findings as numeric_findings, parse_span};
use super::{PiiFinding, PiiKind};

/// A regex detector (secrets, e-mail, IBAN): its pattern and the validator of a match.
struct Detector {
    kind: PiiKind,
    re: Regex,
    is_valid: fn(&str) -> bool,
}

type Spec = (PiiKind, &'static str, fn(&str) -> bool);

/// Secrets, in `scan` priority order. Each starts with a literal, so the regex engine's
/// literal prefilter skips text without it.
const SECRET_SPECS: [Spec; 4] = [
    (
        PiiKind::PrivateKey,
        r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----(?s:.*?)(?:-----END (?:[A-Z]+ )*PRIVATE KEY-----|\z)",
        always,
    ),
    (
        PiiKind::ApiKey,
        r"(?-u:\b)(?:sk-(?:proj-|ant-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}|(?:sk|rk)_live_[A-Za-z0-9]{20,}|(?:AKIA|ASIA)[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{30,}|xox[abprs]-[A-Za-z0-9\-]{10,}|AIza[0-9A-Za-z_\-]{35})",
        has_digit_and_letter,
    ),
    (
        PiiKind::Jwt,
        r"(?-u:\b)eyJ[A-Za-z0-9_\-]{5,}\.eyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]{10,}",
        always,
    ),
    (
        PiiKind::BearerToken,
        r"(?-u:\b)[Bb][Ee][Aa][Rr][Ee][Rr]\s+[A-Za-z0-9\-._~+/]{16,}=*",
        is_bearer_token,
    ),
];

const EMAIL_SPEC: Spec = (
    PiiKind::Email,
    r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,24}(?-u:\b)",
    is_email,
);

/// Anchored at a trigger position (two capitals, two digits), so it runs on small windows.
const IBAN_SPEC: Spec = (
    PiiKind::Iban,
    r"\A[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?-u:\b)",
    is_iban,
);

/// Longest IBAN as printed (34 characters plus 8 spaces) plus slack.
const IBAN_WINDOW: usize = 48;

fn compile(specs: &[Spec]) -> Vec<Detector> {
    // A pattern that fails to compile is dropped; `every_pattern_compiles` pins that none does.
    specs
        .iter()
        .filter_map(|&(kind, pattern, is_valid)| {
            Regex::new(pattern)
                .ok()
                .map(|re| Detector { kind, re, is_valid })
        })
        .collect()
}

static SECRETS: LazyLock<Vec<Detector>> = LazyLock::new(|| compile(&SECRET_SPECS));
static EMAIL: LazyLock<Vec<Detector>> = LazyLock::new(|| compile(&[EMAIL_SPEC]));
static IBAN: LazyLock<Vec<Detector>> = LazyLock::new(|| compile(&[IBAN_SPEC]));

/// What one byte pass over the text found worth a closer look.
#[derive(Default)]
struct Triggers {
    secret: bool,
    email: bool,
    iban_at: Vec<usize>,
    spans: Vec<Span>,
}

/// Number of detectors that compiled and that are specified (tests compare them).
#[cfg(test)]
pub(super) fn compiled_detectors() -> (usize, usize) {
    (
        SECRETS.len() + EMAIL.len() + IBAN.len(),
        SECRET_SPECS.len() + 2,
    )
}

// ---- Detector ----

impl Detector {
    fn find_all<'t>(&'t self, text: &'t str) -> impl Iterator<Item = PiiFinding> + 't {
        self.re
            .find_iter(text)
            .filter(|m| (self.is_valid)(m.as_str()))
            .map(|m| PiiFinding {
                kind: self.kind,
                start: m.start(),
                end: m.end(),
            })
    }
}

/// Byte classes of the prefilter pass; most prose bytes are `BORING` and cost one lookup.
const BORING: u8 = 0;
const DIGIT: u8 = 1;
const AT: u8 = 2;
const UPPER: u8 = 3;
/// A rare byte inside a secret prefix (`k` of `sk-`, `x` of `xox`, `_` of `ghp_`...).
const ANCHOR: u8 = 4;

const fn class_table() -> [u8; 256] {
    let mut t = [BORING; 256];
    let mut c = 0;
    while c < 10 {
        t[(b'0' + c) as usize] = DIGIT;
        c += 1;
    }
    let mut c = 0;
    while c < 26 {
        t[(b'A' + c) as usize] = UPPER;
        c += 1;
    }
    t[b'@' as usize] = AT;
    t[b'k' as usize] = ANCHOR;
    t[b'x' as usize] = ANCHOR;
    t[b'_' as usize] = ANCHOR;
    t[b'-' as usize] = ANCHOR;
    t[b'b' as usize] = ANCHOR;
    t
}

static CLASS: [u8; 256] = class_table();

/// The single prefilter pass: digit spans, `@`, secret prefixes, IBAN starts.
fn triggers(text: &str) -> Triggers {
    let b = text.as_bytes();
    let mut t = Triggers::default();
    let mut i = 0;
    while i < b.len() {
        match CLASS[usize::from(b[i])] {
            BORING => {}
            DIGIT => {
                let (span, next) = parse_span(b, i);
                t.spans.extend(span);
                i = next;
                continue;
            }
            AT => t.email = true,
            UPPER => {
                t.secret = t.secret || is_secret_anchor(b, i);
                if is_iban_start(b, i) {
                    t.iban_at.push(i);
                }
            }
            _ => t.secret = t.secret || is_secret_anchor(b, i),
        }
        i += 1;
    }
    t
}

/// Whether the anchor byte at `i` sits in a secret prefix; looks a few bytes around it.
/// A loose superset of the secret regexes: each of their matches contains such an anchor.
fn is_secret_anchor(b: &[u8], i: usize) -> bool {
    let rest = b.get(i..).unwrap_or(&[]);
    let back = |n: usize| {
        b.get(i.saturating_sub(n)..)
            .filter(|_| i >= n)
            .unwrap_or(&[])
    };
    match b[i] {
        b'k' => {
            let from = back(1);
            from.starts_with(b"sk-")
                || from.starts_with(b"sk_live_")
                || from.starts_with(b"rk_live_")
        }
        b'x' => rest.starts_with(b"xox"),
        b'_' => {
            let gh = back(3);
            (gh.starts_with(b"gh") && matches!(gh.get(2), Some(b'p' | b'o' | b'u' | b's' | b'r')))
                || back(6).starts_with(b"github_pat_")
        }
        b'-' => rest.starts_with(b"-----BEGIN"),
        b'J' => back(2).starts_with(b"eyJ"),
        b'A' => rest.starts_with(b"AKIA") || rest.starts_with(b"ASIA") || rest.starts_with(b"AIza"),
        b'b' | b'B' => {
            rest.len() > 6
                && rest[..6].eq_ignore_ascii_case(b"bearer")
                && rest[6].is_ascii_whitespace()
        }
        _ => false,
    }
}

fn is_iban_start(b: &[u8], i: usize) -> bool {
    let word_before = i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
    !word_before
        && b.get(i + 1).is_some_and(u8::is_ascii_uppercase)
        && b.get(i + 2).is_some_and(u8::is_ascii_digit)
        && b.get(i + 3).is_some_and(u8::is_ascii_digit)
}

fn iban_findings(text: &str, starts: &[usize]) -> Vec<PiiFinding> {
    let mut out = Vec::new();
    for &i in starts {
        let mut end = (i + IBAN_WINDOW).min(text.len());
        while !text.is_char_boundary(end) {
            end += 1;
        }
        let Some(window) = text.get(i..end) else {
            continue;
        };
        out.extend(
            IBAN.iter()
                .flat_map(|d| d.find_all(window))
                .map(|f| PiiFinding {
                    start: f.start + i,
                    end: f.end + i,
                    ..f
                }),
        );
    }
    out
}

fn numeric(text: &str, spans: &[Span]) -> Vec<PiiFinding> {
    let mut out = Vec::new();
    for s in spans {
        numeric_findings(text, s, &mut out);
    }
    out
}

/// The kind of the first validated finding, kinds tried in priority order.
pub(super) fn first_kind(text: &str) -> Option<PiiKind> {
    let t = triggers(text);
    if t.secret
        && let Some(d) = SECRETS.iter().find(|d| d.find_all(text).next().is_some())
    {
        return Some(d.kind);
    }
    if t.email && EMAIL.iter().any(|d| d.find_all(text).next().is_some()) {
        return Some(PiiKind::Email);
    }
    let nums = numeric(text, &t.spans);
    let has = |k: PiiKind| nums.iter().any(|f| f.kind == k);
    if has(PiiKind::CreditCard) {
        return Some(PiiKind::CreditCard);
    }
    if !t.iban_at.is_empty() && !iban_findings(text, &t.iban_at).is_empty() {
        return Some(PiiKind::Iban);
    }
    [PiiKind::NationalId, PiiKind::Phone]
        .into_iter()
        .find(|k| has(*k))
}

/// All validated findings, sorted by start, overlaps removed (earlier, then longer, wins).
pub(super) fn all_findings(text: &str) -> Vec<PiiFinding> {
    let t = triggers(text);
    let mut found = numeric(text, &t.spans);
    if t.secret {
        found.extend(SECRETS.iter().flat_map(|d| d.find_all(text)));
    }
    if t.email {
        found.extend(EMAIL.iter().flat_map(|d| d.find_all(text)));
    }
    found.extend(iban_findings(text, &t.iban_at));
    found.sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
    let mut kept: Vec<PiiFinding> = Vec::with_capacity(found.len());
    for f in found {
        if kept.last().is_none_or(|last| f.start >= last.end) {
            kept.push(f);
        }
    }
    kept
}

/// Whether `[start, end)` is glued to a decimal point or digit group: `d.` before or `.d` after.
pub(super) fn is_in_decimal(text: &str, start: usize, end: usize) -> bool {
    let b = text.as_bytes();
    let before = start >= 2
        && matches!(b.get(start - 1), Some(b'.' | b','))
        && b.get(start - 2).is_some_and(u8::is_ascii_digit);
    let after =
        matches!(b.get(end), Some(b'.' | b',')) && b.get(end + 1).is_some_and(u8::is_ascii_digit);
    before || after
}

// ---- validators ----

fn always(_: &str) -> bool {
    true
}

fn has_digit_and_letter(s: &str) -> bool {
    s.bytes().any(|b| b.is_ascii_digit()) && s.bytes().any(|b| b.is_ascii_alphabetic())
}

/// The token after `Bearer` must look random: a digit and a letter, not just a long word.
fn is_bearer_token(s: &str) -> bool {
    let token = s.get(6..).unwrap_or("").trim_start();
    has_digit_and_letter(token)
}

/// File extensions that follow an `@` in asset names (`icon@2x.png`), not mail domains.
const NOT_TLDS: [&str; 10] = [
    "png", "jpg", "jpeg", "gif", "svg", "webp", "ico", "bmp", "pdf", "js",
];

fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.rsplit_once('@') else {
        return false;
    };
    let tld = domain.rsplit('.').next().unwrap_or("");
    !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && !NOT_TLDS.iter().any(|t| tld.eq_ignore_ascii_case(t))
}

fn digits(s: &str) -> Vec<u8> {
    s.bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| b - b'0')
        .collect()
}

/// The Luhn checksum over a digit sequence (rightmost digit is the check digit).
pub(super) fn luhn_ok(ds: &[u8]) -> bool {
    let sum: u32 = ds
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

fn all_same(ds: &[u8]) -> bool {
    ds.windows(2).all(|w| w[0] == w[1])
}

/// Group lengths cards are printed with, and the prefixes a layout needs: 4-4-4-4(-3) any,
/// Amex 4-6-5 (`34`, `37`), Diners 4-6-4 (`30`, `36`, `38`, `39`).
const CARD_GROUPINGS: [(&[usize], &[&str]); 4] = [
    (&[4, 4, 4, 4], &[""]),
    (&[4, 4, 4, 4, 3], &[""]),
    (&[4, 6, 5], &["34", "37"]),
    (&[4, 6, 4], &["30", "36", "38", "39"]),
];

pub(super) fn is_card(s: &str) -> bool {
    // Separated digits must follow a printed card layout, so "200 300 400 500 600" is no card.
    if s.contains([' ', '-']) {
        let groups: Vec<usize> = s.split([' ', '-']).map(str::len).collect();
        let one_separator = !(s.contains(' ') && s.contains('-'));
        let laid_out = CARD_GROUPINGS.iter().any(|(layout, prefixes)| {
            *layout == groups.as_slice() && prefixes.iter().any(|p| s.starts_with(p))
        });
        if !one_separator || !laid_out {
            return false;
        }
    }
    let ds = digits(s);
    (13..=19).contains(&ds.len())
        && matches!(ds.first(), Some(2..=6))
        && !all_same(&ds)
        && luhn_ok(&ds)
}

/// ISO 13616 mod-97 check over the compact IBAN (country and check digits moved to the end).
pub(super) fn iban_ok(compact: &str) -> bool {
    if !(15..=34).contains(&compact.len()) || !compact.is_ascii() {
        return false;
    }
    let (head, tail) = compact.split_at(4);
    let mut rem: u32 = 0;
    for c in tail.chars().chain(head.chars()) {
        let v = match c.to_digit(36) {
            Some(v) => v,
            None => return false,
        };
        rem = if v < 10 {
            (rem * 10 + v) % 97
        } else {
            (rem * 100 + v) % 97
        };
    }
    rem == 1
}

fn is_iban(s: &str) -> bool {
    let compact: String = s.chars().filter(|c| *c != ' ').collect();
    iban_ok(&compact)
}

/// US SSN number plan: area not 000, 666 or 9xx; group not 00; serial not 0000.
pub(super) fn is_us_ssn(s: &str) -> bool {
    let mut parts = s.split('-');
    let (Some(area), Some(group), Some(serial)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    area != "000" && area != "666" && !area.starts_with('9') && group != "00" && serial != "0000"
}

pub(super) fn is_international_phone(s: &str) -> bool {
    let ds = digits(s);
    let separated = s.bytes().any(|b| matches!(b, b' ' | b'.' | b'-' | b'('));
    let min = if separated { 8 } else { 10 };
    (min..=15).contains(&ds.len()) && !all_same(&ds)
}

/// North American numbering plan: area code and exchange start with 2-9.
pub(super) fn is_nanp_phone(s: &str) -> bool {
    let ds = digits(s);
    let ten = match ds.len() {
        11 if ds.first() == Some(&1) => ds.get(1..).unwrap_or(&[]),
        10 => &ds[..],
        _ => return false,
    };
    matches!(ten.first(), Some(2..=9)) && matches!(ten.get(3), Some(2..=9)) && !all_same(ten)
}

pub(super) fn is_national_phone(s: &str) -> bool {
    let ds = digits(s);
    (10..=11).contains(&ds.len()) && !all_same(&ds)
}
