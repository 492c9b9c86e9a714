//! Editing the `[dependencies]` of a `tanto.toml` in place.
//!
//! `tanto install REF` and `tanto uninstall NAME` change one entry of a file the user
//! wrote by hand, so everything else (order, comments, spacing, the table form an entry
//! was written in) must come out byte for byte as it went in; that is why this goes
//! through `toml_edit` and never through serde. The functions here take and return
//! text: reading and writing the file is the caller's job.

use tanto_registry::reference::Reference;
use toml_edit::{DocumentMut, Item, Table, TableLike, Value};

/// The manifest text could not be edited.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// The text is not TOML (callers normally validate the manifest first, so this
    /// only fires when the file changed underneath).
    #[error("tanto.toml is not valid TOML: {message}")]
    Parse { message: String },
    /// `dependencies` exists but is not a table (`dependencies = "x"`).
    #[error("`dependencies` in tanto.toml is not a table")]
    NotATable,
}

/// The text with dependency `name` set to `reference`.
///
/// A new name is appended to the `[dependencies]` table (created at the end of the
/// file when missing). An existing entry keeps its place, its comments and its form:
/// a `"source@version"` string stays a string, and a `{ source, version }` table keeps
/// being a table with both keys updated.
pub fn set_dependency(text: &str, name: &str, reference: &Reference) -> Result<String, EditError> {
    let mut document = parse(text)?;
    if !document.contains_key("dependencies") {
        let mut table = Table::new();
        table.set_implicit(false);
        document.insert("dependencies", Item::Table(table));
    }
    let dependencies = dependencies_mut(&mut document)?;
    match dependencies.get_mut(name) {
        Some(Item::Value(Value::String(_))) | None => set_string(dependencies, name, reference),
        Some(existing) => match existing.as_table_like_mut() {
            Some(table) => set_table(table, reference),
            // A value of another type is invalid anyway: replace it with the string form.
            None => set_string(dependencies, name, reference),
        },
    }
    Ok(document.to_string())
}

/// The text without dependency `name`; `None` when no such entry exists.
pub fn remove_dependency(text: &str, name: &str) -> Result<Option<String>, EditError> {
    let mut document = parse(text)?;
    if !document.contains_key("dependencies") {
        return Ok(None);
    }
    let dependencies = dependencies_mut(&mut document)?;
    if dependencies.remove(name).is_none() {
        return Ok(None);
    }
    Ok(Some(document.to_string()))
}

fn parse(text: &str) -> Result<DocumentMut, EditError> {
    text.parse::<DocumentMut>().map_err(|error| EditError::Parse {
        message: error.message().to_string(),
    })
}

fn dependencies_mut(document: &mut DocumentMut) -> Result<&mut dyn TableLike, EditError> {
    document.get_mut("dependencies").and_then(Item::as_table_like_mut).ok_or(EditError::NotATable)
}

/// Sets `name = "reference"`, keeping the comments around an existing value.
fn set_string(dependencies: &mut dyn TableLike, name: &str, reference: &Reference) {
    let mut value = Value::from(reference.to_string());
    if let Some(Item::Value(old)) = dependencies.get(name) {
        *value.decor_mut() = old.decor().clone();
    }
    match dependencies.get_mut(name) {
        Some(item) => *item = Item::Value(value),
        None => {
            dependencies.insert(name, Item::Value(value));
        }
    }
}

/// Updates a `{ source = "...", version = "..." }` entry in its own form.
fn set_table(table: &mut dyn TableLike, reference: &Reference) {
    let source = reference.clone().with_version(None).to_string();
    replace_value(table, "source", &source);
    match reference.version() {
        Some(version) => replace_value(table, "version", version.as_str()),
        None => {
            table.remove("version");
        }
    }
}

fn replace_value(table: &mut dyn TableLike, key: &str, text: &str) {
    let mut value = Value::from(text);
    match table.get_mut(key) {
        Some(Item::Value(old)) => {
            *value.decor_mut() = old.decor().clone();
            *old = value;
        }
        Some(item) => *item = Item::Value(value),
        None => {
            table.insert(key, Item::Value(value));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(text: &str) -> Reference {
        Reference::parse(text).expect("reference")
    }

    const MANIFEST: &str = "# The app.\nname = \"app\"   # its name\nsdk = \"rust\"\n\n[dependencies]\n# linting\nlint = { source = \"github.com/acme/ci/lint\", version = \"main\" } # pinned later\nbase = \"github.com/acme/base@^1\"  # the base\n\n[limits]\nmemory-mib = 64\n";

    #[test]
    fn adding_keeps_everything_else_byte_for_byte() {
        let edited = set_dependency(MANIFEST, "single", &reference("github.com/acme/single@^1.2")).expect("edit");
        let expected = MANIFEST.replace(
            "base = \"github.com/acme/base@^1\"  # the base\n",
            "base = \"github.com/acme/base@^1\"  # the base\nsingle = \"github.com/acme/single@^1.2\"\n",
        );
        assert_eq!(edited, expected);
    }

    #[test]
    fn replacing_keeps_the_form_and_the_comments() {
        let edited = set_dependency(MANIFEST, "base", &reference("github.com/acme/base@^2")).expect("edit");
        assert_eq!(edited, MANIFEST.replace("base@^1\"", "base@^2\""));
        let edited = set_dependency(MANIFEST, "lint", &reference("github.com/acme/ci/lint@v1.0.0")).expect("edit");
        assert_eq!(edited, MANIFEST.replace("version = \"main\"", "version = \"v1.0.0\""));
    }

    #[test]
    fn a_missing_table_is_created_at_the_end() {
        let edited = set_dependency("name = \"app\"\nsdk = \"rust\"\n", "a", &reference("github.com/o/r@v1.0.0")).expect("edit");
        assert_eq!(edited, "name = \"app\"\nsdk = \"rust\"\n\n[dependencies]\na = \"github.com/o/r@v1.0.0\"\n");
        let edited = set_dependency("name = \"app\"\ndependencies = { b = \"./b\" }\n", "a", &reference("./a")).expect("edit");
        assert_eq!(edited, "name = \"app\"\ndependencies = { b = \"./b\" , a = \"./a\" }\n");
    }

    #[test]
    fn removing_leaves_the_neighbours_alone() {
        let edited = remove_dependency(MANIFEST, "base").expect("edit").expect("present");
        assert_eq!(edited, MANIFEST.replace("base = \"github.com/acme/base@^1\"  # the base\n", ""));
        assert_eq!(remove_dependency(MANIFEST, "nope").expect("edit"), None);
        assert_eq!(remove_dependency("name = \"x\"\n", "nope").expect("edit"), None);
        assert!(matches!(remove_dependency("dependencies = 1\n", "a"), Err(EditError::NotATable)));
    }
}
