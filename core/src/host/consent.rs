//! The host's answer to an access request, read the same way in every language.

use crate::settings::OptionValue;

/// Whether a reply of the host's access-request callback allows access: only the boolean
/// `true` does. Anything else — `false`, nothing, a number, a string, a failed callback —
/// denies, so that a permission prompt never opens a camera by accident. A reply that is not
/// a boolean is logged, since it is most likely a mistake in the host. `None` is a reply the
/// binding could not read as a value (an object of its language).
pub fn allows(reply: Option<&OptionValue>) -> bool {
    match reply {
        Some(OptionValue::Bool(allow)) => *allow,
        other => {
            let kind = other.map_or("a value of another kind", OptionValue::kind);
            tracing::warn!(
                "the access request callback returned {kind}, not true or false; access is denied"
            );
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_true_allows() {
        assert!(allows(Some(&OptionValue::Bool(true))));
        assert!(!allows(None));
        for reply in [
            OptionValue::Bool(false),
            OptionValue::Null,
            OptionValue::Int(1),
            OptionValue::Float(1.0),
            OptionValue::Str("yes".into()),
            OptionValue::List(vec![OptionValue::Bool(true)]),
        ] {
            assert!(!allows(Some(&reply)), "{reply:?} allowed access");
        }
    }
}
