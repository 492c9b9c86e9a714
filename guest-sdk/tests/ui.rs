//! Compile errors of `#[tanto_sdk::module]`: each case under `ui/` is a module a user
//! could write, and its `.stderr` snapshot shows the message and the span it points at.
//! Regenerate the snapshots with `TRYBUILD=overwrite cargo test -p tanto-sdk --test ui`.

#[test]
fn module_attribute_errors() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
