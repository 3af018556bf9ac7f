//! Detector table: loose triggers (one `RegexSet` pass), strict patterns and their validators.

use std::sync::LazyLock;

use regex::{Regex, RegexSet};

use super::{PiiFinding, PiiKind};

/// Trigger indexes into `TRIGGERS`.
const T_SECRET: usize = 0;
const T_EMAIL: usize = 1;
const T_DIGITS: usize = 2;
const T_IBAN: usize = 3;

/// Loose, cheap patterns: a strict detector runs only when its trigger fired. Each strict
/// pattern below can only match where its trigger also matches (a superset), which the tests
/// check on every positive example.
const TRIGGER_PATTERNS: [&str; 4] = [
    r"sk-[A-Za-z0-9]|sk_live_|rk_live_|AKIA|ASIA|gh[pousr]_|github_pat_|xox[abprs]-|AIza|eyJ|[Bb][Ee][Aa][Rr][Ee][Rr]\s|-----BEGIN",
    r"[A-Za-z0-9]@[A-Za-z0-9]",
    r"[0-9](?:[ \-.()/]{0,2}[0-9]){6}",
    r"[A-Z]{2}[0-9]{2} ?[A-Z0-9]{4}",
];

/// A strict detector: the trigger that gates it, its pattern and the validator of a match.
struct Detector {
    kind: PiiKind,
    trigger: usize,
    re: Regex,
    is_valid: fn(&str) -> bool,
}

type Spec = (PiiKind, usize, &'static str, fn(&str) -> bool);

/// In `scan` priority order: secrets, then e-mail, card, IBAN, national id, phone.
const SPECS: [Spec; 11] = [
    (
        PiiKind::PrivateKey,
        T_SECRET,
        r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----(?s:.*?)(?:-----END (?:[A-Z]+ )*PRIVATE KEY-----|\z)",
        always,
    ),
    (
        PiiKind::ApiKey,
        T_SECRET,
        r"(?-u:\b)(?:sk-(?:proj-|ant-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}|(?:sk|rk)_live_[A-Za-z0-9]{20,}|(?:AKIA|ASIA)[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{30,}|xox[abprs]-[A-Za-z0-9\-]{10,}|AIza[0-9A-Za-z_\-]{35})",
        has_digit_and_letter,
    ),
    (
        PiiKind::Jwt,
        T_SECRET,
        r"(?-u:\b)eyJ[A-Za-z0-9_\-]{5,}\.eyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]{10,}",
        always,
    ),
    (
        PiiKind::BearerToken,
        T_SECRET,
        r"(?-u:\b)[Bb][Ee][Aa][Rr][Ee][Rr]\s+[A-Za-z0-9\-._~+/]{16,}=*",
        is_bearer_token,
    ),
    (
        PiiKind::Email,
        T_EMAIL,
        r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,24}(?-u:\b)",
        is_email,
    ),
    (
        PiiKind::CreditCard,
        T_DIGITS,
        r"(?-u:\b)[0-9](?:[ \-]?[0-9]){12,18}(?-u:\b)",
        is_card,
    ),
    (
        PiiKind::Iban,
        T_IBAN,
        r"(?-u:\b)[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?-u:\b)",
        is_iban,
    ),
    (
        PiiKind::NationalId,
        T_DIGITS,
        r"(?-u:\b)[0-9]{3}-[0-9]{2}-[0-9]{4}(?-u:\b)",
        is_us_ssn,
    ),
    (
        PiiKind::Phone,
        T_DIGITS,
        r"\+[1-9][0-9]{0,2}[ .\-]?(?:\([0-9]{1,4}\)[ .\-]?)?[0-9]{1,4}(?:[ .\-]?[0-9]{2,4}){1,4}(?-u:\b)",
        is_international_phone,
    ),
    (
        PiiKind::Phone,
        T_DIGITS,
        r"(?:(?-u:\b)1[ .\-])?(?:\([0-9]{3}\) ?|(?-u:\b)[0-9]{3}[ .\-])[0-9]{3}[ .\-][0-9]{4}(?-u:\b)",
        is_nanp_phone,
    ),
    (
        PiiKind::Phone,
        T_DIGITS,
        r"(?-u:\b)0[1-9](?:[0-9]{1,3}[ \-/][0-9]{3,4}[ \-]?[0-9]{3,4}|(?:[ .\-][0-9]{2}){4})(?-u:\b)",
        is_national_phone,
    ),
];

static TRIGGERS: LazyLock<Option<RegexSet>> =
    LazyLock::new(|| RegexSet::new(TRIGGER_PATTERNS).ok());

// A pattern that fails to compile is dropped; `every_pattern_compiles` pins that none does.
static DETECTORS: LazyLock<Vec<Detector>> = LazyLock::new(|| {
    SPECS
        .iter()
        .filter_map(|&(kind, trigger, pattern, is_valid)| {
            Regex::new(pattern).ok().map(|re| Detector {
                kind,
                trigger,
                re,
                is_valid,
            })
        })
        .collect()
});

// ---- Detector ----

impl Detector {
    /// The match passes the validator and, for numbers, is not part of a decimal fraction
    /// (`3.1415926535897932` holds no card number).
    fn accepts(&self, text: &str, m: &regex::Match<'_>) -> bool {
        let numeric = matches!(
            self.kind,
            PiiKind::CreditCard | PiiKind::Phone | PiiKind::NationalId
        );
        // A `+` in front makes a digit run a phone number, not a card.
        let after_plus = m.start() > 0 && text.as_bytes().get(m.start() - 1) == Some(&b'+');
        let glued = numeric && is_in_decimal(text, m.start(), m.end());
        let plus_card = self.kind == PiiKind::CreditCard && after_plus;
        (self.is_valid)(m.as_str()) && !glued && !plus_card
    }
}

/// Whether `[start, end)` is glued to a decimal point or digit group: `d.` before or `.d` after.
fn is_in_decimal(text: &str, start: usize, end: usize) -> bool {
    let b = text.as_bytes();
    let before = start >= 2
        && matches!(b.get(start - 1), Some(b'.' | b','))
        && b.get(start - 2).is_some_and(u8::is_ascii_digit);
    let after =
        matches!(b.get(end), Some(b'.' | b',')) && b.get(end + 1).is_some_and(u8::is_ascii_digit);
    before || after
}

/// Number of detectors that compiled (tests compare it with the spec table).
#[cfg(test)]
pub(super) fn compiled_detectors() -> (usize, usize, bool) {
    (DETECTORS.len(), SPECS.len(), TRIGGERS.is_some())
}

/// The kind of the first validated finding, detectors tried in priority order.
pub(super) fn first_kind(text: &str) -> Option<PiiKind> {
    let fired = TRIGGERS.as_ref()?.matches(text);
    if !fired.matched_any() {
        return None;
    }
    DETECTORS
        .iter()
        .filter(|d| fired.matched(d.trigger))
        .find(|d| d.re.find_iter(text).any(|m| d.accepts(text, &m)))
        .map(|d| d.kind)
}

/// All validated findings, sorted by start, overlaps removed (earlier, then longer, wins).
pub(super) fn all_findings(text: &str) -> Vec<PiiFinding> {
    let Some(set) = TRIGGERS.as_ref() else {
        return Vec::new();
    };
    let fired = set.matches(text);
    let mut found: Vec<PiiFinding> = DETECTORS
        .iter()
        .filter(|d| fired.matched(d.trigger))
        .flat_map(|d| {
            d.re.find_iter(text)
                .filter(|m| d.accepts(text, m))
                .map(|m| PiiFinding {
                    kind: d.kind,
                    start: m.start(),
                    end: m.end(),
                })
        })
        .collect();
    found.sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
    let mut kept: Vec<PiiFinding> = Vec::with_capacity(found.len());
    for f in found {
        if kept.last().is_none_or(|last| f.start >= last.end) {
            kept.push(f);
        }
    }
    kept
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

fn is_card(s: &str) -> bool {
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
fn is_us_ssn(s: &str) -> bool {
    let mut parts = s.split('-');
    let (Some(area), Some(group), Some(serial)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    area != "000" && area != "666" && !area.starts_with('9') && group != "00" && serial != "0000"
}

fn is_international_phone(s: &str) -> bool {
    let ds = digits(s);
    let separated = s.bytes().any(|b| matches!(b, b' ' | b'.' | b'-' | b'('));
    let min = if separated { 8 } else { 10 };
    (min..=15).contains(&ds.len()) && !all_same(&ds)
}

/// North American numbering plan: area code and exchange start with 2-9.
fn is_nanp_phone(s: &str) -> bool {
    let ds = digits(s);
    let ten = match ds.len() {
        11 if ds.first() == Some(&1) => ds.get(1..).unwrap_or(&[]),
        10 => &ds[..],
        _ => return false,
    };
    matches!(ten.first(), Some(2..=9)) && matches!(ten.get(3), Some(2..=9)) && !all_same(ten)
}

fn is_national_phone(s: &str) -> bool {
    let ds = digits(s);
    (10..=11).contains(&ds.len()) && !all_same(&ds)
}
