//! Module dependencies point one way (../shared/STYLE.md §2): a module may use modules to its
//! left in `LAYERS`, never ones to its right, and modules of one layer never use each other.
//! This test reads every `crate::` path in `src/` and fails on a wrong-way dependency.
// Helpers outside #[test] functions unwrap too: a failed step should abort the test.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;

const LAYERS: &[&[&str]] = &[
    &["types", "runtime"],
    &["api"],
    &["tokenizer"],
    &["pii"],
    &["metrics"],
    &["pricing", "ledger", "cache", "compress", "upstream"],
    &["budget", "router"],
    &["report", "alert"],
    &["config"],
    &["proxy"],
    &["app"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

fn source_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            source_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Names of crate modules a source text refers to (`crate::x` and `crate::{x, y}`).
fn referenced_modules(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + 7..];
            if let Some(group) = rest.strip_prefix('{') {
                let end = group.find('}').unwrap_or(group.len());
                for part in group[..end].split(',') {
                    let name = part.trim().split("::").next().unwrap_or("").trim();
                    if !name.is_empty() {
                        out.push(name.to_owned());
                    }
                }
            } else {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                out.push(name);
            }
        }
    }
    out
}

#[test]
fn dependencies_point_one_way() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    source_files(&src, &mut files);
    let mut violations: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(&src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = first.trim_end_matches(".rs").to_owned();
        let Some(from) = layer_of(&module) else {
            continue; // lib.rs, main.rs
        };
        let text = std::fs::read_to_string(&f).unwrap();
        for used in referenced_modules(&text) {
            if used == module {
                continue;
            }
            match layer_of(&used) {
                Some(to) if to < from => {}
                Some(_) => violations
                    .entry(rel.display().to_string())
                    .or_default()
                    .push(used),
                None => {}
            }
        }
    }
    assert!(
        violations.is_empty(),
        "wrong-way dependencies: {violations:#?}"
    );
}

#[test]
fn the_scanner_sees_grouped_and_plain_paths() {
    let t =
        "use crate::{api::ChatRequest, types};\nlet x = crate::router::decide(); // crate::app\n";
    assert_eq!(referenced_modules(t), vec!["api", "types", "router"]);
}
