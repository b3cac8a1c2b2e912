//! A real Prometheus server (Debian's `prometheus`, which `scripts/test.sh` installs) scrapes a
//! validator and a miner on loopback with the repository's scrape config
//! (`deploy/prometheus/prometheus.yml`, its targets pointed at the processes and its interval
//! at 1 s); Prometheus' HTTP API then answers the validator's weight for the miner's uid, equal
//! to the weights line the validator printed, and the miner's tokens per second. Every query
//! of the Grafana dashboard (`deploy/grafana/grail-dashboard.json`) names metrics the two
//! roles export and evaluates in this Prometheus.
//! Local beacon (1 s rounds), local clock chain, tiny model, 4-block windows (doubled under
//! `CI=true`). Needs the binaries: `cargo build --workspace --bins`.

// Helpers outside #[test] fns panic on purpose: a panic is a test failure.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use grail_tests::{
    bin, ci_scale, clock_flags, fixture, free_port, get_json, http_get, keygen, on_path, repo_root,
    window_ahead, write_metagraph, KillOnDrop, LocalBeacon,
};
use serde_json::Value;

fn blocks() -> u64 {
    4 * ci_scale()
}

/// Starts `cmd` with piped output; its stderr lines go to the returned channel.
fn start(cmd: &mut Command) -> (KillOnDrop, mpsc::Receiver<String>) {
    let mut child = KillOnDrop(cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap());
    let stderr = child.0.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (child, rx)
}

/// The `host:port` of the first `url=http://...` a process logs in a line with `message`.
fn logged_addr(rx: &mpsc::Receiver<String>, what: &str, message: &str) -> String {
    let mut seen = Vec::new();
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("{what} logged no {message:?}:\n{}", seen.join("\n")));
        if let Some(url) = line.split("url=http://").nth(1).filter(|_| line.contains(message)) {
            return url.split(['/', ' ']).next().unwrap().to_owned();
        }
        seen.push(line);
    }
}

/// The value of the first series `promql` selects, polled until Prometheus has one (60 s).
fn query(prometheus: &str, promql: &str, child: &mut Child) -> f64 {
    let encoded = encode(promql);
    let started = Instant::now();
    loop {
        assert!(child.try_wait().unwrap().is_none(), "prometheus exited");
        let answer = http_get(prometheus, &format!("/api/v1/query?query={encoded}"));
        if let Some((_, body)) = answer {
            let v: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(v["status"], "success", "{promql}: {v}");
            if let Some(first) = v["data"]["result"].as_array().and_then(|r| r.first()) {
                return first["value"][1].as_str().unwrap().parse().unwrap();
            }
        }
        assert!(started.elapsed() < Duration::from_secs(60), "no series for {promql}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn prometheus_scrapes_both_roles_with_the_repository_config() {
    let Some(prometheus_bin) = on_path("prometheus") else {
        panic!("no `prometheus` on PATH: scripts/test.sh installs it (apt-get install prometheus)");
    };
    let beacon = LocalBeacon::start(1);
    let (url, genesis) = (beacon.url(), beacon.genesis());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let hotkey = keygen(dir, "h1");
    write_metagraph(dir, "metagraph.json", &[(1, &hotkey)]);
    let w = window_ahead(genesis, blocks(), 2);
    let timing = clock_flags(genesis, blocks());

    let (_miner, miner_log) = start(
        Command::new(bin("grail-miner"))
            .arg("mine")
            .arg("--wallet.path")
            .arg(dir.join("wallets"))
            .args(["--wallet.name", "m", "--wallet.hotkey", "h1"])
            .arg("--model")
            .arg(fixture("models/tiny"))
            .args(["--beacon.chain", "local", "--beacon.relay", &url])
            .args(&timing)
            .args(["--from-window", &w.to_string(), "--problems", "1"])
            .args(["--max-new-tokens", "16", "--threads", "1", "--metrics.listen", "127.0.0.1:0"])
            .arg("--storage.path")
            .arg(dir.join("storage")),
    );
    let (mut validator, validator_log) = start(
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
            .args(["--metrics.listen", "127.0.0.1:0"])
            .arg("--storage.path")
            .arg(dir.join("storage")),
    );
    let miner_addr = logged_addr(&miner_log, "the miner", "serving metrics");
    let validator_addr = logged_addr(&validator_log, "the validator", "serving /weights");
    // Its --metrics.listen serves /metrics alone.
    let validator_metrics = logged_addr(&validator_log, "the validator", "serving metrics");

    let config =
        std::fs::read_to_string(repo_root().join("deploy/prometheus/prometheus.yml")).unwrap();
    for needle in ["127.0.0.1:9100", "127.0.0.1:9101", "scrape_interval: 15s"] {
        assert!(config.contains(needle), "the repository config names {needle}");
    }
    let config = config
        .replace("127.0.0.1:9100", &validator_addr)
        .replace("127.0.0.1:9101", &miner_addr)
        .replace("scrape_interval: 15s", "scrape_interval: 1s");
    std::fs::write(dir.join("prometheus.yml"), config).unwrap();
    let prometheus = format!("127.0.0.1:{}", free_port());
    let mut server = KillOnDrop(
        Command::new(prometheus_bin)
            .arg(format!("--config.file={}", dir.join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("tsdb").display()))
            .arg(format!("--web.listen-address={prometheus}"))
            .arg("--log.level=warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );

    // The validator's first window line: its weights, in the chain's format.
    let mut line = String::new();
    BufReader::new(validator.0.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let line: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    let weights = &line["weights"];
    let at =
        weights["uids"].as_array().unwrap().iter().position(|u| u == 1).expect("uid 1 weighted");
    let expected = weights["weights"][at].as_f64().unwrap();
    assert!(expected > 0.0, "{line}");

    let weight = query(
        &prometheus,
        "grail_validator_miner_weight{job=\"grail-validator\",uid=\"1\"}",
        &mut server.0,
    );
    assert_eq!(weight, expected, "the scraped weight of uid 1 is the validator's");
    let tps = query(
        &prometheus,
        "grail_miner_tokens_per_second{job=\"grail-miner\",role=\"miner\"}",
        &mut server.0,
    );
    assert!(tps > 0.0, "tokens per second {tps}");
    for job in ["grail-validator", "grail-miner"] {
        assert_eq!(
            query(&prometheus, &format!("up{{job=\"{job}\"}}"), &mut server.0),
            1.0,
            "{job}"
        );
    }

    // The Grafana dashboard: every metric its panels query is one the roles export (a scrape
    // of each), and every query is PromQL this Prometheus evaluates.
    let mut families = std::collections::BTreeSet::new();
    let (_, scraped) = http_get(&validator_metrics, "/metrics").unwrap();
    assert!(scraped.contains("grail_validator_miner_weight"), "{scraped}");
    let mut s = std::net::TcpStream::connect(&validator_metrics).unwrap();
    write!(s, "GET /status HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 404"), "only /metrics there: {answer}");
    for addr in [&validator_addr, &miner_addr] {
        for line in http_get(addr, "/metrics").unwrap().1.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                families.insert(rest.split(' ').next().unwrap().to_owned());
            }
        }
    }
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("deploy/grafana/grail-dashboard.json")).unwrap(),
    )
    .unwrap();
    let panels = dashboard["panels"].as_array().unwrap();
    assert!(panels.len() >= 10, "{} panels", panels.len());
    for panel in panels {
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{}: no query", panel["title"]);
        for target in targets {
            let expr = target["expr"].as_str().unwrap();
            let names = metric_names(expr);
            assert!(!names.is_empty(), "{}: {expr} names no metric", panel["title"]);
            for name in names {
                let family = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| name.strip_suffix(s).filter(|b| families.contains(*b)))
                    .unwrap_or(&name);
                assert!(families.contains(family), "{}: {name} is not exported", panel["title"]);
            }
            let v = get_json(&prometheus, &format!("/api/v1/query?query={}", encode(expr)));
            assert_eq!(v["status"], "success", "{}: {expr}: {v}", panel["title"]);
        }
    }
}

/// `text` percent-encoded for a URL's query.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The `grail_*` and `process_*` metric names in a PromQL expression.
fn metric_names(expr: &str) -> Vec<String> {
    expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("grail_") || w.starts_with("process_"))
        .map(str::to_owned)
        .collect()
}
