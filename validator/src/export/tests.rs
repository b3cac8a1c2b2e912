use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, UInt32Type};
use arrow_array::Array;
use grail_protocol::codec::encode;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::*;
use crate::pipeline::testutil::{pair, sample_file};
use crate::state::{Verdict, VerdictResult, WindowOutcome};

fn docs(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/export").join(name)
}

/// A data folder with windows 3 and 4 committed, each keeping one file (rollouts 0 checked).
pub(crate) fn data_folder() -> (tempfile::TempDir, Vec<(KeptFile, WindowFile)>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut state = State::open(dir.path()).expect("state");
    let archive = Archive::new(dir.path());
    let mut out = Vec::new();
    for (i, w) in [3u64, 4].into_iter().enumerate() {
        let p = pair(10 + i as u8);
        let file = sample_file(&p, w);
        let cid = archive.keep(&encode(&file).expect("encode")).expect("keep");
        let kept = KeptFile { window: w, hotkey: p.hotkey(), uid: 1, cid, checked: vec![0] };
        let verdict = Verdict {
            hotkey: p.hotkey(),
            uid: 1,
            stage: crate::state::Stage::Duplicates,
            result: VerdictResult::Pass,
            reason: None,
            rollouts_in_file: file.rollouts.len() as u64,
            rollouts_checked: 1,
            unique_verified: 1,
            unique_estimated: 1,
        };
        let outcome = WindowOutcome {
            window: w,
            beacon_round: 7,
            randomness: [1; 32],
            processed_at_unix: 1,
            files: 1,
            verdicts: vec![verdict],
            exclusions: vec![],
        };
        state.record_window_kept(&outcome, std::slice::from_ref(&kept)).expect("record");
        out.push((kept, file));
    }
    (dir, out)
}

#[test]
fn a_row_per_rollout_with_the_files_fields_and_whether_it_was_checked() {
    let (_dir, files) = data_folder();
    let (kept, file) = &files[0];
    let rows = rows_of_file(kept, file);
    assert_eq!(rows.len(), file.rollouts.len());
    assert!(rows.len() > 1, "the sample file has several rollouts");
    for (i, (row, r)) in rows.iter().zip(&file.rollouts).enumerate() {
        assert_eq!(row.window, 3);
        assert_eq!(row.hotkey, kept.hotkey.to_ss58());
        assert_eq!((row.problem_index, row.rollout_index), (r.problem_index, r.rollout_index));
        assert_eq!(row.completion_tokens, r.completion_tokens);
        assert_eq!(row.logprobs, r.logprobs);
        assert_eq!(row.prompt_tokens, r.prompt_tokens);
        assert_eq!((row.reward, row.success, row.advantage), (r.reward, r.success, r.advantage));
        assert_eq!(row.environment, file.header.environment.id);
        assert_eq!(row.file_cid, kept.cid);
        assert_eq!(row.checked, i == 0, "only rollout 0 was checked");
        let model = cid::Cid::try_from(file.header.model_id.as_slice()).expect("a CID");
        assert_eq!(row.model_id, model.to_string());
    }
}

#[test]
fn parquet_and_jsonl_exports_hold_the_same_rows() {
    let (dir, files) = data_folder();
    let want: Vec<RolloutRow> = files.iter().flat_map(|(k, f)| rows_of_file(k, f)).collect();
    let mut seen = Vec::new();
    let out = dir.path().join("rows.parquet");
    let summary = export(dir.path(), 0, 10, Format::Parquet, &out, &mut |d, t| seen.push((d, t)))
        .expect("export");
    assert_eq!(seen, [(0, 2), (1, 2), (2, 2)], "progress per file");
    assert_eq!((summary.windows, summary.files, summary.rows), (2, 2, want.len() as u64));
    assert_eq!(summary.bytes, std::fs::metadata(&out).expect("written").len());
    assert!(!dir.path().join("rows.parquet.partial").exists());

    let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&out).expect("open"))
        .expect("a parquet file");
    assert_eq!(reader.schema().fields(), parquet_file::arrow_schema().fields());
    let batches: Vec<_> = reader.build().expect("reader").map(|b| b.expect("batch")).collect();
    let n: usize = batches.iter().map(|b| b.num_rows()).sum();
    assert_eq!(n, want.len());
    let b = &batches[0];
    let completion = b.column_by_name("completion_tokens").expect("column").as_list::<i32>();
    let logprobs = b.column_by_name("logprobs").expect("column").as_list::<i32>();
    for (i, row) in want.iter().take(b.num_rows()).enumerate() {
        let tokens = completion.value(i);
        assert_eq!(tokens.as_primitive::<UInt32Type>().values().to_vec(), row.completion_tokens);
        let lp = logprobs.value(i);
        assert_eq!(lp.as_primitive::<Float32Type>().values().to_vec(), row.logprobs);
        assert_eq!(lp.null_count(), 0);
    }

    let out = dir.path().join("rows.jsonl");
    let summary = export(dir.path(), 4, 4, Format::Jsonl, &out, &mut |_, _| {}).expect("export");
    assert_eq!(summary.windows, 1);
    let text = std::fs::read_to_string(&out).expect("read");
    let got: Vec<RolloutRow> =
        text.lines().map(|l| serde_json::from_str(l).expect("a row")).collect();
    assert_eq!(got, rows_of_file(&files[1].0, &files[1].1));
    let schema = schema::json_schema();
    let required = schema["required"].as_array().expect("required");
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("json");
        let keys: Vec<&String> = v.as_object().expect("object").keys().collect();
        assert_eq!(keys.len(), required.len(), "{line}");
        assert!(keys.iter().all(|k| required.iter().any(|r| r == k.as_str())), "{line}");
    }
}

#[test]
fn a_bad_range_or_a_changed_kept_file_is_refused_by_name() {
    let (dir, files) = data_folder();
    let out = dir.path().join("x.jsonl");
    let err = export(dir.path(), 5, 4, Format::Jsonl, &out, &mut |_, _| {}).expect_err("range");
    assert!(err.to_string().contains("--since: 5 is after --until 4"), "{err}");
    let archive = Archive::new(dir.path());
    std::fs::write(archive.path(&files[1].0.cid).expect("path"), b"x").expect("tamper");
    let err = export(dir.path(), 0, 9, Format::Jsonl, &out, &mut |_, _| {}).expect_err("tampered");
    assert!(err.to_string().contains(&files[1].0.cid), "{err}");
    assert!(!out.exists(), "nothing half-written is left under the asked name");
    assert!(!dir.path().join("x.jsonl.partial").exists(), "nor under the partial one");
}

/// Run with `GRAIL_WRITE_SCHEMAS=1` to rewrite the published schemas after changing a row.
#[test]
fn the_published_schemas_are_the_codes() {
    let json = format!("{}\n", serde_json::to_string_pretty(&schema::json_schema()).expect("json"));
    let text = parquet_file::parquet_schema_text().expect("parquet schema");
    if std::env::var_os("GRAIL_WRITE_SCHEMAS").is_some() {
        std::fs::write(docs("rollout.schema.json"), &json).expect("write");
        std::fs::write(docs("rollout.parquet.txt"), &text).expect("write");
    }
    let read = |name| std::fs::read_to_string(docs(name)).expect(name);
    assert_eq!(read("rollout.schema.json"), json, "docs/export/rollout.schema.json is stale");
    assert_eq!(read("rollout.parquet.txt"), text, "docs/export/rollout.parquet.txt is stale");
    let fields: Vec<String> =
        parquet_file::arrow_schema().fields().iter().map(|f| f.name().clone()).collect();
    let mut props: Vec<String> = schema::json_schema()["properties"]
        .as_object()
        .expect("properties")
        .keys()
        .cloned()
        .collect();
    let mut sorted = fields;
    sorted.sort();
    props.sort();
    assert_eq!(sorted, props, "both schemas have the same columns");
}

#[test]
fn retention_forgets_old_windows_files_and_names_the_cids_to_delete() {
    let (dir, files) = data_folder();
    let mut state = State::open(dir.path()).expect("state");
    assert_eq!(state.forget_kept_before(3).expect("none older"), Vec::<String>::new());
    let gone = state.forget_kept_before(4).expect("forget");
    assert_eq!(gone, vec![files[0].0.cid.clone()]);
    assert!(!state.is_kept(&files[0].0.cid).expect("lookup"));
    assert!(state.is_kept(&files[1].0.cid).expect("lookup"));
    assert_eq!(state.kept_files(0, 9).expect("kept"), vec![files[1].0.clone()]);
}
