//! See `wschaos::fuzz_entry::adapter_report`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wschaos::fuzz_entry::adapter_report(data));
