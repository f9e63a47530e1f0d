//! libFuzzer target `manifest`: the property in `switchyard_fuzz_harness::manifest`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| switchyard_fuzz_harness::manifest(data));
