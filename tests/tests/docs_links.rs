//! The documents' links stay inside the repository and point at files that exist: every
//! relative Markdown link of the README, `docs/`, `protocol/README.md` and `reference/README.md`
//! resolves, from its own file's folder, to a path under the repository root.

#![allow(clippy::unwrap_used)]

use std::path::{Component, Path, PathBuf};

use grail_tests::repo_root;

/// The targets of `](target)` links in `text`.
fn link_targets(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("](") {
        rest = &rest[i + 2..];
        if let Some(end) = rest.find(')') {
            out.push(rest[..end].to_owned());
            rest = &rest[end..];
        }
    }
    out
}

/// `path` with `.` and `..` resolved lexically; `None` if it climbs above its root.
fn normalize(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    Some(out)
}

#[test]
fn every_document_link_resolves_inside_the_repository() {
    let root = repo_root();
    let mut docs: Vec<PathBuf> =
        vec!["README.md".into(), "protocol/README.md".into(), "reference/README.md".into()];
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        let name = PathBuf::from("docs").join(entry.unwrap().file_name());
        if name.extension().is_some_and(|e| e == "md") {
            docs.push(name);
        }
    }
    let mut bad = Vec::new();
    let mut checked = 0;
    for doc in &docs {
        let text = std::fs::read_to_string(root.join(doc)).unwrap();
        for target in link_targets(&text) {
            if target.starts_with("http://") || target.starts_with("https://") {
                continue;
            }
            let file = target.split('#').next().unwrap_or_default();
            if file.is_empty() {
                continue;
            }
            checked += 1;
            let rel = doc.parent().unwrap().join(file);
            match normalize(&rel) {
                Some(p) if root.join(&p).exists() => {}
                Some(p) => bad.push(format!(
                    "{}: {target} ({} does not exist)",
                    doc.display(),
                    p.display()
                )),
                None => bad.push(format!("{}: {target} leaves the repository", doc.display())),
            }
        }
    }
    assert!(checked > 5, "the check found only {checked} links");
    assert!(bad.is_empty(), "broken or outside links:\n{}", bad.join("\n"));
}
