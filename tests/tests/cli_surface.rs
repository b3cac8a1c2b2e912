//! The command-line surface of every shipped binary, checked against the rules of `grail-cli`
//! and against the generated documents:
//!
//! - every flag has a long name, an environment variable `GRAIL_<ID>`, help text and a help
//!   heading; its id (its config-file key) is its long name with `-` written `_`; no flag is
//!   hidden or test-only;
//! - `docs/CLI.md` is the `--help` of every binary and subcommand, and `docs/config/*.toml` the
//!   example configuration of every command that takes `--config`, each generated from the
//!   binaries; set `GRAIL_UPDATE_DOCS=1` to rewrite them after changing a flag;
//! - each example configuration is accepted by its command.
//!
//! Needs the binaries: `cargo build --workspace --bins`.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command as Process;

use clap::{Command, CommandFactory};
use grail_cli::config::{example_toml, parse_from, CONFIG_ID};
use grail_tests::{bin, repo_root};

/// The shipped binaries and their command trees.
fn binaries() -> Vec<(&'static str, Command)> {
    vec![
        ("grail-miner", grail_miner::cli::Cli::command()),
        ("grail-validator", grail_validator::cli::Cli::command()),
        ("grail-audit", grail_audit::cli::Cli::command()),
        ("grail-beacon", grail_beacon::cli::Cli::command()),
        ("grail-trainer", grail_trainer::cli::Cli::command()),
    ]
}

/// Every subcommand path of `cmd` (the root first), with its command.
fn paths<'c>(cmd: &'c Command, prefix: &[String], out: &mut Vec<(Vec<String>, &'c Command)>) {
    out.push((prefix.to_vec(), cmd));
    for sub in cmd.get_subcommands() {
        let mut p = prefix.to_vec();
        p.push(sub.get_name().to_owned());
        paths(sub, &p, out);
    }
}

/// `GRAIL_<ID>`; Bittensor's own flags (`--netuid`, `--subtensor.*`) read `BT_<ID>` as the
/// Bittensor tools do.
fn env_of(id: &str) -> String {
    let prefix = if id == "netuid" || id.starts_with("subtensor.") { "BT" } else { "GRAIL" };
    format!("{prefix}_{}", id.to_uppercase().replace(['.', '-'], "_"))
}

#[test]
fn every_flag_follows_the_naming_rule_and_none_is_test_only() {
    let mut wrong = Vec::new();
    for (name, root) in binaries() {
        let mut all = Vec::new();
        paths(&root, &[], &mut all);
        for (path, cmd) in all {
            let at = format!("{name} {}", path.join(" "));
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if matches!(id, "help" | "version") || arg.is_positional() {
                    continue;
                }
                let Some(long) = arg.get_long() else {
                    wrong.push(format!("{at}: {id} has no long flag"));
                    continue;
                };
                if id != long.replace('-', "_") {
                    wrong.push(format!("{at}: --{long} has id {id}, not its long name"));
                }
                let env = arg.get_env().map(|e| e.to_string_lossy().into_owned());
                if env.as_deref() != Some(env_of(id).as_str()) {
                    wrong.push(format!("{at}: --{long} reads {env:?}, not {}", env_of(id)));
                }
                if arg.get_help().is_none_or(|h| h.to_string().trim().is_empty()) {
                    wrong.push(format!("{at}: --{long} has no help"));
                }
                if arg.get_help_heading().is_none() {
                    wrong.push(format!("{at}: --{long} has no help heading"));
                }
                if arg.is_hide_set() || long.starts_with("test") || id.contains("tamper") {
                    wrong.push(format!("{at}: --{long} is hidden or test-only"));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// `--help` of every binary and subcommand, as the binaries print it.
fn cli_reference() -> String {
    let mut out = String::from(
        "# Command-line reference\n\nGenerated from the binaries' `--help` by \
         `tests/tests/cli_surface.rs` (`GRAIL_UPDATE_DOCS=1 cargo test -p grail-tests --test \
         cli_surface` rewrites it). Every flag also reads the environment variable shown, and \
         `mine` and `run` read a `--config` file whose keys are the flags' ids \
         (`docs/config/`).\n",
    );
    for (name, root) in binaries() {
        let mut all = Vec::new();
        paths(&root, &[], &mut all);
        for (path, _) in all {
            let shown = std::iter::once(name.to_owned()).chain(path.clone()).collect::<Vec<_>>();
            let help =
                Process::new(bin(name)).args(&path).arg("--help").env_clear().output().unwrap();
            assert!(help.status.success(), "{shown:?} --help failed");
            let text = String::from_utf8(help.stdout).unwrap();
            out.push_str(&format!("\n## `{}`\n\n```text\n{}```\n", shown.join(" "), text));
        }
    }
    out
}

/// Compares `path` with `want`, or writes it under `GRAIL_UPDATE_DOCS=1`.
fn check_generated(path: &Path, want: &str) {
    if std::env::var_os("GRAIL_UPDATE_DOCS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, want).unwrap();
        return;
    }
    let have = std::fs::read_to_string(path).unwrap_or_default();
    if have != want {
        let line = have.lines().zip(want.lines()).position(|(a, b)| a != b);
        panic!(
            "{} is not what the binaries generate (first difference at line {}): run \
             `GRAIL_UPDATE_DOCS=1 cargo test -p grail-tests --test cli_surface` and commit it",
            path.display(),
            line.map_or_else(|| "end".into(), |l| (l + 1).to_string())
        );
    }
}

#[test]
fn the_cli_reference_is_the_binaries_help() {
    check_generated(&repo_root().join("docs/CLI.md"), &cli_reference());
}

#[test]
fn the_example_configs_are_generated_and_accepted() {
    let cases: [(&str, Command, &str, &str, &[&str]); 3] = [
        ("grail-miner", grail_miner::cli::Cli::command(), "mine", "miner.toml", &["model = \"m\""]),
        (
            "grail-validator",
            grail_validator::cli::Cli::command(),
            "run",
            "validator.toml",
            &["model = \"m\"", "metagraph = \"g.json\""],
        ),
        (
            "grail-trainer",
            grail_trainer::cli::Cli::command(),
            "publish",
            "trainer.toml",
            &["model = \"m\"", "from_window = 1"],
        ),
    ];
    for (name, root, sub, file, required) in cases {
        let cmd = root.find_subcommand(sub).unwrap();
        let title = format!("Example configuration of `{name} {sub} --config FILE`");
        let text = example_toml(&root, cmd, &title);
        check_generated(&repo_root().join("docs/config").join(file), &text);
        // The example, with the settings that have no default filled in, is accepted.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(file);
        std::fs::write(&path, format!("{}\n{text}", required.join("\n"))).unwrap();
        let argv = [name, sub, "--config", path.to_str().unwrap()];
        let parsed = match name {
            "grail-miner" => parse_from::<grail_miner::cli::Cli, _, _>(argv).map(|_| ()),
            "grail-trainer" => parse_from::<grail_trainer::cli::Cli, _, _>(argv).map(|_| ()),
            _ => parse_from::<grail_validator::cli::Cli, _, _>(argv).map(|_| ()),
        };
        parsed.unwrap_or_else(|e| panic!("{file}: {e}"));
        // Only these commands take --config.
        assert!(cmd.get_arguments().any(|a| a.get_id() == CONFIG_ID), "{name} {sub}");
    }
    for (name, root) in binaries() {
        let mut all = Vec::new();
        paths(&root, &[], &mut all);
        for (path, cmd) in all {
            let takes = cmd.get_arguments().any(|a| a.get_id() == CONFIG_ID);
            let expected = matches!(
                (name, path.as_slice()),
                ("grail-miner", [p]) | ("grail-validator", [p]) | ("grail-trainer", [p])
                    if p == "mine" || p == "run" || p == "publish"
            );
            assert_eq!(takes, expected, "{name} {path:?}: --config");
        }
    }
}
