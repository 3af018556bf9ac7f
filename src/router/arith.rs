//! Arithmetic and consistency checks on a model's answer: GSM8K-style `<<a*b=c>>` annotations,
//! inline "a op b = c" statements, and the shape of the final answer. Pure text functions.

use std::sync::LazyLock;

use regex::Regex;

/// What the checks found in one answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ArithChecks {
    /// Statements and annotations that could be evaluated.
    pub checked: usize,
    /// Of those, how many were wrong.
    pub failed: usize,
    /// The answer ends with a `#### N` marker.
    pub final_marker: bool,
    /// The final number has a fractional part.
    pub final_non_integer: bool,
    /// The final number is negative.
    pub final_negative: bool,
    /// The final number also appears in the prompt (often a copied, not computed, value).
    pub final_in_prompt: bool,
    /// The answer holds no number at all.
    pub final_missing: bool,
}

// Immutable compiled patterns (allowed by STYLE: no mutable statics).
static ANNOTATION: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"<<([^=<>]{1,200})=([^<>]{1,60})>>").ok());
static STATEMENT: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(
        r"(\(?\$?\d[\d,]*(?:\.\d+)?%?\)?(?:\s*[-+*/×÷x]\s*\(?\$?\d[\d,]*(?:\.\d+)?%?\)?)+)\s*=\s*\$?\s*(-?\d[\d,]*(?:\.\d+)?)",
    )
    .ok()
});
static NUMBER: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"-?\d[\d,]*(?:\.\d+)?").ok());
static FINAL: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"####\s*\$?\s*(-?\d[\d,]*(?:\.\d+)?)").ok());

/// Parses a number written with thousands separators, `$` or a trailing `%` (as a fraction of 100
/// only when `percent_as_fraction`).
fn parse_number(s: &str) -> Option<f64> {
    let cleaned: String = s
        .chars()
        .filter(|c| !matches!(c, ',' | '$' | ' '))
        .collect();
    cleaned.trim_end_matches('%').parse().ok()
}

/// A tiny recursive-descent evaluator for `+ - * / x × ÷` and parentheses.
struct Expr<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
}

impl Expr<'_> {
    fn skip_ws(&mut self) {
        while self
            .chars
            .peek()
            .is_some_and(|c| c.is_whitespace() || matches!(c, '$' | ','))
        {
            self.chars.next();
        }
    }

    fn sum(&mut self) -> Option<f64> {
        let mut v = self.product()?;
        loop {
            self.skip_ws();
            match self.chars.peek() {
                Some('+') => {
                    self.chars.next();
                    v += self.product()?;
                }
                Some('-') => {
                    self.chars.next();
                    v -= self.product()?;
                }
                _ => return Some(v),
            }
        }
    }

    fn product(&mut self) -> Option<f64> {
        let mut v = self.atom()?;
        loop {
            self.skip_ws();
            match self.chars.peek() {
                Some('*' | 'x' | '×') => {
                    self.chars.next();
                    v *= self.atom()?;
                }
                Some('/' | '÷') => {
                    self.chars.next();
                    let d = self.atom()?;
                    if d == 0.0 {
                        return None;
                    }
                    v /= d;
                }
                _ => return Some(v),
            }
        }
    }

    fn atom(&mut self) -> Option<f64> {
        self.skip_ws();
        match self.chars.peek() {
            Some('(') => {
                self.chars.next();
                let v = self.sum()?;
                self.skip_ws();
                (self.chars.next() == Some(')')).then_some(v)
            }
            Some('-') => {
                self.chars.next();
                self.atom().map(|v| -v)
            }
            _ => {
                let mut s = String::new();
                while let Some(c) = self.chars.peek().copied() {
                    if c.is_ascii_digit() || c == '.' || c == ',' {
                        s.push(c);
                        self.chars.next();
                    } else {
                        break;
                    }
                }
                let v = parse_number(s.trim_end_matches('.'))?;
                if self.chars.peek() == Some(&'%') {
                    self.chars.next();
                    return Some(v / 100.0);
                }
                Some(v)
            }
        }
    }
}

/// Evaluates an arithmetic expression; `None` when it does not parse completely.
pub fn evaluate(expr: &str) -> Option<f64> {
    let mut e = Expr {
        chars: expr.chars().peekable(),
    };
    let v = e.sum()?;
    e.skip_ws();
    (e.chars.next().is_none() && v.is_finite()).then_some(v)
}

/// Whether `claimed` matches `actual` up to rounding (1% or 0.011 absolute, whichever is larger).
fn is_close(actual: f64, claimed: f64) -> bool {
    let tol = (actual.abs() * 0.01).max(0.011);
    (actual - claimed).abs() <= tol
        // "20% of 50 = 10" written as 0.2*50: accept a claimed value scaled by 100.
        || (actual * 100.0 - claimed).abs() <= tol * 100.0
}

fn check_pairs(re: &Regex, text: &str, out: &mut ArithChecks) {
    for cap in re.captures_iter(text) {
        let (Some(lhs), Some(rhs)) = (cap.get(1), cap.get(2)) else {
            continue;
        };
        let (Some(actual), Some(claimed)) = (evaluate(lhs.as_str()), parse_number(rhs.as_str()))
        else {
            continue;
        };
        out.checked += 1;
        if !is_close(actual, claimed) {
            out.failed += 1;
        }
    }
}

/// Runs every check on `answer` to the question `prompt`.
pub fn check_answer(prompt: &str, answer: &str) -> ArithChecks {
    let mut out = ArithChecks::default();
    if let Some(re) = ANNOTATION.as_ref() {
        check_pairs(re, answer, &mut out);
    }
    // Strip annotations so their inner "a*b=c" is not read again as a statement.
    let plain = ANNOTATION.as_ref().map_or_else(
        || answer.to_owned(),
        |re| re.replace_all(answer, " ").into_owned(),
    );
    if let Some(re) = STATEMENT.as_ref() {
        check_pairs(re, &plain, &mut out);
    }
    let marked = FINAL
        .as_ref()
        .and_then(|re| re.captures_iter(answer).last())
        .and_then(|c| c.get(1).map(|m| m.as_str().to_owned()));
    out.final_marker = marked.is_some();
    let last = marked.or_else(|| {
        NUMBER
            .as_ref()
            .and_then(|re| re.find_iter(answer).last())
            .map(|m| m.as_str().to_owned())
    });
    match last.as_deref().and_then(parse_number) {
        None => out.final_missing = true,
        Some(v) => {
            out.final_non_integer = v.fract().abs() > 1e-9;
            out.final_negative = v < 0.0;
            out.final_in_prompt = NUMBER.as_ref().is_some_and(|re| {
                re.find_iter(prompt)
                    .filter_map(|m| parse_number(m.as_str()))
                    .any(|p| (p - v).abs() < 1e-9)
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evaluator_respects_precedence_and_parentheses() {
        assert_eq!(evaluate("2+3*4"), Some(14.0));
        assert_eq!(evaluate("(2+3)*4"), Some(20.0));
        assert_eq!(evaluate("1,200 / 4"), Some(300.0));
        assert_eq!(evaluate("2 +"), None);
        assert_eq!(evaluate("5/0"), None);
    }

    #[test]
    fn wrong_annotation_and_statement_are_counted() {
        let a = "He pays 3*4 = <<3*4=13>>13 dollars. Then 10 + 5 = 15.\n#### 13";
        let c = check_answer("How much?", a);
        // The annotation and the sentence around it ("3*4 = 13") are both claims.
        assert_eq!(c.checked, 3);
        assert_eq!(c.failed, 2);
        assert!(c.final_marker);
        assert!(!c.final_non_integer);
    }

    #[test]
    fn correct_answer_has_no_failures_and_flags_fractional_final() {
        let c = check_answer("Split 5 apples in 2", "5 / 2 = 2.5 apples each");
        assert_eq!((c.checked, c.failed), (1, 0));
        assert!(c.final_non_integer);
        assert!(!c.final_missing);
        assert!(check_answer("q", "no numbers here").final_missing);
    }
}
