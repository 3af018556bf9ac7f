//! Answer-type cues: what kind of token a question asks for (a person, a place, a date, a
//! number) and whether a unit holds one. Cheap scans of the raw text, no allocation per word.

/// What a question asks for, read from its wh-word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AnswerType {
    /// who / whom / whose.
    Person,
    /// where / what country / which city.
    Place,
    /// when / what year / what date.
    Date,
    /// how many / how much / how long / how old.
    Number,
    /// Anything else.
    Other,
}

const NUMBER_WORDS: &[&str] = &[
    "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
    "twelve", "twenty", "thirty", "forty", "fifty", "hundred", "thousand", "million", "billion",
    "dozen", "once", "twice",
];
const MONTHS: &[&str] = &[
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    "century",
];

// AnswerType
impl AnswerType {
    /// The answer type a question asks for.
    pub(crate) fn of_question(q: &str) -> AnswerType {
        let q = q.to_lowercase();
        let has = |p: &str| q.contains(p);
        if [
            "how many",
            "how much",
            "how long",
            "how old",
            "how far",
            "how tall",
            "number of",
            "percentage",
        ]
        .iter()
        .any(|p| has(p))
        {
            AnswerType::Number
        } else if has("when")
            || [
                "what year",
                "which year",
                "what date",
                "what time",
                "what century",
                "what day",
            ]
            .iter()
            .any(|p| has(p))
        {
            AnswerType::Date
        } else if q
            .split(|c: char| !c.is_alphanumeric())
            .any(|w| matches!(w, "who" | "whom" | "whose"))
        {
            AnswerType::Person
        } else if has("where")
            || [
                "what country",
                "which country",
                "what city",
                "which city",
                "what state",
                "which state",
                "what continent",
            ]
            .iter()
            .any(|p| has(p))
        {
            AnswerType::Place
        } else {
            AnswerType::Other
        }
    }
}

/// Whether `text` holds a token of the asked type that the question itself does not contain.
pub(crate) fn has_cue(kind: AnswerType, text: &str, question: &str) -> bool {
    match kind {
        AnswerType::Number => text.split_whitespace().any(|w| {
            let w = w.trim_matches(|c: char| !c.is_alphanumeric());
            w.bytes().any(|b| b.is_ascii_digit())
                || NUMBER_WORDS.contains(&w.to_ascii_lowercase().as_str())
        }),
        AnswerType::Date => text.split_whitespace().any(|w| {
            let w = w.trim_matches(|c: char| !c.is_alphanumeric());
            is_year(w) || MONTHS.contains(&w.to_ascii_lowercase().as_str())
        }),
        AnswerType::Person | AnswerType::Place => has_new_name(text, question),
        AnswerType::Other => false,
    }
}

fn is_year(w: &str) -> bool {
    let digits = w.trim_end_matches('s');
    digits.len() == 4
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits.starts_with('1') || digits.starts_with("20"))
}

/// A capitalised word after the first word that does not occur in the question.
fn has_new_name(text: &str, question: &str) -> bool {
    let q = question.to_lowercase();
    text.split_whitespace().skip(1).any(|w| {
        let w = w.trim_matches(|c: char| !c.is_alphanumeric());
        w.len() > 1
            && w.chars().next().is_some_and(char::is_uppercase)
            && !q.contains(&w.to_lowercase())
    })
}
