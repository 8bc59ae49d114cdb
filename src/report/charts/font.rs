//! The charts' font: DejaVu Sans, embedded in the binary (the `dejavu` crate; the DejaVu fonts are
//! under the Bitstream Vera licence, free to embed and redistribute), registered with plotters as
//! `sans-serif`. Charts therefore render the same text on any machine, with no system font library or
//! font file installed; SVG text names `sans-serif` and the viewer's own font draws it.

use std::sync::OnceLock;

use anyhow::{Result, anyhow};
use plotters::style::FontStyle;

/// The family name the charts ask plotters for.
pub const FAMILY: &str = "sans-serif";

/// Registers the embedded font once per process; later calls return the first outcome.
pub fn ensure_registered() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED
        .get_or_init(|| plotters::style::register_font(FAMILY, FontStyle::Normal, dejavu::sans::regular()).is_ok());
    if ok { Ok(()) } else { Err(anyhow!("the embedded chart font (DejaVu Sans) could not be loaded")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_font_loads() {
        ensure_registered().unwrap();
        ensure_registered().unwrap();
    }
}
