//! Sentence BM25 from a per-request in-RAM tantivy index (nothing on disk). Slower than the
//! direct scorer in `rank` because of index and writer setup; kept to measure that trade-off.

use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, Occur, Query, TermQuery};
use tantivy::schema::{FAST, IndexRecordOption, Schema, TextFieldIndexing, TextOptions};
use tantivy::{Index, IndexWriter, TantivyDocument, Term};

use super::Error;
use super::rank::Analyzer;

const TOKENIZER: &str = "purser_en";
/// tantivy's minimum writer arena.
const WRITER_MEMORY: usize = 15_000_000;

fn index_err(e: impl std::fmt::Display) -> Error {
    Error::Index {
        reason: e.to_string(),
    }
}

/// BM25 score of every text for the query (0 for texts matching no term).
pub(crate) fn index_scores(
    analyzer: &Analyzer,
    query: &str,
    texts: &[&str],
) -> Result<Vec<f64>, Error> {
    let mut sb = Schema::builder();
    let indexing = TextFieldIndexing::default()
        .set_tokenizer(TOKENIZER)
        .set_index_option(IndexRecordOption::WithFreqs);
    let body = sb.add_text_field(
        "body",
        TextOptions::default().set_indexing_options(indexing),
    );
    let unit = sb.add_u64_field("unit", FAST);
    let index = Index::create_in_ram(sb.build());
    index
        .tokenizers()
        .register(TOKENIZER, analyzer.text_analyzer());
    let mut writer: IndexWriter = index
        .writer_with_num_threads(1, WRITER_MEMORY)
        .map_err(index_err)?;
    for (i, t) in texts.iter().enumerate() {
        let mut doc = TantivyDocument::default();
        doc.add_text(body, t);
        doc.add_u64(unit, i as u64);
        writer.add_document(doc).map_err(index_err)?;
    }
    writer.commit().map_err(index_err)?;
    let searcher = index.reader().map_err(index_err)?.searcher();
    let mut terms = analyzer.vocab().term_strings(query);
    terms.sort();
    terms.dedup();
    let clauses: Vec<(Occur, Box<dyn Query>)> = terms
        .iter()
        .map(|t| {
            let q = TermQuery::new(Term::from_field_text(body, t), IndexRecordOption::WithFreqs);
            (Occur::Should, Box::new(q) as Box<dyn Query>)
        })
        .collect();
    let mut scores = vec![0.0; texts.len()];
    if clauses.is_empty() || texts.is_empty() {
        return Ok(scores);
    }
    let top = searcher
        .search(
            &BooleanQuery::new(clauses),
            &TopDocs::with_limit(texts.len()),
        )
        .map_err(index_err)?;
    for (score, addr) in top {
        let seg = searcher.segment_reader(addr.segment_ord);
        let col = seg.fast_fields().u64("unit").map_err(index_err)?;
        let unit = col.first(addr.doc_id).and_then(|i| usize::try_from(i).ok());
        if let Some(s) = unit.and_then(|i| scores.get_mut(i)) {
            *s = f64::from(score);
        }
    }
    Ok(scores)
}
