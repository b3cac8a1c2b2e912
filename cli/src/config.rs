//! One layered configuration for every binary: a flag, else its environment variable, else the
//! TOML file given by `--config`, else the built-in default.
//!
//! Each setting is declared once, as a clap argument whose id is its flag's long name with `-`
//! written `_` (`--window.challenge-buffer` is `window.challenge_buffer`). The file's keys are
//! those ids, split on `.` into tables:
//!
//! ```toml
//! model = "models/smollm2-135m"   # --model
//! [window]
//! challenge_buffer = 30           # --window.challenge-buffer
//! ```
//!
//! [`parse`] reads the file named by `--config` (or `GRAIL_CONFIG`), checks every key against
//! the command's arguments and every value with that argument's own value parser (so a file
//! value is validated exactly as the flag would be), and installs the file's values as the
//! arguments' defaults before clap parses for real; clap's own order (command line, then
//! environment, then default) does the rest. An unknown key or a bad value is an error naming
//! the file, the key and, for a value, the flag's complaint.
//!
//! [`example_toml`] renders a command's settings as a commented TOML file (help, flag,
//! variable, default), so the example configuration files are generated, never hand-kept.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::{Arg, ArgMatches, Command, Parser};

/// The id (and flag) of the configuration file argument.
pub const CONFIG_ID: &str = "config";

/// `--config FILE`.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "Configuration")]
pub struct ConfigArgs {
    /// TOML file of settings: keys are the flags' long names (`window.blocks`, `model`, ...);
    /// flags and environment variables override it.
    #[arg(id = "config", long = "config", env = "GRAIL_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// Why the command line or the configuration file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// clap's own outcome: a usage error, or `--help`/`--version` (print it with
    /// [`clap::Error::exit`]).
    #[error(transparent)]
    Clap(#[from] clap::Error),
    /// The file could not be read.
    #[error("cannot read the config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not TOML.
    #[error("config file {path} is not valid TOML: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// A key that names no setting of this command.
    #[error("config file {path}: unknown key `{key}` (this command's keys: {known})")]
    UnknownKey {
        /// The file.
        path: PathBuf,
        /// The key, dotted.
        key: String,
        /// The keys the command has.
        known: String,
    },
    /// A value its setting does not accept.
    #[error("config file {path}: key `{key}`: {message}")]
    BadValue {
        /// The file.
        path: PathBuf,
        /// The key, dotted.
        key: String,
        /// What is wrong with it.
        message: String,
    },
}

/// Parses the process's command line with its configuration file (see the module docs).
pub fn parse<P: Parser>() -> Result<P, ConfigError> {
    parse_from(std::env::args_os())
}

/// [`parse`] over the given arguments (the first is the binary's name).
pub fn parse_from<P, I, T>(args: I) -> Result<P, ConfigError>
where
    P: Parser,
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let command = with_value_names(P::command());
    // A first, forgiving pass finds the subcommand and its --config; --help exits here.
    let first = command.clone().ignore_errors(true).try_get_matches_from(&args)?;
    let (path, leaf) = subcommand_path(&first);
    let command = match leaf.try_get_one::<PathBuf>(CONFIG_ID).ok().flatten() {
        Some(file) => apply_file(command, &path, file)?,
        None => command,
    };
    let matches = command.try_get_matches_from(&args)?;
    Ok(P::from_arg_matches(&matches)?)
}

/// `command` with readable value names in every subcommand: where an argument's value name is
/// its id (clap derive's choice), the last part of the id in capitals (`--wallet.path <PATH>`,
/// not `<wallet.path>`).
pub fn with_value_names(command: Command) -> Command {
    command
        .mut_args(|a| {
            let id = a.get_id().as_str();
            let derived = match a.get_value_names() {
                None => true,
                Some([one]) => one.as_str() == id,
                Some(_) => false,
            };
            if !derived || !a.get_action().takes_values() {
                return a;
            }
            let name = id.rsplit('.').next().unwrap_or(id).to_uppercase();
            a.value_name(name)
        })
        .mut_subcommands(with_value_names)
}

/// The names of the nested subcommands that were used, and the innermost matches.
fn subcommand_path(matches: &ArgMatches) -> (Vec<String>, &ArgMatches) {
    let mut path = Vec::new();
    let mut m = matches;
    while let Some((name, sub)) = m.subcommand() {
        path.push(name.to_owned());
        m = sub;
    }
    (path, m)
}

/// `command` with the file's values installed as defaults of the subcommand at `path` (or of
/// the root's global arguments).
fn apply_file(command: Command, path: &[String], file: &Path) -> Result<Command, ConfigError> {
    let text = std::fs::read_to_string(file)
        .map_err(|source| ConfigError::Read { path: file.to_owned(), source })?;
    apply_toml(command, path, file, &text)
}

/// [`apply_file`] over the file's text: `file` only names it in errors.
pub fn apply_toml(
    command: Command,
    path: &[String],
    file: &Path,
    text: &str,
) -> Result<Command, ConfigError> {
    let table: toml::Table = toml::from_str(text)
        .map_err(|e| ConfigError::Syntax { path: file.to_owned(), message: e.to_string() })?;
    let mut values = BTreeMap::new();
    flatten("", &table, &mut values, file)?;

    let leaf = find_subcommand(&command, path);
    let mut installed: Vec<(bool, String, Vec<String>)> = Vec::new();
    for (key, raw) in values {
        let id = key.replace('-', "_");
        let (on_leaf, arg) = match settable(leaf, &id) {
            Some(a) => (true, a),
            None => match settable(&command, &id).filter(|a| a.is_global_set()) {
                Some(a) => (false, a),
                None => {
                    return Err(ConfigError::UnknownKey {
                        path: file.to_owned(),
                        known: file_keys(leaf).join(", "),
                        key,
                    })
                }
            },
        };
        check_values(arg, &raw).map_err(|message| ConfigError::BadValue {
            path: file.to_owned(),
            key: key.clone(),
            message,
        })?;
        installed.push((on_leaf, id, raw));
    }
    let mut command = command;
    for (on_leaf, id, raw) in installed {
        let set = move |a: Arg| a.required(false).default_values(raw);
        command = if on_leaf {
            mutate_subcommand(command, path, &move |c| c.mut_arg(id.clone(), set.clone()))
        } else {
            command.mut_arg(id, set)
        };
    }
    Ok(command)
}

/// Runs `values` through the argument's value parser, as if given on the command line (clap
/// would otherwise only check them as defaults, which debug builds treat as a bug).
fn check_values(arg: &Arg, values: &[String]) -> Result<(), String> {
    let list = matches!(arg.get_action(), clap::ArgAction::Append);
    if !list && values.len() != 1 {
        return Err(format!("takes one value, the file gives a list of {}", values.len()));
    }
    let long = arg.get_long().unwrap_or("value");
    let probe =
        Arg::new("value").long(long.to_owned()).value_parser(arg.get_value_parser().clone());
    let probe = if values.len() > 1 { probe.action(clap::ArgAction::Append) } else { probe };
    let mut argv: Vec<OsString> = vec!["config".into()];
    for v in values {
        argv.push(format!("--{long}").into());
        argv.push(v.into());
    }
    Command::new("config")
        .arg(probe)
        .try_get_matches_from(argv)
        .map(|_| ())
        .map_err(|e| first_line(&e.to_string()))
}

/// The argument `id` if a file may set it (a named flag other than `--config`).
fn settable<'c>(command: &'c Command, id: &str) -> Option<&'c Arg> {
    command
        .get_arguments()
        .find(|a| a.get_id() == id && a.get_id() != CONFIG_ID && !a.is_positional())
        .filter(|a| a.get_long().is_some())
}

/// The keys a file may hold for `command`, in declaration order.
pub fn file_keys(command: &Command) -> Vec<String> {
    command
        .get_arguments()
        .filter(|a| a.get_long().is_some() && !a.is_positional() && a.get_id() != CONFIG_ID)
        .filter(|a| !matches!(a.get_id().as_str(), "help" | "version"))
        .map(|a| a.get_id().to_string())
        .collect()
}

fn find_subcommand<'c>(command: &'c Command, path: &[String]) -> &'c Command {
    path.iter().fold(command, |c, name| c.find_subcommand(name).unwrap_or(c))
}

fn mutate_subcommand(command: Command, path: &[String], f: &dyn Fn(Command) -> Command) -> Command {
    match path.split_first() {
        None => f(command),
        Some((name, rest)) => {
            command.mut_subcommand(name.clone(), |sub| mutate_subcommand(sub, rest, f))
        }
    }
}

/// The file's leaves as dotted keys and their values as the strings a flag would take.
fn flatten(
    prefix: &str,
    table: &toml::Table,
    out: &mut BTreeMap<String, Vec<String>>,
    file: &Path,
) -> Result<(), ConfigError> {
    for (k, v) in table {
        let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
        let bad = |message: &str| ConfigError::BadValue {
            path: file.to_owned(),
            key: key.clone(),
            message: message.to_owned(),
        };
        match v {
            toml::Value::Table(t) => flatten(&key, t, out, file)?,
            toml::Value::Array(items) => {
                let values = items
                    .iter()
                    .map(|i| scalar(i).ok_or_else(|| bad("a list may hold only plain values")))
                    .collect::<Result<Vec<_>, _>>()?;
                out.insert(key, values);
            }
            other => {
                let value = scalar(other).ok_or_else(|| bad("dates are not settings"))?;
                out.insert(key, vec![value]);
            }
        }
    }
    Ok(())
}

fn scalar(v: &toml::Value) -> Option<String> {
    match v {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        toml::Value::Datetime(_) | toml::Value::Array(_) | toml::Value::Table(_) => None,
    }
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().trim_start_matches("error: ").to_owned()
}

/// A commented TOML file of every setting of `command` (the subcommand itself, with the
/// global arguments of `root` first): per key its help, flag and variable, and its default, or
/// the key commented out where there is none.
pub fn example_toml(root: &Command, command: &Command, title: &str) -> String {
    let mut out = format!(
        "# {title}\n# Generated from the command's flags (`--help`); every key is optional.\n\
         # Precedence: flag, then environment variable, then this file, then the default.\n"
    );
    let globals = root.get_arguments().filter(|a| a.is_global_set());
    let own = command.get_arguments();
    let mut sections: BTreeMap<String, Vec<&Arg>> = BTreeMap::new();
    let mut top: Vec<&Arg> = Vec::new();
    for arg in globals.chain(own) {
        let id = arg.get_id().as_str();
        if arg.get_long().is_none() || arg.is_positional() || matches!(id, "help" | "version") {
            continue;
        }
        if id == CONFIG_ID {
            continue;
        }
        match id.split_once('.') {
            Some((section, _)) => sections.entry(section.to_owned()).or_default().push(arg),
            None => top.push(arg),
        }
    }
    for arg in top {
        out.push('\n');
        entry(&mut out, arg, arg.get_id().as_str());
    }
    for (section, args) in sections {
        out.push_str(&format!("\n[{section}]\n"));
        for arg in args {
            out.push('\n');
            let id = arg.get_id().as_str();
            entry(&mut out, arg, id.split_once('.').map_or(id, |(_, k)| k));
        }
    }
    out
}

fn entry(out: &mut String, arg: &Arg, key: &str) {
    let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
    for line in help.lines() {
        out.push_str(&format!("# {line}\n"));
    }
    let long = arg.get_long().unwrap_or_default();
    let env = arg.get_env().map(|e| e.to_string_lossy().into_owned()).unwrap_or_default();
    out.push_str(&format!("# --{long}, ${env}\n"));
    let defaults: Vec<String> =
        arg.get_default_values().iter().map(|v| v.to_string_lossy().into_owned()).collect();
    let multiple = arg.get_num_args().is_some_and(|n| n.max_values() > 1)
        || matches!(arg.get_action(), clap::ArgAction::Append);
    match (defaults.as_slice(), multiple) {
        ([], true) => out.push_str(&format!("# {key} = []\n")),
        ([], false) => out.push_str(&format!("# {key} =\n")),
        (values, true) => {
            let items: Vec<String> = values.iter().map(|v| toml_literal(v)).collect();
            out.push_str(&format!("{key} = [{}]\n", items.join(", ")));
        }
        ([value, ..], false) => out.push_str(&format!("{key} = {}\n", toml_literal(value))),
    }
}

/// A default value as TOML: numbers and booleans bare, anything else a string.
fn toml_literal(value: &str) -> String {
    if value.parse::<i64>().is_ok()
        || value == "true"
        || value == "false"
        || (value.parse::<f64>().is_ok_and(f64::is_finite) && value.contains('.'))
    {
        value.to_owned()
    } else {
        toml::Value::String(value.to_owned()).to_string()
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
