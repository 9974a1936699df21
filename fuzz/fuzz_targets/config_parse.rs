//! cargo-fuzz entry point; the harness is `switchyard_fuzz::config_parse`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| switchyard_fuzz::config_parse(data));
