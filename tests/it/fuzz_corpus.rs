//! Every input kept in `fuzz/corpus/` (the seeds, and what `cargo fuzz` found and kept) replayed through
//! its target's function on stable, so that a crash a fuzzer once found fails `cargo test` for good, with or
//! without a nightly toolchain. The scenario target also replays every shipped scenario.

use wschaos::fuzz_entry;

fn inputs(target: &str) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let dir = crate::support::repo_path(&format!("fuzz/corpus/{target}"));
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.is_file())
        .collect();
    if target == "scenario" {
        let shipped = std::fs::read_dir(crate::support::repo_path("scenarios")).unwrap();
        files.extend(
            shipped.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "toml")),
        );
    }
    files.sort();
    files.into_iter().map(|path| (path.clone(), std::fs::read(&path).unwrap())).collect()
}

/// A target reading bytes, and one reading text, by name.
type BytesTarget = (&'static str, fn(&[u8]));
type TextTarget = (&'static str, fn(&str));

#[test]
fn every_kept_fuzz_input_passes_its_target() {
    let bytes: [BytesTarget; 3] = [
        ("http_head", fuzz_entry::http_head),
        ("fault_json", fuzz_entry::fault_json),
        ("adapter_report", fuzz_entry::adapter_report),
    ];
    let texts: [TextTarget; 3] = [
        ("url_route", fuzz_entry::url_route),
        ("live_request", fuzz_entry::live_request),
        ("scenario", fuzz_entry::scenario),
    ];
    let mut replayed = 0;
    for (target, run) in bytes {
        for (_path, data) in inputs(target) {
            run(&data);
            replayed += 1;
        }
    }
    for (target, run) in texts {
        // libFuzzer hands a `&str` target only the inputs that are UTF-8.
        for (_path, data) in inputs(target) {
            if let Ok(text) = std::str::from_utf8(&data) {
                run(text);
                replayed += 1;
            }
        }
    }
    assert!(replayed >= 20, "the corpus is in the repository: {replayed} inputs");
}
