//! See `wschaos::fuzz_entry::url_route`.
#![no_main]

libfuzzer_sys::fuzz_target!(|text: &str| wschaos::fuzz_entry::url_route(text));
