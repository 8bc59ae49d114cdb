//! See `wschaos::fuzz_entry::fault_json`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wschaos::fuzz_entry::fault_json(data));
