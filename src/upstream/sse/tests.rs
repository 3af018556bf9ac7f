use std::convert::Infallible;

use super::*;

fn decode_all(parts: &[&[u8]]) -> Vec<String> {
    let mut d = SseDecoder::default();
    let mut out = VecDeque::new();
    for p in parts {
        d.push(p, &mut out);
    }
    d.finish(&mut out);
    out.into()
}

fn chunk_json(text: &str) -> String {
    format!(
        r#"{{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{{"index":0,"delta":{{"content":"{text}"}},"finish_reason":null}}]}}"#
    )
}

#[test]
fn events_survive_every_split_point() {
    let body = format!(
        "data: {}\n\n: keep-alive\n\ndata: {}\r\n\r\ndata: [DONE]\n\n",
        chunk_json("héllo"),
        chunk_json("wörld")
    );
    let bytes = body.as_bytes();
    let whole = decode_all(&[bytes]);
    assert_eq!(whole.len(), 3);
    assert_eq!(whole[2], "[DONE]");
    for cut in 0..bytes.len() {
        let (a, b) = bytes.split_at(cut);
        assert_eq!(decode_all(&[a, b]), whole, "split at {cut}");
    }
    // Byte by byte, which also splits multi-byte UTF-8 characters.
    let singles: Vec<&[u8]> = bytes.chunks(1).collect();
    assert_eq!(decode_all(&singles), whole);
}

#[test]
fn multi_line_data_is_joined_with_newlines_and_other_fields_ignored() {
    let got = decode_all(&[b"event: message\nid: 7\ndata: {\"a\":\ndata:1}\nretry: 10\n\n"]);
    assert_eq!(got, vec!["{\"a\":\n1}".to_owned()]);
}

#[test]
fn comments_blank_lines_and_cr_only_endings() {
    let got = decode_all(&[b": OPENROUTER PROCESSING\r\r\rdata: x\r\rdata:y\r\r"]);
    assert_eq!(got, vec!["x".to_owned(), "y".to_owned()]);
}

#[test]
fn unterminated_last_event_is_flushed_at_eof() {
    assert_eq!(decode_all(&[b"data: [DONE]"]), vec!["[DONE]".to_owned()]);
}

fn body_of(parts: Vec<String>) -> impl Stream<Item = Result<Bytes, Infallible>> + Send {
    futures::stream::iter(parts.into_iter().map(|p| Ok(Bytes::from(p))))
}

async fn collect(s: ChunkStream) -> Vec<Result<ChatChunk, UpstreamError>> {
    s.collect().await
}

#[tokio::test]
async fn chunk_stream_ends_cleanly_at_done() {
    let parts = vec![
        format!("data: {}\n\ndata: {}", chunk_json("a"), chunk_json("b")),
        "\n\ndata: [DONE]\n\n".to_owned(),
        // Anything after [DONE] is ignored.
        "data: garbage\n\n".to_owned(),
    ];
    let items = collect(chunk_stream("p", body_of(parts), Duration::from_secs(5))).await;
    let texts: Vec<_> = items
        .iter()
        .map(|i| {
            i.as_ref().unwrap().choices[0]
                .delta
                .content
                .clone()
                .unwrap()
        })
        .collect();
    assert_eq!(texts, ["a", "b"]);
}

#[tokio::test]
async fn missing_done_yields_a_final_stream_cut() {
    let parts = vec![format!("data: {}\n\n", chunk_json("a"))];
    let items = collect(chunk_stream("p", body_of(parts), Duration::from_secs(5))).await;
    assert_eq!(items.len(), 2);
    assert!(items[0].is_ok());
    assert_eq!(items[1].as_ref().unwrap_err().kind, FailureKind::StreamCut);
}

#[tokio::test]
async fn garbage_and_error_events_end_the_stream_with_typed_errors() {
    let items = collect(chunk_stream(
        "p",
        body_of(vec!["data: {not json\n\ndata: [DONE]\n\n".into()]),
        Duration::from_secs(5),
    ))
    .await;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].as_ref().unwrap_err().kind, FailureKind::Protocol);

    let items = collect(chunk_stream(
        "p",
        body_of(vec![
            "data: {\"error\":{\"message\":\"overloaded\"}}\n\n".into(),
        ]),
        Duration::from_secs(5),
    ))
    .await;
    let e = items[0].as_ref().unwrap_err();
    assert_eq!(
        (e.kind, e.message.as_str()),
        (FailureKind::ServerError, "overloaded")
    );
}

#[tokio::test(start_paused = true)]
async fn silent_body_times_out() {
    let first = futures::stream::iter(vec![Ok::<_, Infallible>(Bytes::from(format!(
        "data: {}\n\n",
        chunk_json("a")
    )))]);
    let body = first.chain(futures::stream::pending());
    let items = collect(chunk_stream("p", body, Duration::from_secs(3))).await;
    assert!(items[0].is_ok());
    assert_eq!(items[1].as_ref().unwrap_err().kind, FailureKind::Timeout);
}

#[test]
fn chunks_keep_the_provider_json_and_error_events_stay_errors() {
    let json = chunk_json("hi");
    let Payload::Chunk(c) = interpret("p", json.clone()) else {
        panic!("not a chunk");
    };
    assert_eq!(c.raw.0.as_deref(), Some(json.as_bytes()));
    assert_eq!(c.choices[0].delta.content.as_deref(), Some("hi"));
    // A chunk-shaped event that carries `error` is still an error, as before.
    let with_error = json.replacen('{', r#"{"error":{"message":"overloaded"},"#, 1);
    match interpret("p", with_error) {
        Payload::Fail(e) => {
            assert_eq!(e.kind, FailureKind::ServerError);
            assert!(e.message.contains("overloaded"), "{}", e.message);
        }
        _ => panic!("an error event must fail the stream"),
    }
}
