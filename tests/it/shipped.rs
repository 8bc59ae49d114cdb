//! Shipped files stay true: the annotated mock configuration equals the defaults, and every scenario in
//! `scenarios/` validates.

use wschaos::mock::MockConfig;

fn repo(path: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

#[test]
fn the_annotated_mock_configuration_is_the_default() {
    let text = std::fs::read_to_string(repo("scenarios/mock/binance-spot.toml")).unwrap();
    assert_eq!(crate::support::config(&text), MockConfig::default());
}

#[test]
fn every_shipped_scenario_validates() {
    let mut checked = 0;
    for entry in std::fs::read_dir(repo("scenarios")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let scenario = wschaos::scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
            assert!(!scenario.description.is_empty(), "{} tells its story", path.display());
            checked += 1;
        }
    }
    assert!(checked >= 2, "smoke and reconnect-storm at least");
}
