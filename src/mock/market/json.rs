//! A tiny append-only writer for compact JSON objects, used by every payload's `render`: keys are written
//! in call order, numbers digit by digit, decimals as quoted fixed-point strings.
//!
//! Owns JSON syntax only; which keys an event has is the payloads' business.

use super::decimal::{Decimal8, Volume8, write_fixed as write_number};

/// A JSON object being appended to a buffer; finish it with [`JsonObject::end`].
pub struct JsonObject<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> JsonObject<'a> {
    /// Opens an object (`{`).
    pub fn begin(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        JsonObject { out, first: true }
    }

    fn key(&mut self, key: &str) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        write_str(self.out, key);
        self.out.push(b':');
    }

    /// `"key":"value"`.
    pub fn str(mut self, key: &str, value: &str) -> Self {
        self.key(key);
        write_str(self.out, value);
        self
    }

    /// `"key":123`.
    pub fn uint(mut self, key: &str, value: u64) -> Self {
        self.key(key);
        write_number(self.out, value.into(), 0);
        self
    }

    /// `"key":-1`.
    pub fn int(mut self, key: &str, value: i64) -> Self {
        self.key(key);
        write_number(self.out, value.into(), 0);
        self
    }

    /// `"key":true`.
    pub fn bool(mut self, key: &str, value: bool) -> Self {
        self.key(key);
        self.out.extend_from_slice(if value { b"true" } else { b"false" });
        self
    }

    /// `"key":"0.01914100"`.
    pub fn dec(self, key: &str, value: Decimal8) -> Self {
        self.fixed(key, value.0.into(), 8)
    }

    /// `"key":"123456.00000000"` for a wide total.
    pub fn vol(self, key: &str, value: Volume8) -> Self {
        self.fixed(key, value.0, 8)
    }

    /// `"key":"<value / 10^decimals>"`.
    pub fn fixed(mut self, key: &str, value: i128, decimals: u32) -> Self {
        self.key(key);
        self.out.push(b'"');
        write_number(self.out, value, decimals);
        self.out.push(b'"');
        self
    }

    /// `"key":null`.
    pub fn null(mut self, key: &str) -> Self {
        self.key(key);
        self.out.extend_from_slice(b"null");
        self
    }

    /// `"key":[["price","qty"],…]`.
    pub fn levels(mut self, key: &str, levels: &[(Decimal8, Decimal8)]) -> Self {
        self.key(key);
        self.out.push(b'[');
        for (i, (price, qty)) in levels.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            self.out.extend_from_slice(b"[\"");
            write_number(self.out, price.0.into(), 8);
            self.out.extend_from_slice(b"\",\"");
            write_number(self.out, qty.0.into(), 8);
            self.out.extend_from_slice(b"\"]");
        }
        self.out.push(b']');
        self
    }

    /// `"key":<whatever nested writes>`, for nested objects.
    pub fn nested(mut self, key: &str, nested: impl FnOnce(&mut Vec<u8>)) -> Self {
        self.key(key);
        nested(self.out);
        self
    }

    /// Closes the object (`}`).
    pub fn end(self) {
        self.out.push(b'}');
    }
}

/// Appends a JSON string literal, escaping only when needed (symbols and keys never need it).
fn write_str(out: &mut Vec<u8>, value: &str) {
    if value.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push(b'"');
        out.extend_from_slice(value.as_bytes());
        out.push(b'"');
    } else {
        // Writing to a Vec cannot fail; if it ever did, an empty string keeps the JSON valid.
        if serde_json::to_writer(&mut *out, value).is_err() {
            out.extend_from_slice(b"\"\"");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_compact_objects() {
        let mut out = Vec::new();
        let levels = [(Decimal8(1), Decimal8(200_000_000))];
        JsonObject::begin(&mut out)
            .str("e", "x\"y")
            .uint("E", 7)
            .int("f", -1)
            .bool("m", true)
            .dec("p", Decimal8(-5))
            .vol("v", Volume8(10i128.pow(20)))
            .levels("b", &levels)
            .levels("a", &[])
            .null("r")
            .nested("k", |o| JsonObject::begin(o).fixed("P", 1500, 3).end())
            .end();
        let expected = r#"{"e":"x\"y","E":7,"f":-1,"m":true,"p":"-0.00000005","v":"1000000000000.00000000","b":[["0.00000001","2.00000000"]],"a":[],"r":null,"k":{"P":"1.500"}}"#;
        assert_eq!(String::from_utf8(out).unwrap(), expected);
    }
}
