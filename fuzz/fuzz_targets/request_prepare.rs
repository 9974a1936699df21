//! cargo-fuzz entry point; the harness is `switchyard_fuzz::request_prepare`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| switchyard_fuzz::request_prepare(data));
