//! Numeric findings (cards, US SSNs, phone numbers) by a hand-written parser: digit runs
//! ("groups") joined by short separators form a span; layouts are matched on group lengths
//! and separators, then the validators in `detect` decide. Linear in the text, no regex:
//! digit-heavy prose (tables, dates, amounts) must stay cheap to scan.

use super::detect::{
    is_card, is_in_decimal, is_international_phone, is_nanp_phone, is_national_phone, is_us_ssn,
};
use super::{PiiFinding, PiiKind};

/// A run of ASCII digits: byte range.
#[derive(Debug, Clone, Copy)]
struct Group {
    start: usize,
    end: usize,
}

/// Digit groups joined by separators of at most two bytes from ` -./()`.
#[derive(Debug, Clone)]
pub(super) struct Span {
    groups: Vec<Group>,
}

/// Spans with fewer digits hold no card, SSN or phone number.
const MIN_DIGITS: usize = 7;

fn is_joiner(b: u8) -> bool {
    matches!(b, b' ' | b'-' | b'.' | b'/' | b'(' | b')')
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Parses the span starting at digit `i`; returns it (`None` when it has too few digits to
/// matter, without allocating) and the index after it.
pub(super) fn parse_span(b: &[u8], start: usize) -> (Option<Span>, usize) {
    let (end, digits) = walk(b, start, |_, _| {});
    if digits < MIN_DIGITS {
        return (None, end);
    }
    let mut groups = Vec::with_capacity(4);
    walk(b, start, |s, e| groups.push(Group { start: s, end: e }));
    (Some(Span { groups }), end)
}

/// Walks digit groups and joiners from `i`, reporting each group; returns (end, digits).
fn walk(b: &[u8], mut i: usize, mut group: impl FnMut(usize, usize)) -> (usize, usize) {
    let mut digits = 0;
    loop {
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        group(start, i);
        digits += i - start;
        let mut j = i;
        while j < i + 2 && b.get(j).copied().is_some_and(is_joiner) {
            j += 1;
        }
        if j == i || !b.get(j).is_some_and(u8::is_ascii_digit) {
            return (i, digits);
        }
        i = j;
    }
}

/// Every validated numeric finding of a span, appended to `out`.
pub(super) fn findings(text: &str, span: &Span, out: &mut Vec<PiiFinding>) {
    let cx = Cx {
        text,
        b: text.as_bytes(),
        g: &span.groups,
    };
    if let Some(f) = cx.international() {
        out.push(f);
    }
    for i in 0..span.groups.len() {
        for f in [cx.card(i), cx.ssn(i), cx.nanp(i), cx.national(i)]
            .into_iter()
            .flatten()
        {
            out.push(f);
        }
    }
}

struct Cx<'a> {
    text: &'a str,
    b: &'a [u8],
    g: &'a [Group],
}

/// Card layouts by separated group lengths (single-group cards are checked by length).
const CARD_LAYOUTS: [&[usize]; 4] = [&[4, 4, 4, 4], &[4, 4, 4, 4, 3], &[4, 6, 5], &[4, 6, 4]];

impl Cx<'_> {
    fn joiner(&self, i: usize) -> &[u8] {
        match (self.g.get(i), self.g.get(i + 1)) {
            (Some(a), Some(b)) => self.b.get(a.end..b.start).unwrap_or(&[]),
            _ => &[],
        }
    }

    fn len(&self, i: usize) -> usize {
        self.g.get(i).map_or(0, |g| g.end - g.start)
    }

    fn bounded(&self, start: usize, end: usize) -> bool {
        let before = start == 0 || !self.b.get(start - 1).copied().is_some_and(is_word);
        let after = !self.b.get(end).copied().is_some_and(is_word);
        before && after && !is_in_decimal(self.text, start, end)
    }

    /// Groups `i..i+n` with these lengths and one same single-byte separator from `seps`.
    fn layout(&self, i: usize, lens: &[usize], seps: &[u8]) -> Option<(usize, usize)> {
        let n = lens.len();
        if i + n > self.g.len() || (0..n).any(|k| self.len(i + k) != lens[k]) {
            return None;
        }
        let first = self.joiner(i);
        let same = (0..n.saturating_sub(1)).all(|k| self.joiner(i + k) == first);
        let ok = n == 1 || (same && first.len() == 1 && seps.contains(&first[0]));
        ok.then(|| (self.g[i].start, self.g[i + n - 1].end))
    }

    fn found(
        &self,
        kind: PiiKind,
        start: usize,
        end: usize,
        valid: fn(&str) -> bool,
    ) -> Option<PiiFinding> {
        let s = self.text.get(start..end)?;
        (self.bounded(start, end) && valid(s)).then_some(PiiFinding { kind, start, end })
    }

    fn card(&self, i: usize) -> Option<PiiFinding> {
        let after_plus = self.g[i].start > 0 && self.b.get(self.g[i].start - 1) == Some(&b'+');
        if after_plus {
            return None;
        }
        if (13..=19).contains(&self.len(i))
            && let Some(f) =
                self.found(PiiKind::CreditCard, self.g[i].start, self.g[i].end, is_card)
        {
            return Some(f);
        }
        CARD_LAYOUTS.iter().find_map(|lens| {
            let (s, e) = self.layout(i, lens, b" -")?;
            self.found(PiiKind::CreditCard, s, e, is_card)
        })
    }

    fn ssn(&self, i: usize) -> Option<PiiFinding> {
        let (s, e) = self.layout(i, &[3, 2, 4], b"-")?;
        self.found(PiiKind::NationalId, s, e, is_us_ssn)
    }

    /// `415-555-2671`, `(415) 555-2671`, `1-800-555-0199`, `212.555.0198`.
    fn nanp(&self, i: usize) -> Option<PiiFinding> {
        let prefixed = self.len(i) == 1
            && self.b.get(self.g[i].start) == Some(&b'1')
            && matches!(
                self.joiner(i),
                [b' ' | b'.' | b'-'] | [b' ' | b'.' | b'-', b'(']
            );
        let a = if prefixed { i + 1 } else { i };
        if a + 3 > self.g.len() || self.len(a) != 3 || self.len(a + 1) != 3 || self.len(a + 2) != 4
        {
            return None;
        }
        let paren = self.g[a].start > 0 && self.b.get(self.g[a].start - 1) == Some(&b'(');
        let first_ok = match self.joiner(a) {
            [b' ' | b'.' | b'-'] => true,
            [b')'] | [b')', b' '] => paren,
            _ => false,
        };
        let second_ok = matches!(self.joiner(a + 1), [b' ' | b'.' | b'-']);
        if !first_ok || !second_ok {
            return None;
        }
        let start = if prefixed {
            self.g[i].start
        } else if paren {
            self.g[a].start - 1
        } else {
            self.g[a].start
        };
        let end = self.g[a + 2].end;
        let s = self.text.get(start..end)?;
        let after_ok = !self.b.get(end).copied().is_some_and(is_word);
        let before_ok = paren && !prefixed
            || start == 0
            || !self.b.get(start - 1).copied().is_some_and(is_word);
        (before_ok && after_ok && !is_in_decimal(self.text, start, end) && is_nanp_phone(s))
            .then_some(PiiFinding {
                kind: PiiKind::Phone,
                start,
                end,
            })
    }

    /// `+44 20 7946 0958`, `+4915112345678`: a `+` right before the span.
    fn international(&self) -> Option<PiiFinding> {
        let first = self.g.first()?;
        if first.start == 0 || self.b.get(first.start - 1) != Some(&b'+') {
            return None;
        }
        let mut digits = 0;
        let mut end = first.end;
        for (k, g) in self.g.iter().enumerate() {
            let joined_ok = k == 0
                || self
                    .joiner(k - 1)
                    .iter()
                    .all(|c| matches!(c, b' ' | b'.' | b'-' | b'(' | b')'));
            if !joined_ok || digits + (g.end - g.start) > 15 {
                break;
            }
            digits += g.end - g.start;
            end = g.end;
        }
        let start = first.start - 1;
        let s = self.text.get(start..end)?;
        let after_ok = !self.b.get(end).copied().is_some_and(is_word);
        (after_ok && !is_in_decimal(self.text, start, end) && is_international_phone(s)).then_some(
            PiiFinding {
                kind: PiiKind::Phone,
                start,
                end,
            },
        )
    }

    /// `020 7946 0958`, `030 12345678`, `06 12 34 56 78`.
    fn national(&self, i: usize) -> Option<PiiFinding> {
        let g = self.g[i];
        let second = self.b.get(g.start + 1).copied().unwrap_or(b'0');
        if self.b.get(g.start) != Some(&b'0') || !(b'1'..=b'9').contains(&second) {
            return None;
        }
        if let Some((s, e)) = self.layout(i, &[2, 2, 2, 2, 2], b" .-") {
            return self.found(PiiKind::Phone, s, e, is_national_phone);
        }
        if !(3..=5).contains(&self.len(i)) || !matches!(self.joiner(i), [b' ' | b'-' | b'/']) {
            return None;
        }
        let (l1, l2) = (self.len(i + 1), self.len(i + 2));
        let end = if (3..=4).contains(&l1)
            && (3..=4).contains(&l2)
            && matches!(self.joiner(i + 1), [b' ' | b'-'])
        {
            self.g[i + 2].end
        } else if (6..=8).contains(&l1) {
            self.g[i + 1].end
        } else {
            return None;
        };
        self.found(PiiKind::Phone, g.start, end, is_national_phone)
    }
}
