#![allow(clippy::unwrap_used)]

use parity_scale_codec::{Decode, Encode};
use scale_info::{TypeDef, TypeDefPrimitive};
use scale_value::{Composite, ValueDef, Variant};
use subxt_metadata::{Metadata, StorageHasher};

use super::*;
use crate::metadata::{checked_metadata, FINNEY_METADATA};

fn finney() -> Metadata {
    checked_metadata(FINNEY_METADATA, "finney").unwrap()
}

fn s3(url: &str) -> MinerCommitment {
    MinerCommitment {
        store_url: url.into(),
        endpoint: None,
        region: None,
        allow_http: false,
        read_credentials: None,
    }
}

fn texts(fields: &[&str]) -> Vec<Vec<u8>> {
    fields.iter().map(|f| f.as_bytes().to_vec()).collect()
}

#[test]
fn commitments_round_trip_through_their_canonical_fields() {
    let full = MinerCommitment {
        endpoint: Some("https://0123abcd.r2.cloudflarestorage.com".into()),
        region: Some("auto".into()),
        read_credentials: Some((
            "AKIAIOSFODNN7EXAMPLE".into(),
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
        )),
        ..s3("s3://grail-miner-7/windows")
    };
    let local_minio = MinerCommitment {
        endpoint: Some("http://127.0.0.1:9000".into()),
        allow_http: true,
        ..s3("s3://bucket")
    };
    let creds_only = MinerCommitment {
        read_credentials: Some(("id".into(), "se:cret".into())),
        ..s3("s3://b/a/b/c")
    };
    let cases: Vec<(MinerCommitment, Vec<&str>)> = vec![
        (s3("s3://bucket"), vec!["grail1 s3://bucket"]),
        (s3("file:///srv/grail/miner-7"), vec!["grail1 file:///srv/grail/miner-7"]),
        (
            full,
            vec![
                "grail1 s3://grail-miner-7/windows",
                "endpoint=https://0123abcd.r2.cloudflarestorage.com region=auto",
                "AKIAIOSFODNN7EXAMPLE:wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            ],
        ),
        (local_minio, vec!["grail1 s3://bucket", "endpoint=http://127.0.0.1:9000 allow_http=true"]),
        (creds_only, vec!["grail1 s3://b/a/b/c", "", "id:se:cret"]),
    ];
    for (commitment, expected) in cases {
        let fields = commitment.to_fields().unwrap();
        assert_eq!(fields, texts(&expected));
        assert_eq!(MinerCommitment::from_fields(&fields).unwrap(), commitment);
        let data: Vec<Data> = fields.iter().map(|f| Data::raw(f).unwrap()).collect();
        assert_eq!(MinerCommitment::from_data(&data).unwrap(), commitment);
    }
    // Settings in any order, read the same.
    let reordered = texts(&["grail1 s3://b", "allow_http=true region=eu-west-1"]);
    let parsed = MinerCommitment::from_fields(&reordered).unwrap();
    assert_eq!(parsed.region.as_deref(), Some("eu-west-1"));
    assert!(parsed.allow_http);
    assert_eq!(
        parsed.to_fields().unwrap(),
        texts(&["grail1 s3://b", "region=eu-west-1 allow_http=true"])
    );
}

#[test]
fn every_error_names_its_field_and_reason() {
    use CommitmentError as E;
    let long = format!("grail1 s3://{}", "b".repeat(MAX_RAW_BYTES - 11));
    assert_eq!(long.len(), 129);
    let exactly = &long[..128];
    assert!(MinerCommitment::from_fields(&texts(&[exactly])).is_ok(), "128 bytes fit");
    let bad_url = |url: &str| E::BadUrl { field: 0, url: url.into(), reason: String::new() };
    let cases: Vec<(Vec<Vec<u8>>, E)> = vec![
        (vec![], E::NoFields),
        (texts(&["grail1 s3://b", "", "a:b", ""]), E::TooManyFields { count: 4 }),
        (texts(&[&long]), E::TooLong { field: 0, len: 129 }),
        (vec![b"grail1 s3://b".to_vec(), vec![b'r'; 129]], E::TooLong { field: 1, len: 129 }),
        (vec![b"grail1 s3://b".to_vec(), vec![0xff, 0xfe]], E::NotUtf8 { field: 1 }),
        (texts(&["s3://b"]), E::MissingPrefix { field: 0 }),
        (texts(&["grail1s3://b"]), E::MissingPrefix { field: 0 }),
        (texts(&["grail2 s3://b"]), E::MissingPrefix { field: 0 }),
        (texts(&["grail1 https://b"]), E::UnknownScheme { field: 0, url: "https://b".into() }),
        (texts(&["grail1 gs://b"]), E::UnknownScheme { field: 0, url: "gs://b".into() }),
        (texts(&["grail1 s3://"]), bad_url("s3://")),
        (texts(&["grail1 s3://b c"]), bad_url("s3://b c")),
        (texts(&["grail1 s3://b/"]), bad_url("s3://b/")),
        (texts(&["grail1 s3://b//p"]), bad_url("s3://b//p")),
        (texts(&["grail1 s3://b?x"]), bad_url("s3://b?x")),
        (texts(&["grail1 file://rel/dir"]), bad_url("file://rel/dir")),
        (
            texts(&["grail1 s3://b", "endpoint=https://h colour=red"]),
            E::UnknownSetting { field: 1, key: "colour".into() },
        ),
        (texts(&["grail1 file:///d", "region=x"]), E::NotForFileStore { field: 1 }),
        (texts(&["grail1 file:///d", "", "id:secret"]), E::NotForFileStore { field: 2 }),
        (
            texts(&["grail1 s3://b", "", "nocolon"]),
            E::BadCredentials { field: 2, reason: String::new() },
        ),
        (
            texts(&["grail1 s3://b", "", ":secret"]),
            E::BadCredentials { field: 2, reason: String::new() },
        ),
        (
            texts(&["grail1 s3://b", "", "id:"]),
            E::BadCredentials { field: 2, reason: String::new() },
        ),
        (
            texts(&["grail1 s3://b", "", "id:se cret"]),
            E::BadCredentials { field: 2, reason: String::new() },
        ),
    ];
    let settings = [
        "region",
        "region=",
        "region=a region=b",
        "region=eu/west",
        "allow_http=false",
        "allow_http=yes",
        "region=a  allow_http=true",
        " region=a",
        "endpoint=ftp://h",
        "endpoint=http://h",
        "endpoint=https://",
        "endpoint=https://h/path",
        "endpoint=https://h:",
        "endpoint=https://h:70000",
        "endpoint=https://h:8a",
        "endpoint=https://user@h",
    ];
    let mut cases = cases;
    for s in settings {
        cases.push((
            texts(&["grail1 s3://b", s]),
            E::BadSetting { field: 1, setting: String::new(), reason: String::new() },
        ));
    }
    for (fields, expected) in cases {
        let got = MinerCommitment::from_fields(&fields).unwrap_err();
        // The reason texts are for people; the variant and the field are the contract.
        let erase = |e: &E| match e.clone() {
            E::BadUrl { field, url, .. } => E::BadUrl { field, url, reason: String::new() },
            E::BadSetting { field, .. } => {
                E::BadSetting { field, setting: String::new(), reason: String::new() }
            }
            E::BadCredentials { field, .. } => E::BadCredentials { field, reason: String::new() },
            other => other,
        };
        assert_eq!(erase(&got), expected, "{fields:?}: {got}");
        let text = got.to_string();
        if !matches!(got, E::NoFields | E::TooManyFields { .. }) {
            assert!(text.starts_with("commitment field "), "{text}");
        }
    }
    let too_long = E::TooLong { field: 0, len: 129 }.to_string();
    assert_eq!(too_long, "commitment field 0: 129 bytes, over the limit of 128");
    assert_eq!(E::TooManyFields { count: 4 }.to_string(), "commitment: 4 fields, at most 3");

    // A field that is not Raw, on chain.
    let data = vec![Data::raw(b"grail1 s3://b").unwrap(), Data::Sha256([0; 32])];
    assert_eq!(
        MinerCommitment::from_data(&data).unwrap_err(),
        E::NotRaw { field: 1, kind: "Sha256" }
    );
    // What from_fields refuses, to_fields refuses.
    let http = MinerCommitment { endpoint: Some("http://h".into()), ..s3("s3://b") };
    assert!(matches!(http.to_fields(), Err(E::BadSetting { field: 1, .. })));
    let colon =
        MinerCommitment { read_credentials: Some(("a:b".into(), "c".into())), ..s3("s3://b") };
    assert!(matches!(colon.to_fields(), Err(E::BadCredentials { field: 2, .. })));
    let file = MinerCommitment { region: Some("x".into()), ..s3("file:///d") };
    assert_eq!(file.to_fields(), Err(E::NotForFileStore { field: 1 }));
    let spaced = MinerCommitment { region: Some("a region=b".into()), ..s3("s3://b") };
    assert!(matches!(spaced.to_fields(), Err(E::BadSetting { field: 1, .. })));
}

fn all_data() -> Vec<(Data, Vec<u8>)> {
    let h = |b: u8| [b; 32];
    let cat = |parts: &[&[u8]]| parts.concat();
    vec![
        (Data::None, vec![0]),
        (Data::raw(b"").unwrap(), vec![1]),
        (Data::raw(b"abc").unwrap(), vec![4, b'a', b'b', b'c']),
        (Data::raw(&[7; 128]).unwrap(), cat(&[&[129], &[7; 128]])),
        (Data::BlakeTwo256(h(1)), cat(&[&[130], &h(1)])),
        (Data::Sha256(h(2)), cat(&[&[131], &h(2)])),
        (Data::Keccak256(h(3)), cat(&[&[132], &h(3)])),
        (Data::ShaThree256(h(4)), cat(&[&[133], &h(4)])),
        (
            Data::TimelockEncrypted {
                encrypted: BoundedBytes::new(vec![1, 2, 3]).unwrap(),
                reveal_round: 7,
            },
            vec![134, 0x0c, 1, 2, 3, 7, 0, 0, 0, 0, 0, 0, 0],
        ),
        (Data::ResetBondsFlag, vec![135]),
        (
            Data::BigRaw(BoundedBytes::new(vec![9; 300]).unwrap()),
            cat(&[&[136, 0xb1, 0x04], &[9; 300]]),
        ),
    ]
}

#[test]
fn data_encodes_as_pallet_commitments_does() {
    for (data, bytes) in all_data() {
        assert_eq!(data.encode(), bytes, "{data:?}");
        assert_eq!(Data::decode(&mut bytes.as_slice()).unwrap(), data);
    }
    assert!(Data::raw(&[0; 129]).is_none());
    let refused: Vec<Vec<u8>> = vec![
        vec![137],
        vec![255],
        vec![4, b'a'],   // Raw3 cut short
        vec![130, 1, 2], // a hash cut short
        // A ciphertext of 1025 bytes, a BigRaw of 513: over their bounds.
        [&[134u8, 0x05, 0x10][..], &[0; 1025], &[0; 8]].concat(),
        [&[136u8, 0x05, 0x08][..], &[0; 513]].concat(),
    ];
    for bytes in refused {
        assert!(Data::decode(&mut bytes.as_slice()).is_err(), "{bytes:?}");
    }
    let four = [&[0x10u8][..], &[0, 0, 0, 0]].concat();
    assert!(CommitmentInfo::decode(&mut four.as_slice()).is_err(), "BoundedVec<Data, 3>");
    let three = [&[0x0cu8][..], &[0, 0, 0]].concat();
    assert_eq!(CommitmentInfo::decode(&mut three.as_slice()).unwrap().fields.len(), 3);
}

#[test]
fn a_registration_golden_vector() {
    // deposit 5 (u64 LE), block 4_000_000 (u32 LE), 2 fields: Raw16 `grail1 file:///g`, None.
    let hex = concat!(
        "0500000000000000",
        "00093d00",
        "08",
        "11",
        "677261696c312066696c653a2f2f2f67",
        "00",
    );
    let bytes = hex::decode(hex).unwrap();
    let r = Registration::decode(&mut bytes.as_slice()).unwrap();
    assert_eq!(r.deposit, 5);
    assert_eq!(r.block, 4_000_000);
    assert_eq!(r.info.fields, vec![Data::raw(b"grail1 file:///g").unwrap(), Data::None]);
    assert_eq!(r.encode(), bytes);
    assert_eq!(r.raw_fields(), Err(CommitmentError::NotRaw { field: 1, kind: "None" }));
    let one =
        Registration { info: CommitmentInfo { fields: r.info.fields[..1].to_vec() }, ..r.clone() };
    let parsed = MinerCommitment::from_fields(&one.raw_fields().unwrap()).unwrap();
    assert_eq!(parsed.store_url, "file:///g");
}

fn variant_fields(
    md: &Metadata,
    v: &scale_info::Variant<scale_info::form::PortableForm>,
) -> String {
    v.fields
        .iter()
        .map(|f| {
            let ty = &md.types().resolve(f.ty.id).unwrap().type_def;
            let shape = match ty {
                TypeDef::Array(a) => format!("[u8; {}]", a.len),
                TypeDef::Primitive(TypeDefPrimitive::U64) => "u64".into(),
                TypeDef::Composite(c) if c.fields.len() == 1 => {
                    // BoundedVec<u8, N>: a composite around Vec<u8>.
                    match &md.types().resolve(c.fields[0].ty.id).unwrap().type_def {
                        TypeDef::Sequence(_) => "Vec<u8>".into(),
                        other => format!("{other:?}"),
                    }
                }
                other => format!("{other:?}"),
            };
            match &f.name {
                Some(n) => format!("{n}: {shape}"),
                None => shape,
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[test]
fn the_types_are_the_metadatas() {
    let md = finney();
    let pallet = md.pallet_by_name("Commitments").unwrap();
    let entry = pallet.storage().unwrap().entry_by_name("CommitmentOf").unwrap();
    let hashers: Vec<StorageHasher> = entry.keys().map(|k| k.hasher).collect();
    assert_eq!(hashers, vec![StorageHasher::Identity, StorageHasher::Twox64Concat]);
    let reg_ty = md.types().resolve(entry.value_ty()).unwrap();
    assert_eq!(reg_ty.path.segments, ["pallet_commitments", "types", "Registration"]);
    let TypeDef::Composite(reg) = &reg_ty.type_def else { panic!("{reg_ty:?}") };
    let prim = |id: u32| match &md.types().resolve(id).unwrap().type_def {
        TypeDef::Primitive(p) => format!("{p:?}"),
        other => format!("{other:?}"),
    };
    let names: Vec<_> = reg.fields.iter().map(|f| f.name.clone().unwrap()).collect();
    assert_eq!(names, ["deposit", "block", "info"]);
    assert_eq!(prim(reg.fields[0].ty.id), "U64", "Balance");
    assert_eq!(prim(reg.fields[1].ty.id), "U32", "BlockNumber");

    // Data: None, Raw0..Raw128, the hashes, TimelockEncrypted, ResetBondsFlag, BigRaw.
    let call = pallet.call_variant_by_name("set_commitment").unwrap();
    let info_ty = md.types().resolve(call.fields[1].ty.id).unwrap();
    assert_eq!(info_ty.path.segments, ["pallet_commitments", "types", "CommitmentInfo"]);
    let data_id = md
        .types()
        .types
        .iter()
        .find(|t| t.ty.path.segments == ["pallet_commitments", "types", "Data"])
        .unwrap()
        .id;
    let TypeDef::Variant(data) = &md.types().resolve(data_id).unwrap().type_def else { panic!() };
    let mut expected = vec![("None".to_owned(), 0u8, String::new())];
    for n in 0..=128u8 {
        expected.push((format!("Raw{n}"), n + 1, format!("[u8; {n}]")));
    }
    for (i, h) in ["BlakeTwo256", "Sha256", "Keccak256", "ShaThree256"].iter().enumerate() {
        expected.push(((*h).to_owned(), 130 + i as u8, "[u8; 32]".into()));
    }
    expected.push((
        "TimelockEncrypted".into(),
        134,
        "encrypted: Vec<u8>, reveal_round: u64".into(),
    ));
    expected.push(("ResetBondsFlag".into(), 135, String::new()));
    expected.push(("BigRaw".into(), 136, "Vec<u8>".into()));
    let got: Vec<(String, u8, String)> =
        data.variants.iter().map(|v| (v.name.clone(), v.index, variant_fields(&md, v))).collect();
    assert_eq!(got, expected);
    let errors: Vec<_> = pallet.error_variants().unwrap().iter().map(|v| v.name.clone()).collect();
    assert_eq!(
        errors,
        [
            "TooManyFieldsInCommitmentInfo",
            "AccountNotAllowedCommit",
            "SpaceLimitExceeded",
            "UnexpectedUnreserveLeftover"
        ]
    );
    let constant = |name: &str| pallet.constant_by_name(name).unwrap().value().to_vec();
    assert_eq!(constant("MaxFields"), 3u32.encode());
    assert_eq!(constant("InitialDeposit"), 0u64.encode());
    assert_eq!(constant("FieldDeposit"), 0u64.encode());
}

/// Our encoding, decoded by scale-value against the metadata's types, and the values we hand
/// subxt, encoded by scale-value, are the same bytes.
#[test]
fn the_metadata_decodes_and_encodes_the_same_bytes() {
    let md = finney();
    let pallet = md.pallet_by_name("Commitments").unwrap();
    let reg_id = pallet.storage().unwrap().entry_by_name("CommitmentOf").unwrap().value_ty();
    let info_id = pallet.call_variant_by_name("set_commitment").unwrap().fields[1].ty.id;
    let data = all_data();
    for chunk in data.chunks(3) {
        let info = CommitmentInfo { fields: chunk.iter().map(|(d, _)| d.clone()).collect() };
        let reg = Registration { deposit: 42, block: 77, info: info.clone() };
        let bytes = reg.encode();
        let mut input = bytes.as_slice();
        let v = scale_value::scale::decode_as_type(&mut input, reg_id, md.types()).unwrap();
        assert!(input.is_empty());
        let ValueDef::Composite(Composite::Named(fields)) = &v.value else { panic!("{v:?}") };
        assert_eq!(fields[1].1.as_u128(), Some(77));
        // The variant names scale-value read are the ones to_value writes.
        let names: Vec<String> = chunk.iter().map(|(d, _)| variant_name(&d.to_value())).collect();
        let decoded = format!("{v:?}");
        for n in &names {
            assert!(decoded.contains(&format!("name: \"{n}\"")), "{n} in {decoded}");
        }
        let mut out = Vec::new();
        scale_value::scale::encode_as_type(&info.to_value(), info_id, md.types(), &mut out)
            .unwrap();
        assert_eq!(out, info.encode(), "{names:?}");
    }
}

fn variant_name(v: &Value) -> String {
    match &v.value {
        ValueDef::Variant(Variant { name, .. }) => name.clone(),
        other => panic!("{other:?}"),
    }
}
