//! Context compression in the pipeline: a long RAG prompt reaches the upstream shrunk with its
//! question intact, the saving is in headers, ledger and metrics, and both opt-outs work.
// Helpers outside #[test] functions unwrap too: a failed step should abort the test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{FakeUpstream, Gateway, chat_body};
use serde_json::Value;

fn rag_prompt() -> String {
    let topics = [
        "volcano",
        "glacier",
        "harbour",
        "orchard",
        "railway",
        "cathedral",
        "desert",
        "reef",
        "canyon",
        "meadow",
        "lighthouse",
        "monastery",
        "vineyard",
        "observatory",
        "fortress",
        "lagoon",
        "prairie",
        "quarry",
        "tundra",
        "delta",
    ];
    let mut s = String::from(
        "Write a high-quality answer for the given question using only the provided search results (some of which might be irrelevant).\n\n",
    );
    for (i, t) in topics.iter().enumerate() {
        s.push_str(&format!("Document [{}](Title: The {t}) ", i + 1));
        for j in 0..12 {
            s.push_str(&format!(
                "The {t} region has feature number {j} described in plain words for readers. "
            ));
        }
        if *t == "lighthouse" {
            s.push_str("The lighthouse keeper in 1887 was Ada Quill, who kept the lamp burning. ");
        }
        s.push('\n');
    }
    s.push_str("\nQuestion: who was the lighthouse keeper in 1887?\nAnswer:");
    s
}

#[tokio::test]
async fn long_rag_prompt_is_compressed_before_the_upstream() {
    let up = FakeUpstream::start().await;
    let mut gw = Gateway::start(Some(&up), "").await;
    let prompt = rag_prompt();
    let r = gw
        .post("/v1/chat/completions", chat_body("fake-primary", &prompt))
        .await;
    assert_eq!(r.status(), 200);
    let before: u64 = r.headers()["x-purser-tokens-before"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let after: u64 = r.headers()["x-purser-tokens-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(after * 3 < before, "before {before} after {after}");
    let sent = up.bodies()[0]["messages"][0]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(sent.len() * 3 < prompt.len());
    assert!(sent.contains("Question: who was the lighthouse keeper in 1887?"));
    assert!(sent.contains("Ada Quill"), "the answer was dropped: {sent}");

    // Opt-out per request.
    let r = gw
        .client
        .post(gw.url("/v1/chat/completions"))
        .header("x-purser-compress", "off")
        .json(&chat_body("fake-primary", &prompt))
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("x-purser-tokens-after").is_none());
    assert_eq!(
        up.bodies()[1]["messages"][0]["content"].as_str().unwrap(),
        prompt
    );
    let metrics = gw.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("purser_compression_saved_tokens_total{workflow=\"default\"}"));
    gw.stop().await;
    let recs = gw.requests();
    let rec = &recs[0];
    assert_eq!(rec["compression"]["tokens_before"].as_u64(), Some(before));
    assert!(rec["compression"]["saved_micros"].as_i64().unwrap() > 0);
    // The budget reservation is sized on what is sent (the compressed prompt), not the original.
    let reserved = |r: &Value| r["budget"]["reserved_micros"].as_i64().unwrap();
    assert!(
        reserved(&recs[0]) < reserved(&recs[1]),
        "compressed {} vs original {}",
        reserved(&recs[0]),
        reserved(&recs[1])
    );
}

#[tokio::test]
async fn a_workflow_can_turn_compression_off() {
    let up = FakeUpstream::start().await;
    let extra = "[[budget.workflows]]\nname = \"verbatim\"\n";
    let mut gw = Gateway::start(Some(&up), extra).await;
    let routes = gw.dir.path().join("routes/verbatim.toml");
    std::fs::write(
        &routes,
        "[workflow.verbatim]\ncompress = { mode = \"off\" }\n",
    )
    .unwrap();
    gw.stop().await;
    // Restart to read the new routes file (hot reload is tested elsewhere).
    let cfg = gw.dir.path().join("purser.toml");
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("[[budget.workflows]]\nname = \"verbatim\"\n", "");
    std::fs::write(&cfg, text).unwrap();
    let dir = std::mem::replace(&mut gw.dir, tempfile::tempdir().unwrap());
    let mut gw = Gateway::start_with(dir, cfg).await;
    let prompt = rag_prompt();
    let r = gw
        .client
        .post(gw.url("/v1/chat/completions"))
        .header("x-purser-workflow", "verbatim")
        .json(&chat_body("fake-primary", &prompt))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = up.bodies().last().unwrap().clone();
    assert_eq!(v["messages"][0]["content"].as_str().unwrap(), prompt);
    gw.stop().await;
}
