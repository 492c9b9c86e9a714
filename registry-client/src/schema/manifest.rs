//! The `[dependencies]` table of `tanto.toml` (no I/O).
//!
//! ```toml
//! [dependencies]
//! golang = "github.com/acme/ci-modules/golang@^1.2"
//! lint = { source = "github.com/acme/ci-modules/lint", version = "main" }
//! local = "./mods/local"
//! ```
//!
//! The rest of `tanto.toml` (`name`, `sdk`, ...) belongs to the host: it embeds
//! [`Dependencies`] as a field of its own manifest type, and this crate reads only the
//! table through [`parse_dependencies`].

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::reference::Reference;

/// The `[dependencies]` table: dependency name → reference, in name order.
///
/// Names are ASCII letters, digits, `-` and `_`, because they become part of lockfile
/// ids (`name@version`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dependencies(BTreeMap<String, Reference>);

impl Dependencies {
    /// No dependencies.
    pub fn new() -> Dependencies {
        Dependencies::default()
    }

    /// Adds or replaces a dependency. Fails (returning the name back) when the name
    /// holds characters a dependency name cannot.
    pub fn insert(&mut self, name: String, reference: Reference) -> Result<(), String> {
        if !is_valid_name(&name) {
            return Err(name);
        }
        self.0.insert(name, reference);
        Ok(())
    }

    /// The dependencies, in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Reference)> {
        self.0.iter().map(|(name, reference)| (name.as_str(), reference))
    }

    /// The reference of one dependency.
    pub fn get(&self, name: &str) -> Option<&Reference> {
        self.0.get(name)
    }

    /// How many dependencies there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Whether `name` may name a dependency.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl Serialize for Dependencies {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter())
    }
}

/// One value of the table: `"reference@version"` or `{ source, version }`.
struct DependencyValue(Reference);

impl<'de> Deserialize<'de> for DependencyValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ValueVisitor;
        impl<'de> Visitor<'de> for ValueVisitor {
            type Value = DependencyValue;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a reference string (\"github.com/owner/repo/subpath@^1\") or a table { source = \"...\", version = \"...\" }")
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<DependencyValue, E> {
                Reference::parse(value).map(DependencyValue).map_err(E::custom)
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<DependencyValue, A::Error> {
                #[derive(Deserialize)]
                #[serde(deny_unknown_fields)]
                struct Table {
                    source: String,
                    version: Option<String>,
                }
                let table = Table::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Reference::from_parts(&table.source, table.version.as_deref())
                    .map(DependencyValue)
                    .map_err(de::Error::custom)
            }
        }
        deserializer.deserialize_any(ValueVisitor)
    }
}

impl<'de> Deserialize<'de> for Dependencies {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TableVisitor;
        impl<'de> Visitor<'de> for TableVisitor {
            type Value = Dependencies;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a table of dependency name = reference")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Dependencies, A::Error> {
                let mut dependencies = BTreeMap::new();
                while let Some(name) = map.next_key::<String>()? {
                    if !is_valid_name(&name) {
                        return Err(de::Error::custom(format!(
                            "`{name}` is not a valid dependency name (use ASCII letters, digits, `-` and `_`)"
                        )));
                    }
                    let DependencyValue(reference) = map.next_value()?;
                    dependencies.insert(name, reference);
                }
                Ok(Dependencies(dependencies))
            }
        }
        deserializer.deserialize_map(TableVisitor)
    }
}

/// The part of `tanto.toml` this crate reads; every other key is ignored.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ManifestDependencies {
    /// The `[dependencies]` table (empty when absent).
    #[serde(default)]
    pub dependencies: Dependencies,
}

/// Reads the `[dependencies]` table out of a whole `tanto.toml`. Errors carry the
/// span of the offending value (see [`crate::manifest::read_dependencies`] for
/// file and line).
pub fn parse_dependencies(text: &str) -> Result<Dependencies, toml::de::Error> {
    toml::from_str::<ManifestDependencies>(text).map(|manifest| manifest.dependencies)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_forms_parse_and_other_keys_are_ignored() {
        let text = r#"
name = "app"
sdk = "rust"

[dependencies]
golang = "github.com/acme/ci-modules/golang@^1.2"
lint = { source = "github.com/acme/ci-modules/lint", version = "main" }
local = "./mods/local"
"#;
        let dependencies = parse_dependencies(text).expect("parse");
        let names: Vec<&str> = dependencies.iter().map(|(name, _)| name).collect();
        assert_eq!(names, ["golang", "lint", "local"]);
        assert_eq!(
            dependencies.get("lint").map(ToString::to_string).as_deref(),
            Some("github.com/acme/ci-modules/lint@main")
        );
        assert!(dependencies.get("local").is_some_and(Reference::is_local));
        assert!(parse_dependencies("name = \"x\"\n").expect("parse").is_empty());
    }

    #[test]
    fn the_host_can_embed_the_table() {
        #[derive(Deserialize, Serialize)]
        struct HostManifest {
            name: String,
            #[serde(default)]
            dependencies: Dependencies,
        }
        let manifest: HostManifest = toml::from_str("name = \"x\"\n[dependencies]\na = \"github.com/o/r@v1.0.0\"\n").expect("parse");
        assert_eq!(manifest.dependencies.len(), 1);
        let text = toml::to_string(&manifest).expect("serialize");
        assert!(text.contains("a = \"github.com/o/r@v1.0.0\""), "{text}");
    }

    #[test]
    fn errors_point_at_the_value() {
        let text = "name = \"x\"\n\n[dependencies]\nok = \"github.com/o/r\"\nbad = \"mods/x\"\n";
        let error = parse_dependencies(text).expect_err("bad reference");
        let span = error.span().expect("span");
        assert_eq!(text[..span.start].lines().count(), 5);
        let error = parse_dependencies("[dependencies]\n\"a b\" = \"github.com/o/r\"\n").expect_err("bad name");
        assert!(error.message().contains("not a valid dependency name"));
        let error = parse_dependencies("[dependencies]\na = { source = \"github.com/o/r\", ver = \"1\" }\n").expect_err("unknown field");
        assert!(error.message().contains("ver"), "{}", error.message());
    }
}
