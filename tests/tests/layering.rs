//! DESIGN.md section 2: the arrows only point down. Each crate's `[dependencies]` may name
//! only the workspace crates its row allows (dev-dependencies too, except in `tests/`).

use std::collections::BTreeSet;

use grail_tests::repo_root;

/// `(folder, workspace crates it may depend on)`, from DESIGN.md section 2.
const ALLOWED: &[(&str, &[&str])] = &[
    ("protocol", &[]),
    ("fingerprint", &["grail-protocol"]),
    ("challenges", &["grail-protocol"]),
    ("weights", &["grail-protocol"]),
    ("miner", &["grail-protocol", "grail-fingerprint", "grail-challenges"]),
    ("validator", &["grail-protocol", "grail-fingerprint", "grail-challenges", "grail-weights"]),
];

fn workspace_deps(folder: &str) -> Result<BTreeSet<String>, String> {
    let path = repo_root().join(folder).join("Cargo.toml");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let manifest: toml::Table = text.parse().map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = BTreeSet::new();
    for section in ["dependencies", "dev-dependencies", "build-dependencies"] {
        if let Some(table) = manifest.get(section).and_then(toml::Value::as_table) {
            out.extend(table.keys().filter(|k| k.starts_with("grail-")).cloned());
        }
    }
    Ok(out)
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
