//! libFuzzer target `schema`: the property in `switchyard_fuzz_harness::schema`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| switchyard_fuzz_harness::schema(data));
