//! libFuzzer target `sse`: the property in `switchyard_fuzz_harness::sse`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| switchyard_fuzz_harness::sse(data));
