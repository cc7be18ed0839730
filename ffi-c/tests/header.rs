//! The checked-in header must be what cbindgen generates from the current source.

#[test]
fn header_is_current() {
    let generated = include_str!(concat!(env!("OUT_DIR"), "/libpublisher.h"));
    let checked_in = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../include/libpublisher.h"
    ))
    .unwrap_or_default();
    assert!(
        generated == checked_in,
        "include/libpublisher.h is stale: run scripts/update-header and commit the result"
    );
}
