//! CSV text with a header line from serde rows, and rows back from it: what the run directory's `.csv`
//! formats share.

use anyhow::{Context, Result};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// CSV text of `rows`, with a header line.
pub fn render<T: Serialize>(rows: &[T]) -> Result<Vec<u8>> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    for row in rows {
        writer.serialize(row).context("could not write a CSV row")?;
    }
    writer.into_inner().context("could not finish the CSV text")
}

/// The rows of CSV text with a header line.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<Vec<T>, csv::Error> {
    csv::Reader::from_reader(bytes).deserialize().collect()
}
