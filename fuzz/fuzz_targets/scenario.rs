//! See `wschaos::fuzz_entry::scenario`.
#![no_main]

libfuzzer_sys::fuzz_target!(|text: &str| wschaos::fuzz_entry::scenario(text));
