//! model_id and the BN254 fingerprint on the tiny fixture model: golden vectors (computed by an
//! independent Python implementation), invariance under re-encoding, sensitivity to one weight.

// Test helpers outside #[test] fns panic on purpose when a fixture is broken.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use grail_fingerprint::{fingerprint, model_id, Error};
use onnx_protobuf::{AttributeProto, Message, ModelProto, NodeProto};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn tiny() -> PathBuf {
    repo().join("fixtures/models/tiny/model.onnx")
}

fn load(path: &Path) -> ModelProto {
    ModelProto::parse_from_bytes(&std::fs::read(path).unwrap()).unwrap()
}

fn save(model: &ModelProto, dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, model.write_to_bytes().unwrap()).unwrap();
    path
}

fn vectors() -> serde_json::Value {
    let text = std::fs::read_to_string(repo().join("fingerprint/vectors/identity.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn randomness(v: &serde_json::Value) -> Vec<u8> {
    hex::decode(v["beacon_randomness"].as_str().unwrap()).unwrap()
}

#[test]
fn golden_vectors_match() {
    let v = vectors();
    let file = std::fs::read(repo().join(v["model"].as_str().unwrap())).unwrap();
    assert_eq!(
        hex::encode(grail_protocol::hash::sha256(&file)),
        v["model_file_sha256"].as_str().unwrap(),
        "the fixture model changed: rerun fixtures/scripts/identity_vectors.py"
    );
    let weights = grail_fingerprint::read_weights(&tiny()).unwrap();
    assert_eq!(weights.tensors.len() as u64, v["tensor_count"].as_u64().unwrap());
    let elements: u64 = weights.tensors.iter().map(|t| t.num_elements()).sum();
    assert_eq!(elements, v["element_count"].as_u64().unwrap());
    assert_eq!(model_id(&tiny()).unwrap().to_string(), v["model_id"].as_str().unwrap());
    for case in v["fingerprints"].as_array().unwrap() {
        let r = randomness(case);
        let alpha =
            grail_fingerprint::bn254::field_to_bytes(grail_fingerprint::fingerprint_alpha(&r));
        assert_eq!(hex::encode(alpha), case["alpha_le"].as_str().unwrap());
        let fp = grail_fingerprint::fingerprint_of(&weights, &r).unwrap();
        assert_eq!(hex::encode(fp), case["fingerprint_le"].as_str().unwrap());
    }
}

/// Reverses the initializers, stores half of them as `float_data` instead of `raw_data`, and
/// turns one into a Constant node: the same weights, differently encoded.
#[test]
fn reencoding_the_file_keeps_both_values() {
    let dir = tempfile::tempdir().unwrap();
    let mut model = load(&tiny());
    let graph = model.graph.as_mut().unwrap();
    graph.initializer.reverse();
    for t in graph.initializer.iter_mut().step_by(2).filter(|t| t.data_type == 1) {
        t.float_data = t
            .raw_data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        t.raw_data.clear();
    }
    let pos = graph.initializer.iter().position(|t| t.name == "model.norm.weight").unwrap();
    let mut tensor = graph.initializer.remove(pos);
    tensor.name.clear();
    let attr =
        AttributeProto { name: "value".into(), t: Some(tensor).into(), ..Default::default() };
    let node = NodeProto {
        op_type: "Constant".into(),
        output: vec!["model.norm.weight".into()],
        attribute: vec![attr],
        ..Default::default()
    };
    graph.node.insert(0, node);
    let rewritten = save(&model, dir.path(), "model.onnx");
    assert_ne!(std::fs::read(&rewritten).unwrap(), std::fs::read(tiny()).unwrap());

    assert_eq!(model_id(&rewritten).unwrap(), model_id(&tiny()).unwrap());
    let r = randomness(&vectors()["fingerprints"][0]);
    assert_eq!(fingerprint(&rewritten, &r).unwrap(), fingerprint(&tiny(), &r).unwrap());
}

#[test]
fn external_data_form_has_the_same_values() {
    let external = repo().join("fixtures/models/tiny-external/model.onnx");
    assert!(
        std::fs::metadata(&external).unwrap().len() < 64 * 1024,
        "weights must be outside the .onnx"
    );
    assert_eq!(model_id(&external).unwrap(), model_id(&tiny()).unwrap());
    let r = randomness(&vectors()["fingerprints"][1]);
    assert_eq!(fingerprint(&external, &r).unwrap(), fingerprint(&tiny(), &r).unwrap());
}

#[test]
fn changing_one_weight_changes_both_values() {
    let dir = tempfile::tempdir().unwrap();
    let mut model = load(&tiny());
    let graph = model.graph.as_mut().unwrap();
    let t = graph
        .initializer
        .iter_mut()
        .find(|t| t.name == "model.layers.1.mlp.up_proj.weight")
        .unwrap();
    // The smallest possible change: one ulp of one element.
    t.raw_data[40] ^= 1;
    let changed = save(&model, dir.path(), "model.onnx");
    assert_ne!(model_id(&changed).unwrap(), model_id(&tiny()).unwrap());
    let r = randomness(&vectors()["fingerprints"][0]);
    assert_ne!(fingerprint(&changed, &r).unwrap(), fingerprint(&tiny(), &r).unwrap());
}

#[test]
fn renaming_a_weight_changes_model_id() {
    let dir = tempfile::tempdir().unwrap();
    let mut model = load(&tiny());
    let graph = model.graph.as_mut().unwrap();
    graph.initializer[0].name.push('_');
    let renamed = save(&model, dir.path(), "model.onnx");
    assert_ne!(model_id(&renamed).unwrap(), model_id(&tiny()).unwrap());
}

#[test]
fn malformed_files_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(tiny()).unwrap();
    let truncated = dir.path().join("truncated.onnx");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    assert!(matches!(model_id(&truncated), Err(Error::Protobuf { .. })));

    let mut model = load(&tiny());
    let graph = model.graph.as_mut().unwrap();
    graph.initializer[3].dims.push(2);
    let name = graph.initializer[3].name.clone();
    let wrong_dims = save(&model, dir.path(), "dims.onnx");
    let err = model_id(&wrong_dims).unwrap_err().to_string();
    assert!(err.contains(&name) && err.contains("raw_data has"), "{err}");

    // External data pointing outside the model folder, and past the end of its file.
    let ext_dir = repo().join("fixtures/models/tiny-external");
    let mut model = load(&ext_dir.join("model.onnx"));
    let t = &mut model.graph.as_mut().unwrap().initializer[0];
    let loc = t.external_data.iter_mut().find(|e| e.key == "location").unwrap();
    loc.value = "../model.onnx.data".into();
    let escaping = save(&model, dir.path(), "escaping.onnx");
    let err = model_id(&escaping).unwrap_err().to_string();
    assert!(err.contains("leaves the model folder"), "{err}");

    let mut model = load(&ext_dir.join("model.onnx"));
    std::fs::copy(ext_dir.join("model.onnx.data"), dir.path().join("model.onnx.data")).unwrap();
    let t = &mut model.graph.as_mut().unwrap().initializer[0];
    let off = t.external_data.iter_mut().find(|e| e.key == "offset");
    match off {
        Some(e) => e.value = "100000000".into(),
        None => t.external_data.push(onnx_protobuf::StringStringEntryProto {
            key: "offset".into(),
            value: "100000000".into(),
            ..Default::default()
        }),
    }
    let past_end = save(&model, dir.path(), "past_end.onnx");
    let err = model_id(&past_end).unwrap_err().to_string();
    assert!(err.contains("exceeds model.onnx.data"), "{err}");
}
