#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Some(harness) = grail_fuzzing::harness("checkpoint") {
        harness(data);
    }
});
