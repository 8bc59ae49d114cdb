//! See `wschaos::fuzz_entry::http_head`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wschaos::fuzz_entry::http_head(data));
