//! True/false positive tables for the detector, validators against naive versions, redaction.

use super::detect::{compiled_detectors, iban_ok, luhn_ok};
use super::*;

/// Texts that hold exactly one kind of finding, with the kind `scan` must report.
const POSITIVES: &[(&str, PiiKind)] = &[
    ("write to jane.doe+news@example.co.uk today", PiiKind::Email),
    ("Contact: BOB_smith@mail-server.io.", PiiKind::Email),
    ("card 4111 1111 1111 1111 exp 12/27", PiiKind::CreditCard),
    ("pay with 5500-0000-0000-0004 please", PiiKind::CreditCard),
    ("amex 378282246310005", PiiKind::CreditCard),
    ("visa:4012888888881881;", PiiKind::CreditCard),
    ("IBAN DE89 3704 0044 0532 0130 00 (Berlin)", PiiKind::Iban),
    ("to GB82WEST12345698765432 now", PiiKind::Iban),
    ("FR14 2004 1010 0505 0001 3M02 606", PiiKind::Iban),
    ("my SSN is 123-45-6789.", PiiKind::NationalId),
    ("call +1 415 555 2671 tonight", PiiKind::Phone),
    ("UK office +44 20 7946 0958", PiiKind::Phone),
    ("mobile +4915112345678", PiiKind::Phone),
    ("US: (415) 555-2671", PiiKind::Phone),
    ("fax 212.555.0198 or", PiiKind::Phone),
    ("ring 1-800-555-0199", PiiKind::Phone),
    ("London 020 7946 0958", PiiKind::Phone),
    ("Berlin 030 12345678.", PiiKind::Phone),
    ("US 1 (415) 555-2671 ext", PiiKind::Phone),
    ("FR +33 6 12 34 56 78", PiiKind::Phone),
    ("SSN: 078-05-1120; thanks", PiiKind::NationalId),
    ("Mastercard 5105 1051 0510 5100", PiiKind::CreditCard),
    ("Paris 06 12 34 56 78", PiiKind::Phone),
    ("key sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv", PiiKind::ApiKey),
    (
        "OPENAI_API_KEY=sk-1234567890abcdefghijKLMN",
        PiiKind::ApiKey,
    ),
    ("aws AKIAIOSFODNN7EXAMPLE id", PiiKind::ApiKey),
    (
        "token ghp_aBcD1234eFgH5678iJkL9012mNoP3456qRsT ok",
        PiiKind::ApiKey,
    ),
    ("slack xoxb-1234567890-abcdefghij", PiiKind::ApiKey),
    ("AIzaSyA1234567890abcdefghijklmnopqrstuv", PiiKind::ApiKey),
    (
        "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        PiiKind::Jwt,
    ),
    (
        "Authorization: Bearer a1b2c3d4e5f6g7h8i9j0k1l2",
        PiiKind::BearerToken,
    ),
    (
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----",
        PiiKind::PrivateKey,
    ),
];

/// Ordinary text with numbers, dates, maths and near-misses: no finding allowed.
const NEGATIVES: &[&str] = &[
    "The year 2024 had 366 days and 52 weeks.",
    "Meet at 10:30 on 2024-01-15, or 15/01/2024.",
    "ISO time 2024-01-15T10:30:00Z and epoch 1705314600",
    "pi is 3.14159265358979323846 and e is 2.718281828459045",
    "x = 12345 * 67890 = 838102050",
    "Order #4111111111111112 shipped",
    "Amounts: 200 300 400 500 600 700",
    "1,234,567.89 USD across 1234567 rows",
    "version 1.2.3, build 20240115, IP 192.168.100.200",
    "ssh git@localhost and icon@2x.png and @property",
    "UUID 550e8400-e29b-41d4-a716-446655440000",
    "sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "the bearer of bad news, the bearer instruments market",
    "use sk-learn, a task-force and the skeleton-key-pattern-for-everything",
    "SSN-like 000-12-3456 and 666-12-3456 and 900-12-3456 are invalid",
    "ISBN 978-3-16-148410-0",
    "5 + 3 = 8 and 10 - 2 = 8; +12 degrees",
    "matrix [[1, 2, 3], [4, 5, 6], [7, 8, 9]]",
    "phone field is empty: (000) 000-0000",
    "invoice 2024-000123-0042 for 1200 units",
    "DE00 1234 5678 9012 3456 78 is not a valid IBAN",
    "card 4111 1111 1111 1112 fails Luhn",
    "ids id4111111111111111x and 4111111111111111abc are glued to words",
    "table: 2024-01-15 12345 2024-02-16 67890 3.5 4.25 1000000",
    "coords 48.858844, 2.294351 and 40.689247,-74.044502",
    "ratio 1/2/3/4/5/6/7/8 and range 10-20-30-40",
];

#[test]
fn every_pattern_compiles() {
    let (compiled, specified) = compiled_detectors();
    assert_eq!(compiled, specified);
}

#[test]
fn positives_are_found_with_their_kind() {
    for (text, kind) in POSITIVES {
        assert_eq!(scan(text), Some(*kind), "text: {text}");
    }
}

#[test]
fn negatives_are_not_flagged() {
    for text in NEGATIVES {
        assert_eq!(
            scan(text),
            None,
            "text: {text} findings: {:?}",
            find_all(text)
        );
    }
}

#[test]
fn redact_replaces_each_finding_with_its_placeholder() {
    for (text, kind) in POSITIVES {
        let out = redact(text);
        assert!(out.contains(kind.placeholder()), "{text} -> {out}");
        assert_eq!(scan(&out), None, "{text} -> {out}");
    }
    let mixed = "mail a@b.io, card 4111111111111111, call +44 20 7946 0958.";
    assert_eq!(redact(mixed), "mail [EMAIL], card [CARD], call [PHONE].");
}

#[test]
fn redact_leaves_clean_text_unchanged() {
    for text in NEGATIVES {
        assert_eq!(redact(text), *text);
    }
}

#[test]
fn findings_do_not_overlap_and_are_sorted() {
    let text = "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abcdefghijkl1234 and x@y.org";
    let found = find_all(text);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found.windows(2).all(|w| w[0].end <= w[1].start));
    assert_eq!(found[1].kind, PiiKind::Email);
}

#[test]
fn finding_in_the_middle_of_a_long_text_is_found() {
    let mut text = "lorem ipsum dolor sit amet 12 34 ".repeat(500);
    text.push_str(" reach me at someone@corp.example ");
    text.push_str(&"consectetur 2024-01-01 ".repeat(200));
    assert_eq!(scan(&text), Some(PiiKind::Email));
}

#[test]
fn non_ascii_text_is_scanned_safely() {
    assert_eq!(
        scan("Grüße aus Köln, Tel. +49 221 1234567 — danke"),
        Some(PiiKind::Phone)
    );
    assert_eq!(scan("日本語のテキスト 2024年1月15日"), None);
    assert_eq!(
        redact("名前: 山田 mail: yamada@example.jp"),
        "名前: 山田 mail: [EMAIL]"
    );
}

fn naive_luhn(number: &str) -> bool {
    let mut sum = 0;
    let mut double = false;
    for c in number.chars().rev() {
        let mut d = c.to_digit(10).unwrap();
        if double {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
        double = !double;
    }
    sum % 10 == 0
}

fn naive_iban(compact: &str) -> bool {
    let rotated = format!("{}{}", &compact[4..], &compact[..4]);
    let numeric: String = rotated
        .chars()
        .map(|c| c.to_digit(36).unwrap().to_string())
        .collect();
    // Big-number mod 97 by chunks of 9 digits, the textbook way.
    let mut rem = String::new();
    for chunk in numeric.as_bytes().chunks(7) {
        rem.push_str(std::str::from_utf8(chunk).unwrap());
        let n: u64 = rem.parse().unwrap();
        rem = (n % 97).to_string();
    }
    rem == "1"
}

proptest::proptest! {
    #[test]
    fn luhn_matches_naive(number in "[0-9]{13,19}") {
        let ds: Vec<u8> = number.bytes().map(|b| b - b'0').collect();
        proptest::prop_assert_eq!(luhn_ok(&ds), naive_luhn(&number));
    }

    #[test]
    fn iban_matches_naive(body in "[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}") {
        proptest::prop_assert_eq!(iban_ok(&body), naive_iban(&body));
    }

    #[test]
    fn scan_agrees_with_find_all(text in "[ -~]{0,200}") {
        proptest::prop_assert_eq!(scan(&text).is_some(), !find_all(&text).is_empty());
    }
}
