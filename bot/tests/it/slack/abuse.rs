//! Strangers cannot hold the Slack endpoints: a request the headers refuse
//! (no signature, a timestamp outside the window, a declared body past the
//! limit) is answered before its body is read; a body that stalls is cut
//! off; past the concurrency cap requests are refused at once; timestamps at
//! the ends of `i64` are refused, not overflowed.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{SIGNING_SECRET, SlackBot, payloads, sign_all};
use hitl_bot::server_limits::CHAT_CONCURRENCY;

/// Opens a connection, sends a request head and the first `sent` bytes of
/// its body, then stalls (the connection stays open, nothing more is sent).
async fn stalled_upload(addr: &str, extra_headers: &str, chunked: bool, sent: usize) -> TcpStream {
    let mut conn = TcpStream::connect(addr).await.unwrap();
    let framing = if chunked {
        "Transfer-Encoding: chunked\r\n".to_owned()
    } else {
        format!("Content-Length: {}\r\n", 1024 * 1024)
    };
    let head = format!(
        "POST /slack/interactions HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\n{framing}{extra_headers}\r\n"
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    let body = vec![b'x'; sent];
    if chunked {
        conn.write_all(format!("{sent:x}\r\n").as_bytes())
            .await
            .unwrap();
        conn.write_all(&body).await.unwrap();
        conn.write_all(b"\r\n").await.unwrap();
    } else {
        conn.write_all(&body).await.unwrap();
    }
    conn
}

/// The status of the answer on `conn`, if one arrives within `wait`.
async fn status_within(conn: &mut TcpStream, wait: Duration) -> Option<u16> {
    let mut buf = vec![0u8; 4096];
    let mut got = Vec::new();
    let read = async {
        loop {
            let n = conn.read(&mut buf).await.ok()?;
            if n == 0 {
                return None;
            }
            got.extend_from_slice(&buf[..n]);
            if let Some(line) = got
                .split(|b| *b == b'\n')
                .next()
                .filter(|_| got.contains(&b'\n'))
            {
                let line = String::from_utf8_lossy(line);
                return line.split_whitespace().nth(1)?.parse().ok();
            }
        }
    };
    tokio::time::timeout(wait, read).await.ok().flatten()
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn timestamps_at_the_ends_of_i64_are_refused_not_overflowed() {
    let bot = SlackBot::start().await;
    let (_, at) = bot.create_posted(json!({"request_id": "ts-edge"})).await;
    let message = bot.fake.message(&at.message);
    let click = payloads::click("U0ALICE", "hitl_approve", "ts-edge", &at, &message);
    let before = bot.server.snapshot().await;
    // Correctly signed, so only the arithmetic on the timestamp refuses them.
    let signed = sign_all(
        SIGNING_SECRET,
        &[
            click.clone().at(i64::MAX),
            click.clone().at(i64::MIN),
            click.clone().at(i64::MIN + 1),
            click.clone().at(0),
        ],
    )
    .await;
    for s in &signed {
        let (status, err) = bot.send(s).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{}: {err}",
            s.request.timestamp
        );
        assert!(
            err["message"].as_str().unwrap().contains("5 minutes"),
            "{err}"
        );
    }
    assert_eq!(bot.server.snapshot().await, before);
    assert_eq!(bot.server.record("ts-edge").await["status"], "pending");
    bot.stop().await;
}

#[tokio::test]
async fn stalled_unsigned_uploads_hold_neither_memory_nor_slots() {
    let bot = SlackBot::start().await;
    let addr = bot.server.url.trim_start_matches("http://").to_owned();
    let now = chrono::Utc::now().timestamp();
    let fresh = format!("X-Slack-Request-Timestamp: {now}\r\nX-Slack-Signature: v0=0000\r\n");
    let stale = format!(
        "X-Slack-Request-Timestamp: {}\r\nX-Slack-Signature: v0=0000\r\n",
        now - 3600
    );
    const N: usize = 200;
    let rss_before = rss_kib();

    // Refused from the headers alone, while the body is still to come: no
    // signature; a stale timestamp; a declared 1 MiB body.
    for (what, headers, chunked) in [
        ("unsigned", "", true),
        ("stale", stale.as_str(), true),
        ("1 MiB declared", fresh.as_str(), false),
    ] {
        let started = Instant::now();
        let mut conns = Vec::new();
        for _ in 0..N {
            conns.push(stalled_upload(&addr, headers, chunked, 16 * 1024).await);
        }
        let mut statuses = Vec::new();
        for c in &mut conns {
            statuses.push(status_within(c, Duration::from_secs(5)).await);
        }
        let want = if what == "1 MiB declared" { 413 } else { 401 };
        assert!(
            statuses.iter().all(|s| *s == Some(want)),
            "{what}: {statuses:?}"
        );
        eprintln!(
            "abuse: {N} stalled {what} uploads answered {want} in {} ms",
            started.elapsed().as_millis()
        );
    }

    // Uploads whose headers pass and whose bodies stall: at most
    // CHAT_CONCURRENCY are admitted and cut off after the body timeout;
    // the rest are refused at once.
    let started = Instant::now();
    let mut conns = Vec::new();
    for _ in 0..N {
        conns.push(stalled_upload(&addr, &fresh, true, 16 * 1024).await);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_during = rss_kib();
    let answers = futures::future::join_all(
        conns
            .iter_mut()
            .map(|c| status_within(c, Duration::from_secs(20))),
    )
    .await;
    let held_for = started.elapsed();
    let busy = answers.iter().filter(|s| **s == Some(503)).count();
    let cut = answers.iter().filter(|s| **s == Some(408)).count();
    assert_eq!(busy + cut, N, "{answers:?}");
    assert_eq!(cut, CHAT_CONCURRENCY, "{answers:?}");
    assert!(held_for < Duration::from_secs(20), "{held_for:?}");
    eprintln!(
        "abuse: {N} stalled uploads with passing headers: {busy} refused 503 at once, {cut} cut off 408 after {} ms; RSS {rss_before} KiB before, {rss_during} KiB while held",
        held_for.as_millis()
    );
    drop(conns);

    // The endpoint still serves Slack.
    let (_, at) = bot
        .create_posted(json!({"request_id": "after-abuse"}))
        .await;
    let message = bot.fake.message(&at.message);
    let click = payloads::click("U0ALICE", "hitl_approve", "after-abuse", &at, &message);
    let (status, body) = bot.send_one(click).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(bot.server.record("after-abuse").await["status"], "approved");
    bot.stop().await;
}
