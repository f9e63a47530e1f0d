//! libFuzzer target `guest_returns`: the property in `switchyard_fuzz_harness::guest_returns`.
//! The served pipeline it drives is built before fuzzing starts, outside
//! any input's time limit.
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: {
        switchyard_fuzz_harness::fixture::get();
    },
    |data: &[u8]| switchyard_fuzz_harness::guest_returns(data)
);
