//! libFuzzer target `anthropic_body`: the property in `switchyard_fuzz_harness::anthropic_body`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| switchyard_fuzz_harness::anthropic_body(data));
