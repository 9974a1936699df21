//! cargo-fuzz entry point; the harness is `switchyard_fuzz::parse_error`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| switchyard_fuzz::parse_error(data));
