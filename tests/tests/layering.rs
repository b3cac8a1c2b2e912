//! The crate graph of docs/ARCHITECTURE.md: each crate's manifest names only the workspace
//! crates its row allows (dev-dependencies too, except in `tests/`), every workspace member
//! has a row, and the rows are in an order where every arrow points to an earlier row.

use std::collections::BTreeSet;

use grail_tests::repo_root;

/// `(folder, workspace crates it may depend on)`, lowest layer first.
const ALLOWED: &[(&str, &[&str])] = &[
    ("protocol", &[]),
    ("fingerprint", &["grail-protocol"]),
    ("drand", &["grail-protocol"]),
    ("chain", &["grail-protocol"]),
    ("storage", &[]),
    ("wallet", &["grail-protocol", "grail-storage"]),
    ("challenges", &["grail-protocol"]),
    ("weights", &["grail-protocol"]),
    ("checkpoint", &["grail-protocol", "grail-fingerprint", "grail-storage", "grail-challenges"]),
    (
        "cli",
        &[
            "grail-checkpoint",
            "grail-protocol",
            "grail-fingerprint",
            "grail-drand",
            "grail-chain",
            "grail-storage",
            "grail-wallet",
            "grail-challenges",
        ],
    ),
    ("beacon", &["grail-drand", "grail-cli"]),
    ("devchain", &["grail-protocol", "grail-chain", "grail-cli", "grail-beacon"]),
    (
        "miner",
        &[
            "grail-protocol",
            "grail-fingerprint",
            "grail-drand",
            "grail-chain",
            "grail-storage",
            "grail-wallet",
            "grail-challenges",
            "grail-cli",
            "grail-checkpoint",
        ],
    ),
    (
        "validator",
        &[
            "grail-protocol",
            "grail-fingerprint",
            "grail-drand",
            "grail-chain",
            "grail-storage",
            "grail-challenges",
            "grail-weights",
            "grail-cli",
            "grail-checkpoint",
            // Its tests sign beacons with the local development key.
            "grail-beacon",
        ],
    ),
    ("trainer", &["grail-protocol", "grail-checkpoint", "grail-cli"]),
    (
        "audit",
        &[
            "grail-protocol",
            "grail-fingerprint",
            "grail-drand",
            "grail-chain",
            "grail-storage",
            "grail-wallet",
            "grail-challenges",
            "grail-cli",
            "grail-miner",
            "grail-validator",
        ],
    ),
    (
        "fuzzing",
        &[
            "grail-protocol",
            "grail-drand",
            "grail-chain",
            "grail-cli",
            "grail-miner",
            "grail-validator",
            // Its seeds are the development chain's encodings.
            "grail-devchain",
        ],
    ),
    // It reads the validators' state databases after the run.
    ("soak", &["grail-validator"]),
];

fn manifest(folder: &str) -> Result<toml::Table, String> {
    let path = repo_root().join(folder).join("Cargo.toml");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    text.parse().map_err(|e| format!("{}: {e}", path.display()))
}

fn workspace_deps(folder: &str) -> Result<BTreeSet<String>, String> {
    let manifest = manifest(folder)?;
    let mut out = BTreeSet::new();
    for section in ["dependencies", "dev-dependencies", "build-dependencies"] {
        if let Some(table) = manifest.get(section).and_then(toml::Value::as_table) {
            out.extend(table.keys().filter(|k| k.starts_with("grail-")).cloned());
        }
    }
    Ok(out)
}

fn crate_name(folder: &str) -> Result<String, String> {
    let m = manifest(folder)?;
    m.get("package")
        .and_then(|p| p.get("name"))
        .and_then(toml::Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| format!("{folder}/Cargo.toml has no package name"))
}

#[test]
fn crates_depend_only_down_the_layering() -> Result<(), String> {
    let mut violations = Vec::new();
    for (folder, allowed) in ALLOWED {
        for dep in workspace_deps(folder)? {
            if !allowed.contains(&dep.as_str()) {
                violations.push(format!("{folder}/Cargo.toml depends on {dep}"));
            }
        }
    }
    assert!(violations.is_empty(), "layering violations: {violations:?}");
    // The check reads real manifests: the validator does name its allowed crates.
    assert!(workspace_deps("validator")?.contains("grail-weights"));
    Ok(())
}

#[test]
fn every_member_has_a_row_and_rows_only_point_to_earlier_rows() -> Result<(), String> {
    let root = manifest(".")?;
    let members: BTreeSet<String> = root["workspace"]["members"]
        .as_array()
        .ok_or("workspace.members")?
        .iter()
        .filter_map(|m| m.as_str().map(str::to_owned))
        .filter(|m| m != "tests")
        .collect();
    let rows: BTreeSet<String> = ALLOWED.iter().map(|(f, _)| (*f).to_owned()).collect();
    assert_eq!(members, rows, "every workspace member (but tests/) has exactly one row");
    let mut earlier = BTreeSet::new();
    for (folder, allowed) in ALLOWED {
        for dep in *allowed {
            assert!(earlier.contains(*dep), "{folder} may depend on {dep}, which is not below it");
        }
        earlier.insert(crate_name(folder)?);
    }
    Ok(())
}
