//! cargo-fuzz entry point; the harness is `switchyard_fuzz::sse_stream`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| switchyard_fuzz::sse_stream(data));
