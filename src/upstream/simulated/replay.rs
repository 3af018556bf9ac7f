//! Replay of recorded answers from RouteLLM-style CSVs: a prompt column plus one response
//! column per model (and, when present, the model's score column: the response column's name
//! without `_response`, holding `True`/`False` or a number in [0, 1]). Loaded once at startup;
//! a missing file or column is a warning, not an error.

use std::collections::HashMap;

use crate::upstream::ReplaySettings;

/// One recorded answer.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Recorded {
    /// The response text as recorded.
    pub(super) text: String,
    /// The recorded quality score in [0, 1], when the file has one.
    pub(super) score: Option<f64>,
}

/// Recorded answers by normalised prompt, then by simulated model name.
#[derive(Debug, Default)]
pub(super) struct ReplayTable {
    by_prompt: HashMap<String, HashMap<String, Recorded>>,
}

/// Collapses all whitespace runs to one space and trims.
pub(super) fn normalise(prompt: &str) -> String {
    prompt.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn parse_score(cell: &str) -> Option<f64> {
    match cell.trim() {
        "True" | "true" => Some(1.0),
        "False" | "false" => Some(0.0),
        other => other.parse().ok().filter(|x: &f64| (0.0..=1.0).contains(x)),
    }
}

// ---- ReplayTable
impl ReplayTable {
    /// Loads every file; problems are logged as warnings and skipped.
    pub(super) fn load(files: &[ReplaySettings]) -> Self {
        let mut table = Self::default();
        for f in files {
            match table.load_file(f) {
                Ok(rows) => tracing::info!(path = %f.path, rows, "replay file loaded"),
                Err(reason) => tracing::warn!(path = %f.path, %reason, "replay file skipped"),
            }
        }
        table
    }

    fn load_file(&mut self, f: &ReplaySettings) -> Result<usize, String> {
        let mut reader = csv::Reader::from_path(&f.path).map_err(|e| e.to_string())?;
        let headers = reader.headers().map_err(|e| e.to_string())?.clone();
        let col = |name: &str| headers.iter().position(|h| h == name);
        let prompt_col = col(&f.prompt_column)
            .ok_or_else(|| format!("no prompt column {:?}", f.prompt_column))?;
        let mut models = Vec::new();
        for (model, column) in &f.responses {
            match col(column) {
                Some(i) => {
                    let score = column.strip_suffix("_response").and_then(col);
                    models.push((model.clone(), i, score));
                }
                None => tracing::warn!(path = %f.path, %column, "replay column missing"),
            }
        }
        let mut rows = 0;
        for record in reader.records() {
            let Ok(record) = record else { continue };
            let Some(prompt) = record.get(prompt_col) else {
                continue;
            };
            let entry = self.by_prompt.entry(normalise(prompt)).or_default();
            for (model, i, score) in &models {
                if let Some(text) = record.get(*i).filter(|t| !t.trim().is_empty()) {
                    let score = score.and_then(|s| record.get(s)).and_then(parse_score);
                    entry.insert(
                        model.clone(),
                        Recorded {
                            text: text.to_owned(),
                            score,
                        },
                    );
                }
            }
            rows += 1;
        }
        Ok(rows)
    }

    /// The recorded answer of `model` to `prompt`, if any.
    pub(super) fn lookup(&self, prompt: &str, model: &str) -> Option<&Recorded> {
        if self.by_prompt.is_empty() {
            return None;
        }
        self.by_prompt.get(&normalise(prompt))?.get(model)
    }

    /// Number of distinct recorded prompts.
    pub(super) fn len(&self) -> usize {
        self.by_prompt.len()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::io::Write;

    use super::*;

    fn settings(path: &str) -> ReplaySettings {
        ReplaySettings {
            path: path.to_owned(),
            prompt_column: "prompt".into(),
            responses: BTreeMap::from([
                ("weak".to_owned(), "weak_response".to_owned()),
                ("strong".to_owned(), "strong_response".to_owned()),
                ("ghost".to_owned(), "nope_response".to_owned()),
            ]),
        }
    }

    #[test]
    fn loads_rows_with_scores_and_matches_normalised_prompts() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        write!(
            f,
            "prompt,weak,strong,weak_response,strong_response\n\
             \"What is  2+2?\n\",False,True,\" 5\",4\n"
        )
        .unwrap();
        let t = ReplayTable::load(&[settings(f.path().to_str().unwrap())]);
        assert_eq!(t.len(), 1);
        let weak = t.lookup("  What is 2+2? ", "weak").unwrap();
        assert_eq!((weak.text.as_str(), weak.score), (" 5", Some(0.0)));
        assert_eq!(t.lookup("What is 2+2?", "strong").unwrap().score, Some(1.0));
        assert!(t.lookup("What is 2+2?", "ghost").is_none());
        assert!(t.lookup("What is 3+3?", "weak").is_none());
    }

    #[test]
    fn missing_file_is_not_an_error() {
        let t = ReplayTable::load(&[settings("does/not/exist.csv")]);
        assert_eq!(t.len(), 0);
    }
}
