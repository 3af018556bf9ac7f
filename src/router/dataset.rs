//! Labelled data in RouteLLM's CSV layout: every `*.csv` below a folder, a `prompt` column, model
//! score columns (`True`/`False` or a number in [0, 1]) and optional `<model>_response` columns.
//! The data set of a row is the first folder below the root (`mmlu`, `gsm8k`, ...).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::Error;

/// One labelled prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelledRow {
    /// Data set name (first folder below the data root, or the file stem at the root).
    pub dataset: String,
    /// Finer group: the file it came from (e.g. one MMLU subject), relative to the root.
    pub group: String,
    /// The prompt text.
    pub prompt: String,
    /// Quality of the weak (cheap) model in [0, 1].
    pub weak: f64,
    /// Quality of the strong model in [0, 1].
    pub strong: f64,
    /// The weak model's answer, when the data has it.
    pub weak_response: Option<String>,
    /// The strong model's answer, when the data has it.
    pub strong_response: Option<String>,
}

/// Which score columns are the weak and strong model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelColumns {
    /// Weak (cheap) model column.
    pub weak: String,
    /// Strong model column.
    pub strong: String,
}

/// Rows plus the columns they were read from.
#[derive(Debug, Clone)]
pub struct LabelledData {
    /// All rows, in file-name order then row order.
    pub rows: Vec<LabelledRow>,
    /// The columns used.
    pub columns: ModelColumns,
    /// Number of CSV files read.
    pub files: usize,
}

/// Parses a score cell: `True`/`False` (any case), `1`/`0`, or a number in [0, 1].
pub(crate) fn parse_score(cell: &str) -> Option<f64> {
    let t = cell.trim();
    match t.to_ascii_lowercase().as_str() {
        "true" => Some(1.0),
        "false" => Some(0.0),
        _ => t.parse::<f64>().ok().filter(|v| (0.0..=1.0).contains(v)),
    }
}

fn csv_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), Error> {
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Io {
        path: dir.display().to_string(),
        source,
    })?;
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            csv_files(&p, out)?;
        } else if p.extension().is_some_and(|e| e == "csv") {
            out.push(p);
        }
    }
    Ok(())
}

fn dataset_name(root: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(root).unwrap_or(file);
    let mut parts = rel.components();
    match (parts.next(), parts.next()) {
        (Some(first), Some(_)) => first.as_os_str().to_string_lossy().into_owned(),
        _ => rel
            .file_stem()
            .map_or_else(String::new, |s| s.to_string_lossy().into_owned()),
    }
}

struct Table {
    dataset: String,
    group: String,
    headers: Vec<String>,
    records: Vec<csv::StringRecord>,
}

fn read_table(root: &Path, file: &Path) -> Result<Table, Error> {
    let bad = |e: csv::Error| Error::Data {
        path: file.display().to_string(),
        message: e.to_string(),
    };
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(file)
        .map_err(bad)?;
    let headers = rdr
        .headers()
        .map_err(bad)?
        .iter()
        .map(str::to_owned)
        .collect();
    let records = rdr.records().collect::<Result<Vec<_>, _>>().map_err(bad)?;
    Ok(Table {
        dataset: dataset_name(root, file),
        group: file
            .strip_prefix(root)
            .unwrap_or(file)
            .to_string_lossy()
            .into_owned(),
        headers,
        records,
    })
}

/// Score columns of a table with their mean (all non-empty cells parse as scores).
fn score_columns(t: &Table) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    for (i, h) in t.headers.iter().enumerate() {
        if h == "prompt" || h.ends_with("_response") || h.is_empty() {
            continue;
        }
        let cells: Vec<&str> = t.records.iter().filter_map(|r| r.get(i)).collect();
        let scores: Option<Vec<f64>> = cells
            .iter()
            .filter(|c| !c.trim().is_empty())
            .map(|c| parse_score(c))
            .collect();
        if let Some(s) = scores.filter(|s| !s.is_empty()) {
            out.push((h.clone(), s.iter().sum::<f64>() / s.len() as f64));
        }
    }
    out
}

/// Picks the weak and strong columns: the flags when given, else the only two score columns
/// (the one with the lower mean score is the weak model).
fn choose_columns(
    tables: &[Table],
    weak: Option<&str>,
    strong: Option<&str>,
) -> Result<ModelColumns, Error> {
    let mut means: BTreeMap<String, (f64, usize)> = BTreeMap::new();
    for t in tables {
        for (name, mean) in score_columns(t) {
            let e = means.entry(name).or_insert((0.0, 0));
            e.0 += mean;
            e.1 += 1;
        }
    }
    let mut found: Vec<(String, f64)> = means
        .into_iter()
        .map(|(k, (s, n))| (k, s / n as f64))
        .collect();
    found.sort_by(|a, b| a.1.total_cmp(&b.1));
    let names: Vec<String> = found.iter().map(|f| f.0.clone()).collect();
    match (weak, strong) {
        (Some(w), Some(s)) => Ok(ModelColumns {
            weak: w.to_owned(),
            strong: s.to_owned(),
        }),
        (Some(w), None) if found.len() == 2 => Ok(ModelColumns {
            weak: w.to_owned(),
            strong: names.iter().find(|n| *n != w).cloned().unwrap_or_default(),
        }),
        (None, Some(s)) if found.len() == 2 => Ok(ModelColumns {
            weak: names.iter().find(|n| *n != s).cloned().unwrap_or_default(),
            strong: s.to_owned(),
        }),
        (None, None) if found.len() == 2 => Ok(ModelColumns {
            weak: found[0].0.clone(),
            strong: found[1].0.clone(),
        }),
        _ => Err(Error::Columns { found: names }),
    }
}

fn rows_of(t: &Table, cols: &ModelColumns, out: &mut Vec<LabelledRow>) {
    let idx = |name: &str| t.headers.iter().position(|h| h == name);
    let (Some(p), Some(w), Some(s)) = (idx("prompt"), idx(&cols.weak), idx(&cols.strong)) else {
        return;
    };
    let wr = idx(&format!("{}_response", cols.weak));
    let sr = idx(&format!("{}_response", cols.strong));
    for r in &t.records {
        let (Some(prompt), Some(weak), Some(strong)) = (
            r.get(p),
            r.get(w).and_then(parse_score),
            r.get(s).and_then(parse_score),
        ) else {
            continue;
        };
        out.push(LabelledRow {
            dataset: t.dataset.clone(),
            group: t.group.clone(),
            prompt: prompt.to_owned(),
            weak,
            strong,
            weak_response: wr.and_then(|i| r.get(i)).map(str::to_owned),
            strong_response: sr.and_then(|i| r.get(i)).map(str::to_owned),
        });
    }
}

/// Reads every CSV below `dir`.
///
/// Errors: unreadable files, malformed CSV, no rows, or ambiguous model columns without flags.
pub fn load_dir(
    dir: &Path,
    weak: Option<&str>,
    strong: Option<&str>,
) -> Result<LabelledData, Error> {
    let mut files = Vec::new();
    csv_files(dir, &mut files)?;
    let tables = files
        .iter()
        .map(|f| read_table(dir, f))
        .collect::<Result<Vec<_>, _>>()?;
    let columns = choose_columns(&tables, weak, strong)?;
    let mut rows = Vec::new();
    for t in &tables {
        rows_of(t, &columns, &mut rows);
    }
    if rows.is_empty() {
        return Err(Error::NoData {
            path: dir.display().to_string(),
        });
    }
    Ok(LabelledData {
        rows,
        columns,
        files: files.len(),
    })
}

/// Groups row indices by data set, in name order.
pub(crate) fn by_dataset(rows: &[LabelledRow]) -> BTreeMap<String, Vec<usize>> {
    let mut out: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, r) in rows.iter().enumerate() {
        out.entry(r.dataset.clone()).or_default().push(i);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loader_detects_columns_and_datasets() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("maths");
        std::fs::create_dir(&sub).unwrap();
        std::fs::write(
            sub.join("a.csv"),
            "prompt,big,small,small_response\n\"What is 2+2?\",True,False,5\nhi,True,True,hello\n",
        )
        .unwrap();
        let d = load_dir(dir.path(), None, None).unwrap();
        assert_eq!(d.columns.weak, "small");
        assert_eq!(d.columns.strong, "big");
        assert_eq!(d.rows.len(), 2);
        assert_eq!(d.rows[0].dataset, "maths");
        assert_eq!(d.rows[0].weak_response.as_deref(), Some("5"));
        assert_eq!(parse_score("0.35"), Some(0.35));
        assert_eq!(parse_score("1.5"), None);
    }
}
