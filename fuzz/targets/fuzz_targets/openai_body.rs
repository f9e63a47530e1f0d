//! libFuzzer target `openai_body`: the property in `switchyard_fuzz_harness::openai_body`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| switchyard_fuzz_harness::openai_body(data));
