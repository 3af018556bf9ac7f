//! Router training on a small slice of the shared RouteLLM data (skipped when absent),
//! determinism of the artifact, and the shipped artifact and routes file.

use std::path::PathBuf;

use purser::router::{
    Classifier, LabelledRow, RouterArtifact, RoutesFile, RoutingTable, TrainOptions, load_dir,
    train_from_outcomes, train_rows,
};

fn shared_routellm() -> Option<PathBuf> {
    let base = std::env::var_os("PURSER_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    let dir = base.join("datasets/routellm");
    dir.is_dir().then_some(dir)
}

/// Every third MMLU row and every GSM8K row: small enough for a debug build.
fn slice(rows: Vec<LabelledRow>) -> Vec<LabelledRow> {
    rows.into_iter()
        .enumerate()
        .filter(|(i, r)| r.dataset != "mmlu" || i % 3 == 0)
        .map(|(_, r)| r)
        .collect()
}

#[test]
fn cross_validated_apgr_beats_random_on_shared_slice() {
    let Some(dir) = shared_routellm() else {
        eprintln!("SKIP: shared RouteLLM data not found (set PURSER_SHARED_DIR)");
        return;
    };
    let data = load_dir(&dir, None, None).unwrap();
    assert_eq!(data.columns.weak, "mistralai/Mixtral-8x7B-Instruct-v0.1");
    let rows = slice(data.rows);
    let opts = TrainOptions {
        hash_bits: 16,
        ..TrainOptions::default()
    };
    let a = train_rows(&rows, &data.columns, data.files, &opts).unwrap();
    for ds in ["mmlu", "gsm8k"] {
        let apgr = a.metadata.cv.route[ds].apgr.unwrap();
        assert!(apgr > 0.52, "{ds} route APGR {apgr} does not beat random");
    }
    let cascade = a.metadata.cv.cascade["gsm8k"].apgr.unwrap();
    assert!(cascade > 0.55, "gsm8k cascade APGR {cascade}");
}

#[test]
fn same_data_gives_same_artifact_bytes() {
    let prompts = [
        (
            "Compute the integral of x^2 from 0 to 3 and explain each step.",
            0.0,
            1.0,
        ),
        ("Write a short poem about spring.", 1.0, 1.0),
        (
            "If 3 workers build 2 walls in 5 days, how many days for 6 walls?",
            0.0,
            1.0,
        ),
        ("Say hello politely.", 1.0, 1.0),
    ];
    let examples = || {
        prompts
            .iter()
            .cycle()
            .take(40)
            .map(|(p, w, s)| ((*p).to_owned(), *w, *s))
    };
    let opts = TrainOptions {
        hash_bits: 12,
        folds: 2,
        ..TrainOptions::default()
    };
    let a = train_from_outcomes(examples(), &opts)
        .unwrap()
        .to_json()
        .unwrap();
    let b = train_from_outcomes(examples(), &opts)
        .unwrap()
        .to_json()
        .unwrap();
    assert_eq!(a, b);
    let art: RouterArtifact = serde_json::from_str(&a).unwrap();
    let clf = Classifier::from_artifact(&art).unwrap();
    assert!(
        clf.strong_probability_text("Compute the integral of x^3 and explain each step.")
            > clf.strong_probability_text("Write a short poem about autumn.")
    );
}

/// `purser train --out x.json.gz` writes gzip-compressed JSON, byte-for-byte the same on every
/// run, and the loader reads it back (and plain JSON) into the same artifact.
#[test]
fn gzip_artifact_round_trips_with_stable_bytes() {
    let examples = [
        "Compute the integral of x^2 and explain.",
        "Say hello politely.",
    ]
    .iter()
    .cycle()
    .take(20)
    .enumerate()
    .map(|(i, p)| ((*p).to_owned(), (i % 2) as f64, 1.0));
    let opts = TrainOptions {
        hash_bits: 12,
        folds: 2,
        ..TrainOptions::default()
    };
    let a = train_from_outcomes(examples, &opts).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (gz, gz2, json) = (
        dir.path().join("r.json.gz"),
        dir.path().join("r2.json.gz"),
        dir.path().join("r.json"),
    );
    let gz_len = a.write(&gz).unwrap();
    a.write(&gz2).unwrap();
    let json_len = a.write(&json).unwrap();
    assert_eq!(std::fs::read(&gz).unwrap(), std::fs::read(&gz2).unwrap());
    assert_eq!(std::fs::read(&gz).unwrap()[..2], [0x1f, 0x8b]);
    assert!(gz_len < json_len, "gzip {gz_len} bytes, json {json_len}");
    assert_eq!(RouterArtifact::read(&gz).unwrap(), a);
    assert_eq!(RouterArtifact::read(&json).unwrap(), a);
}

#[test]
fn shipped_artifact_and_default_routes_load() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("routes");
    let path = root.join("models/router-v1.json.gz");
    // The repository keeps tracked files under 2 MB; the JSON inside is ~3.2 MB.
    let size = std::fs::metadata(&path).unwrap().len();
    assert!(size <= 2 * 1024 * 1024, "artifact is {size} bytes");
    let clf = Classifier::load(&path).unwrap();
    assert!(clf.has_verifier());
    let text = std::fs::read_to_string(root.join("default.toml")).unwrap();
    let file: RoutesFile = toml::from_str(&text).unwrap();
    let table = RoutingTable::try_new(&file.route, &root).unwrap();
    assert!(table.route_names().any(|n| n == "purser/auto"));
}

/// MT Bench has no training data here: open-ended prompts are ranked by the hand prior. Proofs,
/// algorithms, maths and STEM explanations must score above writing, role play, extraction and
/// small talk, with the shipped artifact.
#[test]
fn shipped_router_ranks_open_ended_prompts_by_difficulty() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("routes/models/router-v1.json.gz");
    let clf = Classifier::load(&path).unwrap();
    let hard = [
        "Prove that there are infinitely many prime numbers.",
        "Write a Python function to find the median of two sorted arrays in O(log n) time.",
        "When a number is divided by 10, the remainder is 4. What is the remainder when twice \
         the number is divided by 4?",
        "Explain why the sky is blue, using the physics of Rayleigh scattering.",
    ];
    let easy = [
        "Write a short poem about the sea.",
        "Pretend you are a pirate and greet me in character.",
        "Compose an engaging travel blog post about a recent trip to Hawaii.",
        "Extract the names of the companies from the following news article and list them.",
        "Hi! How are you today?",
    ];
    let lowest_hard = hard
        .iter()
        .map(|p| clf.strong_probability_text(p))
        .fold(f64::INFINITY, f64::min);
    for p in easy {
        let s = clf.strong_probability_text(p);
        assert!(
            s < lowest_hard,
            "{p:?} scores {s}, above a hard prompt ({lowest_hard})"
        );
    }
}
