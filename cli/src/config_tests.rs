#![allow(clippy::unwrap_used)]

use clap::{CommandFactory, Parser, Subcommand};

use super::*;
use crate::log::LogArgs;
use crate::network::NetworkArgs;
use crate::storage::StorageArgs;

#[derive(Debug, Parser)]
#[command(name = "tool")]
struct Tool {
    #[command(flatten)]
    log: LogArgs,
    #[command(subcommand)]
    command: Sub,
}

#[derive(Debug, Subcommand)]
enum Sub {
    Run(Box<Run>),
    Other,
}

#[derive(Debug, clap::Args)]
struct Run {
    #[command(flatten)]
    config: ConfigArgs,
    #[command(flatten)]
    network: NetworkArgs,
    #[command(flatten)]
    storage: StorageArgs,
    /// Required unless the file gives it.
    #[arg(id = "metagraph", long = "metagraph", env = "GRAIL_TEST_METAGRAPH")]
    metagraph: PathBuf,
    /// A list.
    #[arg(id = "peers", long = "peers", env = "GRAIL_TEST_PEERS", value_delimiter = ',')]
    peers: Vec<String>,
}

fn write(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("tool.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn run(args: &[&str]) -> Result<Run, ConfigError> {
    let argv = ["tool"].iter().chain(args).map(|s| s.to_string());
    match parse_from::<Tool, _, _>(argv)?.command {
        Sub::Run(r) => Ok(*r),
        Sub::Other => panic!("not run"),
    }
}

#[test]
fn flags_override_the_file_and_the_file_overrides_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "metagraph = \"g.json\"\npeers = [\"a\", \"b\"]\ntemperature = 0.5\n\
         [window]\nblocks = 4\nchallenge-buffer = 7\n[storage]\nallow_http = true\n",
    );
    let f = file.to_str().unwrap();
    let r = run(&["run", "--config", f, "--window.blocks", "9"]).unwrap();
    assert_eq!(r.network.blocks, 9, "the flag wins");
    assert_eq!(r.network.challenge_buffer, 7, "the file, in either spelling");
    assert_eq!(r.network.generation.temperature, 0.5);
    assert_eq!(r.network.grace, grail_protocol::params::DEFAULT_GRACE_PERIOD_S, "the default");
    assert_eq!(r.metagraph, PathBuf::from("g.json"), "a required setting from the file");
    assert_eq!(r.peers, vec!["a", "b"]);
    assert!(r.storage.allow_http);
    // Without the file the same command misses its required setting.
    let err = run(&["run"]).unwrap_err().to_string();
    assert!(err.contains("--metagraph"), "{err}");
}

#[test]
fn a_global_setting_may_come_from_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "metagraph = \"g\"\n[log]\nlevel = \"debug\"\n");
    let argv = ["tool", "run", "--config", file.to_str().unwrap()];
    let tool = parse_from::<Tool, _, _>(argv).unwrap();
    assert_eq!(tool.log.level, "debug");
}

#[test]
fn unknown_keys_and_bad_values_name_the_file_and_the_key() {
    let dir = tempfile::tempdir().unwrap();
    for (text, key, needle) in [
        ("metagraph = \"g\"\n[window]\nblok = 4\n", "window.blok", "window.blocks"),
        ("metagraph = \"g\"\nmodle = \"m\"\n", "modle", "metagraph"),
        ("metagraph = \"g\"\n[window]\nblocks = \"four\"\n", "window.blocks", "four"),
        ("metagraph = \"g\"\n[window]\nblocks = -1\n", "window.blocks", "-1"),
        ("metagraph = \"g\"\nconfig = \"other.toml\"\n", "config", "metagraph"),
        ("metagraph = \"g\"\n[window]\nblocks = [4, 5]\n", "window.blocks", "one value"),
    ] {
        let file = write(dir.path(), text);
        let err = run(&["run", "--config", file.to_str().unwrap()]).unwrap_err().to_string();
        assert!(err.contains(&file.display().to_string()), "{err}");
        assert!(err.contains(&format!("`{key}`")), "{err}");
        assert!(err.contains(needle), "{needle}: {err}");
    }
    let file = write(dir.path(), "[window\n");
    let err = run(&["run", "--config", file.to_str().unwrap()]).unwrap_err().to_string();
    assert!(err.contains("not valid TOML"), "{err}");
    let err = run(&["run", "--config", "/nonexistent/tool.toml"]).unwrap_err().to_string();
    assert!(err.contains("/nonexistent/tool.toml"), "{err}");
}

#[test]
fn the_example_lists_every_setting_with_its_default_and_parses_back() {
    let root = Tool::command();
    let run_cmd = root.find_subcommand("run").unwrap();
    let text = example_toml(&root, run_cmd, "tool run");
    for key in ["[window]", "blocks = 30", "challenge_buffer = 30", "temperature = 0.7"] {
        assert!(text.contains(key), "{key}:\n{text}");
    }
    assert!(text.contains("# --window.blocks, $GRAIL_WINDOW_BLOCKS"), "{text}");
    assert!(text.contains("# metagraph ="), "no default: commented out\n{text}");
    assert!(text.contains("# peers = []"), "{text}");
    assert!(text.contains("env = \"sat\""), "strings are quoted\n{text}");
    assert!(!text.contains("config ="), "{text}");
    // Every value the example sets is accepted as a file.
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), &format!("metagraph = \"g\"\n{text}"));
    run(&["run", "--config", file.to_str().unwrap()]).unwrap();
}
