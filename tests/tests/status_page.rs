//! The validator's status page in a real browser: headless Chromium (Debian's `chromium`,
//! which `scripts/test.sh` installs) loads `/` while the validator runs windows of an honest
//! miner (uid 1) and of one that tampers in the second window (uid 2). The miners table it
//! renders matches `/status` row for row (uid, hotkey, verdict, stage, reason, unique rollouts,
//! share) with each weight from `/weights/recent`; the chart has one line per uid over the
//! windows of `/weights/recent`; a screenshot is saved under the test's output
//! (`target/tmp/status-page/status.png`).
//! Local beacon (1 s rounds), local clock chain, tiny model, 6-block windows (doubled under
//! `CI=true`). Needs the binaries: `cargo build --workspace --bins`.

// Helpers outside #[test] fns panic on purpose: a panic is a test failure.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use grail_tests::{
    bin, ci_scale, clock_flags, fixture, get_json, keygen, miner_command, on_path, window_ahead,
    write_metagraph, KillOnDrop, LocalBeacon,
};
use serde_json::Value;

fn blocks() -> u64 {
    6 * ci_scale()
}

/// Headless Chromium on `url` with `args`; its stdout.
fn chromium(profile: &Path, url: &str, args: &[&str]) -> String {
    let browser = on_path("chromium").unwrap_or_else(|| {
        panic!("no `chromium` on PATH: scripts/test.sh installs it (apt-get install chromium)")
    });
    let out = Command::new(browser)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"])
        .args(["--disable-dev-shm-usage", "--virtual-time-budget=10000"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .output()
        .unwrap();
    assert!(out.status.success(), "chromium: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// Text of `html` without its tags.
fn text_of(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    unescape(&out)
}

/// The value of attribute `name` in the opening tag `tag`.
fn attr(tag: &str, name: &str) -> Option<String> {
    let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
    Some(unescape(&tag[start..start + tag[start..].find('"')?]))
}

/// Each table row of the rendered page: its opening tag and its cells' text.
fn rows(dom: &str) -> Vec<(String, Vec<String>)> {
    let body = &dom[dom.find("<tbody>").unwrap()..dom.find("</tbody>").unwrap()];
    body.split("<tr ")
        .skip(1)
        .map(|row| {
            let tag = row[..row.find('>').unwrap()].to_owned();
            let cells = row
                .split("<td")
                .skip(1)
                .map(|c| {
                    let inner = &c[c.find('>').unwrap() + 1..c.find("</td>").unwrap()];
                    text_of(inner)
                })
                .collect();
            (tag, cells)
        })
        .collect()
}

fn weight_of(entry: &Value, uid: u64) -> u64 {
    let uids = entry["uids"].as_array().unwrap();
    uids.iter().position(|u| u == uid).map_or(0, |i| entry["weights"][i].as_u64().unwrap())
}

#[test]
fn the_status_page_shows_the_miners_and_weights_of_status() {
    let beacon = LocalBeacon::start(1);
    let (url, genesis) = (beacon.url(), beacon.genesis());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let hotkeys = [keygen(dir, "h1"), keygen(dir, "h2")];
    write_metagraph(dir, "metagraph.json", &[(1, &hotkeys[0]), (2, &hotkeys[1])]);
    let w = window_ahead(genesis, blocks(), 2);
    let timing = clock_flags(genesis, blocks());
    let mut miners = Vec::new();
    for window in [w, w + 1] {
        // uid 2 mines honestly in window w, then tampers (and is excluded from then on).
        for (i, tamper) in [(1, false), (2, window == w + 1)] {
            let mut cmd = miner_command(dir, &url, i, window, tamper, &timing);
            miners
                .push(KillOnDrop(cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap()));
        }
    }
    let mut validator = KillOnDrop(
        Command::new(bin("grail-validator"))
            .arg("run")
            .arg("--model")
            .arg(fixture("models/tiny"))
            .arg("--data")
            .arg(dir.join("v"))
            .arg("--metagraph")
            .arg(dir.join("metagraph.json"))
            .args(["--beacon.chain", "local", "--beacon.relay", &url])
            .args(&timing)
            .args(["--window.challenge-buffer", "2", "--max-new-tokens", "16", "--threads", "1"])
            .args(["--weights.span", "2", "--weights.cap", "16", "--weights.burn-bps", "5000"])
            .args(["--from-window", &w.to_string(), "--http.listen", "127.0.0.1:0"])
            .arg("--storage.path")
            .arg(dir.join("storage"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stderr = validator.0.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(url) = line.split("url=http://").nth(1) {
                let _ = tx.send(url.split([' ', '/']).next().unwrap().to_owned());
            }
        }
    });
    let addr = rx.recv_timeout(Duration::from_secs(60)).expect("the validator logs its url");
    // Two windows verified, so the chart has lines.
    let mut lines = BufReader::new(validator.0.stdout.take().unwrap()).lines();
    for window in [w, w + 1] {
        let line = lines.next().unwrap().unwrap();
        assert!(line.contains(&format!("\"window\":{window}")), "{line}");
    }

    let profile = dir.join("chromium");
    let page = format!("http://{addr}/");
    // The page and /status must describe the same window: read /status around the page.
    let (dom, status, recent) = (0..4)
        .find_map(|_| {
            let before = get_json(&addr, "/status");
            let dom = chromium(&profile, &page, &["--dump-dom"]);
            let after = get_json(&addr, "/status");
            let recent = get_json(&addr, "/weights/recent");
            (before == after
                && after["weights_window"] == recent.as_array().unwrap().last().unwrap()["window"])
                .then_some((dom, after, recent))
        })
        .expect("a page and a /status of the same moment");
    assert!(dom.contains("data-ready=\"true\""), "the page's script ran: {dom}");

    let miners_status = status["miners"].as_array().unwrap();
    let rendered = rows(&dom);
    assert_eq!(rendered.len(), miners_status.len(), "{dom}");
    let latest = recent.as_array().unwrap().last().unwrap();
    for (m, (tag, cells)) in miners_status.iter().zip(&rendered) {
        let uid = m["uid"].as_u64().unwrap();
        let hotkey = m["hotkey"].as_str().unwrap();
        assert_eq!(attr(tag, "data-uid"), Some(uid.to_string()));
        assert_eq!(attr(tag, "data-hotkey").as_deref(), Some(hotkey));
        let v = &m["verdict"];
        // The page shows the share to 4 places (JavaScript rounds half up, Rust half even).
        match m["score"]["share"].as_f64() {
            Some(share) => {
                let shown: f64 = cells[6].parse().unwrap_or_else(|_| panic!("{cells:?}"));
                assert!((shown - share).abs() <= 0.5e-4 + 1e-12, "uid {uid}: {shown} for {share}");
            }
            None => assert_eq!(cells[6], "–"),
        }
        let share = cells[6].clone();
        let expected = [
            uid.to_string(),
            hotkey.to_owned(),
            v["result"].as_str().unwrap().to_owned(),
            v["stage"].as_str().unwrap().to_owned(),
            v["reason"].as_str().unwrap_or("").to_owned(),
            v["unique_estimated"].to_string(),
            share,
            weight_of(latest, uid).to_string(),
        ];
        assert_eq!(cells, &expected, "uid {uid}");
    }
    let fail =
        rendered.iter().find(|(tag, _)| attr(tag, "data-uid").as_deref() == Some("2")).unwrap();
    let expected = if status["latest_window"] == w + 1 {
        ("fail", "sampling")
    } else {
        ("unchecked", "excluded")
    };
    assert_eq!((fail.1[2].as_str(), fail.1[3].as_str()), expected, "the tampering miner");

    // The chart: the windows of /weights/recent, one line per uid with its weights.
    let svg = &dom[dom.find("<svg id=\"chart\"").unwrap()..];
    let svg = &svg[..svg.find("</svg>").unwrap()];
    let windows: Vec<String> =
        recent.as_array().unwrap().iter().map(|r| r["window"].to_string()).collect();
    assert_eq!(attr(svg, "data-windows"), Some(windows.join(",")));
    let lines: Vec<&str> = svg.split("<polyline").skip(1).collect();
    let mut uids: Vec<u64> = recent
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["uids"].as_array().unwrap().iter().map(|u| u.as_u64().unwrap()))
        .collect();
    uids.sort_unstable();
    uids.dedup();
    assert_eq!(lines.len(), uids.len(), "{svg}");
    for (uid, polyline) in uids.iter().zip(lines) {
        assert_eq!(attr(polyline, "data-uid"), Some(uid.to_string()));
        let expected: Vec<String> =
            recent.as_array().unwrap().iter().map(|r| weight_of(r, *uid).to_string()).collect();
        assert_eq!(attr(polyline, "data-weights"), Some(expected.join(",")), "uid {uid}");
    }

    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("status-page");
    std::fs::create_dir_all(&out).unwrap();
    let shot = out.join("status.png");
    let _ = std::fs::remove_file(&shot);
    chromium(
        &profile,
        &page,
        &[&format!("--screenshot={}", shot.display()), "--window-size=1280,900"],
    );
    let png = std::fs::read(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000, "{} bytes", png.len());
    println!("status page screenshot: {}", shot.display());
    drop(miners);
}
