//! Operators' files: metagraph files and TOML configuration.

use std::path::Path;

use clap::error::ErrorKind;
use clap::{Command, CommandFactory};
use grail_cli::config::{apply_toml, with_value_names};
use grail_validator::metagraph::Metagraph;

use crate::tape::Tape;

/// The metagraph file reader: a file that passes has each uid and hotkey once, and its JSON
/// parses back the same.
pub(crate) fn metagraph(data: &[u8]) -> bool {
    let Ok(graph) = Metagraph::from_json(data) else { return false };
    assert_eq!(graph.miners().len(), graph.neurons.len(), "a hotkey listed twice passed");
    assert_eq!(graph.by_uid().len(), graph.neurons.len(), "a uid listed twice passed");
    let json = serde_json::to_vec(&graph).expect("a metagraph serializes");
    let back = Metagraph::from_json(&json).expect("a metagraph's own JSON parses");
    assert_eq!(back.neurons.len(), graph.neurons.len());
    true
}

/// A configuration file for one subcommand of `grail-validator` or `grail-miner` (the first
/// byte picks which): a file the checks accept never makes clap refuse a value.
pub(crate) fn config(data: &[u8]) -> bool {
    let mut tape = Tape::new(data);
    let pick = tape.byte();
    let Ok(text) = std::str::from_utf8(tape.rest()) else { return false };
    let (bin, command): (&str, Command) = if pick & 1 == 0 {
        ("grail-validator", grail_validator::cli::Cli::command())
    } else {
        ("grail-miner", grail_miner::cli::Cli::command())
    };
    let command = with_value_names(command);
    let subcommands: Vec<String> =
        command.get_subcommands().map(|c| c.get_name().to_owned()).collect();
    let Some(sub) = subcommands.get(usize::from(pick >> 1) % subcommands.len().max(1)) else {
        return false;
    };
    let Ok(applied) = apply_toml(command, std::slice::from_ref(sub), Path::new("fuzz.toml"), text)
    else {
        return false;
    };
    if let Err(e) = applied.try_get_matches_from([bin, sub.as_str()]) {
        assert!(
            !matches!(e.kind(), ErrorKind::InvalidValue | ErrorKind::ValueValidation),
            "{bin} {sub}: a value the file check accepted was refused: {e}"
        );
    }
    true
}
