//! libFuzzer target `http`: the property in `switchyard_fuzz_harness::http`.
//! The served pipeline it drives is built before fuzzing starts, outside
//! any input's time limit.
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: {
        switchyard_fuzz_harness::fixture::get();
    },
    |data: &[u8]| switchyard_fuzz_harness::http(data)
);
