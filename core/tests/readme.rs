//! The README's error table is the core's table, row for row.

#[test]
fn readme_error_table_is_the_core_table() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md at the repository root");
    let section = readme
        .split("## Errors")
        .nth(1)
        .expect("README has an Errors section");
    let rows: Vec<(i32, String)> = section
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let code = cells.get(1)?.parse().ok()?;
            Some((code, cells.get(2)?.to_string()))
        })
        .collect();
    let core: Vec<(i32, String)> = libpublisher::ErrorCode::ALL
        .iter()
        .map(|c| (c.code(), c.name().to_string()))
        .collect();
    assert_eq!(rows, core);
}
