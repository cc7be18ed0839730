//! Numeric arguments of host calls, checked with one wording in every language.
//!
//! Hosts hand numbers over in their own types (a Python int, a JavaScript number, a C
//! integer); bindings pass them on as an [`OptionValue`] and these functions decide.

use crate::error::{Error, Result};
use crate::settings::OptionValue;

/// The largest integer every host can represent exactly (JavaScript's `Number.MAX_SAFE_INTEGER`).
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// A whole number from 0 to `max`, or 1011 naming `field`.
fn whole(field: &str, value: &OptionValue, max: u64) -> Result<u64> {
    let out_of_range = |shown: String| {
        Error::invalid_parameter(
            field,
            format!("{shown} is not a whole number from 0 to {max}"),
        )
    };
    match *value {
        OptionValue::Int(i) => u64::try_from(i)
            .ok()
            .filter(|v| *v <= max)
            .ok_or_else(|| out_of_range(i.to_string())),
        // `as` is exact here: the value is whole and within 0..=max (at most 2^53).
        OptionValue::Float(f) if f.fract() == 0.0 && (0.0..=max as f64).contains(&f) => {
            Ok(f as u64)
        }
        OptionValue::Float(f) => Err(out_of_range(f.to_string())),
        ref other => Err(Error::invalid_parameter(
            field,
            format!("expected a number, got {}", other.kind()),
        )),
    }
}

/// A `u32` argument (sizes, rates, channel counts).
pub fn u32_arg(field: &str, value: &OptionValue) -> Result<u32> {
    whole(field, value, u64::from(u32::MAX)).map(|v| v as u32)
}

/// An optional timestamp in microseconds; `Null` is none.
pub fn timestamp_us_arg(field: &str, value: &OptionValue) -> Result<Option<u64>> {
    match value {
        OptionValue::Null => Ok(None),
        value => whole(field, value, MAX_SAFE_INTEGER).map(Some),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_number_gives_the_same_outcome_whatever_its_host_type() {
        for (int, float) in [(0, 0.0), (640, 640.0), (4_294_967_295, 4_294_967_295.0)] {
            assert_eq!(
                u32_arg("width", &OptionValue::Int(int)).unwrap(),
                u32_arg("width", &OptionValue::Float(float)).unwrap()
            );
        }
        for (int, float) in [(-1, -1.0), (4_294_967_296, 4_294_967_296.0)] {
            let a = u32_arg("width", &OptionValue::Int(int)).unwrap_err();
            let b = u32_arg("width", &OptionValue::Float(float)).unwrap_err();
            assert_eq!(a, b);
            assert_eq!(
                a.message,
                format!("width: {int} is not a whole number from 0 to 4294967295")
            );
        }
        let e = u32_arg("height", &OptionValue::Float(2.5)).unwrap_err();
        assert_eq!(
            e.message,
            "height: 2.5 is not a whole number from 0 to 4294967295"
        );
        let e = u32_arg("height", &OptionValue::Str("2".into())).unwrap_err();
        assert_eq!(e.message, "height: expected a number, got a string");
    }

    #[test]
    fn timestamps_are_optional_and_bounded_by_what_every_host_represents() {
        assert_eq!(
            timestamp_us_arg("timestamp_us", &OptionValue::Null).unwrap(),
            None
        );
        assert_eq!(
            timestamp_us_arg("timestamp_us", &OptionValue::Int(1_000)).unwrap(),
            Some(1_000)
        );
        let e = timestamp_us_arg("timestamp_us", &OptionValue::Int(-5)).unwrap_err();
        assert_eq!(
            e.message,
            "timestamp_us: -5 is not a whole number from 0 to 9007199254740991"
        );
    }
}
