//! Unit tests of the compression internals.

use super::text::{sentences, split_question};

#[test]
fn sentence_split_keeps_initials_and_abbreviations_together() {
    let t = "J. K. Rowling wrote it in 1997. Dr. Smith disagreed! Was it the U.S. edition? Yes.";
    let s = sentences(t, 0..t.len(), 0);
    let parts: Vec<&str> = s.iter().map(|r| &t[r.clone()]).collect();
    assert_eq!(
        parts,
        vec![
            "J. K. Rowling wrote it in 1997.",
            "Dr. Smith disagreed!",
            "Was it the U.S. edition?",
            "Yes."
        ]
    );
}

#[test]
fn rag_prompt_splits_into_documents_and_question() {
    let mut t = String::from("Answer using the documents.\n\n");
    for i in 1..=8 {
        t.push_str(&format!("Document [{i}](Title: Band (music {i})) First sentence number {i} is here and long enough. Second one follows with more words in it.\n"));
    }
    t.push_str("\nQuestion: who formed the band\nAnswer:");
    let l = split_question(&t);
    assert_eq!(&t[l.head.clone()], "Answer using the documents.");
    assert_eq!(l.blocks.len(), 8);
    assert_eq!(&t[l.tail.clone()], "Question: who formed the band\nAnswer:");
    let b = &l.blocks[2];
    assert_eq!(&t[b.title.clone().unwrap()], "Band (music 3)");
    assert_eq!(
        &t[b.label.clone().unwrap()],
        "Document [3](Title: Band (music 3))"
    );
    assert_eq!(b.sentences.len(), 2);
}

/// Full-set tuning run: `PURSER_COMPRESS_WEIGHTS="sent,doc,title,coverage,cue,lead"`,
/// `PURSER_COMPRESS_HALF=even|odd|all`, `PURSER_COMPRESS_WINDOW=n`.
#[test]
#[ignore = "slow: scores the whole public half; run in release for tuning"]
fn tune_on_public_half() {
    use super::eval::{default_data_dir, evaluate, load_items};
    use super::rank::Weights;
    use super::{Compressor, Mode, MokaSummaryStore, Settings};
    let Ok(items) = load_items(&default_data_dir(), None) else {
        eprintln!("SKIP: nq-multidoc not found");
        return;
    };
    let half = std::env::var("PURSER_COMPRESS_HALF").unwrap_or_else(|_| "all".into());
    let items: Vec<_> = items
        .into_iter()
        .enumerate()
        .filter(|(i, _)| match half.as_str() {
            "even" => i % 2 == 0,
            "odd" => i % 2 == 1,
            _ => true,
        })
        .map(|x| x.1)
        .collect();
    let mut w = Weights::default();
    if let Ok(s) = std::env::var("PURSER_COMPRESS_WEIGHTS") {
        let v: Vec<f64> = s.split(',').map(|x| x.parse().unwrap()).collect();
        w = Weights {
            sent: v[0],
            doc: v[1],
            title: v[2],
            coverage: v[3],
            cue: v[4],
            lead: v[5],
            phrase: v[6],
            token_margin: 1.0,
        };
    }
    let window = std::env::var("PURSER_COMPRESS_WINDOW")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let env_usize = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(d)
    };
    let settings = Settings {
        mode: Mode::Retrieval,
        threshold_tokens: 0,
        context_window: window,
        min_unit_words: env_usize("PURSER_COMPRESS_MIN", 6),
        max_unit_words: env_usize("PURSER_COMPRESS_MAX", 30),
        ..Settings::default()
    };
    let c = Compressor::try_new(settings, std::sync::Arc::new(MokaSummaryStore::new(4)))
        .unwrap()
        .with_weights(w);
    if let Ok(r) = std::env::var("PURSER_COMPRESS_DUMP") {
        dump_failures(&c, &items, r.parse().unwrap());
        return;
    }
    let ratios: Vec<f64> = std::env::var("PURSER_COMPRESS_RATIOS")
        .map(|s| s.split(',').map(|x| x.parse().unwrap()).collect())
        .unwrap_or_else(|_| vec![2.0, 4.0, 8.0]);
    for r in ratios {
        let rep = evaluate(&c, &items, r).unwrap();
        eprintln!(
            "{half} w={w:?} win={window} min={} max={} r={r}: mean {:.2} med {:.2} min {:.2} ans {:.3} gold {:.3} q {:.3}",
            c.settings().min_unit_words,
            c.settings().max_unit_words,
            rep.mean_ratio,
            rep.median_ratio,
            rep.min_ratio,
            rep.answer_retention,
            rep.gold_retention,
            rep.question_kept
        );
    }
}

fn dump_failures(c: &super::Compressor, items: &[super::eval::EvalItem], ratio: f64) {
    use super::eval::{answer_retained, request_text};
    use std::io::Write;
    let mut f = std::fs::File::create("/tmp/compress_failures.txt").unwrap();
    for it in items {
        let out = c
            .compress_to(&it.request, super::Target::Ratio(ratio))
            .unwrap();
        let after = request_text(&out.request);
        if !answer_retained(&after, &it.question, &it.answers) {
            let first = it
                .gold_text
                .split_whitespace()
                .take(6)
                .collect::<Vec<_>>()
                .join(" ");
            let gold_in = after.contains(&first);
            writeln!(
                f,
                "Q: {}\nA: {:?}\nGOLD_LEAD_KEPT: {gold_in}\nGOLD: {}\nKEPT:\n{}\n-----",
                it.question, it.answers, it.gold_text, after
            )
            .unwrap();
        }
    }
}
