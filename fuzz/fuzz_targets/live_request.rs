//! See `wschaos::fuzz_entry::live_request`.
#![no_main]

libfuzzer_sys::fuzz_target!(|text: &str| wschaos::fuzz_entry::live_request(text));
