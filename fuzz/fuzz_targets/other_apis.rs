//! cargo-fuzz entry point; the harness is `switchyard_fuzz::other_apis`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| switchyard_fuzz::other_apis(data));
