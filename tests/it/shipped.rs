//! Shipped files stay true: the annotated mock configuration parses, validates and equals the defaults.

use wschaos::mock::MockConfig;

#[test]
fn the_annotated_mock_configuration_is_the_default() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/mock/binance-spot.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(crate::support::config(&text), MockConfig::default());
}
