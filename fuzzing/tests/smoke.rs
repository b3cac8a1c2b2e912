//! The fuzz targets in the test suite: every target has committed seeds and a cargo-fuzz
//! binary, every seed gets past its parser, and deterministic mutations of the seeds break no
//! invariant. The long runs are `scripts/fuzz.sh`.

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};

use grail_fuzzing::mutate::{mutate, Rng};
use grail_fuzzing::TARGETS;

/// Mutations per target in the smoke run (the metadata target's inputs are 300 kB, so it
/// gets fewer).
const MUTATIONS: usize = 20_000;
const METADATA_MUTATIONS: usize = 300;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = fuzz_dir().join("seeds").join(target);
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let path = e.expect("entry").path();
            let name = path.file_name().expect("name").to_string_lossy().into_owned();
            (name, std::fs::read(&path).expect("read seed"))
        })
        .collect();
    out.sort();
    out
}

#[test]
fn every_target_has_seeds_and_a_cargo_fuzz_binary_and_nothing_else_is_there() {
    let manifest = std::fs::read_to_string(fuzz_dir().join("Cargo.toml")).expect("fuzz/Cargo.toml");
    let mut binaries = Vec::new();
    for entry in std::fs::read_dir(fuzz_dir().join("fuzz_targets")).expect("fuzz_targets") {
        let path = entry.expect("entry").path();
        let name = path.file_stem().expect("stem").to_string_lossy().into_owned();
        let source = std::fs::read_to_string(&path).expect("read");
        assert!(
            source.contains(&format!("grail_fuzzing::harness(\"{name}\")")),
            "{}: runs another harness than its name",
            path.display()
        );
        assert!(manifest.contains(&format!("name = \"{name}\"")), "fuzz/Cargo.toml lacks {name}");
        binaries.push(name);
    }
    binaries.sort();
    let mut names: Vec<String> = TARGETS.iter().map(|(n, _)| (*n).to_owned()).collect();
    names.sort();
    assert_eq!(binaries, names, "fuzz/fuzz_targets/ and TARGETS");
    for (name, _) in TARGETS {
        assert!(!seeds(name).is_empty(), "fuzz/seeds/{name} is empty");
    }
}

#[test]
fn every_seed_gets_past_its_parser() {
    for (target, harness) in TARGETS {
        for (name, bytes) in seeds(target) {
            assert!(harness(&bytes), "fuzz/seeds/{target}/{name} is refused by its parser");
        }
    }
}

#[test]
fn mutations_of_the_seeds_break_no_invariant() {
    for (index, (target, harness)) in TARGETS.iter().enumerate() {
        let seeds = seeds(target);
        let runs = if *target == "chain_metadata" { METADATA_MUTATIONS } else { MUTATIONS };
        let mut rng = Rng::new(index as u64);
        let mut accepted = 0usize;
        for i in 0..runs {
            let (name, seed) = &seeds[i % seeds.len()];
            let input = mutate(seed, &mut rng);
            let run = std::panic::catch_unwind(AssertUnwindSafe(|| harness(&input)));
            match run {
                Ok(true) => accepted += 1,
                Ok(false) => {}
                Err(_) => panic!(
                    "{target}: mutation {i} of seed {name} broke an invariant; input (hex): {}",
                    hex(&input)
                ),
            }
        }
        // Both outcomes occur, so the mutations reach past the parsers and into their errors.
        assert!(accepted < runs, "{target}: all {runs} mutations were accepted");
        eprintln!("{target}: {runs} mutations, {accepted} accepted");
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
