//! `tanto develop`: brings what tanto generates into a module up to this tanto.
//!
//! * The vendored SDK (`sdk/`, written by `tanto init`) becomes this tanto's SDK, without
//!   overwriting changes of the user's ([`super::vendor`]).
//! * For a Rust module, `src/dependencies.rs` is regenerated: a `Dependencies` trait that
//!   adds one method per dependency to `dag()`, and per dependency a struct whose methods
//!   are the dependency's functions with Rust types, so a module writes
//!   `dag().hello().hello(Some("ada".into()))?` and the compiler checks the call. Like
//!   Dagger's generated client code, the file belongs in version control; it is rewritten
//!   only when its content changes.
//! * For a Python module, `tanto_deps/__init__.py` is regenerated: the same API as Python
//!   classes ([`super::python_client`]).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::deps::ModuleDependencies;
use super::session::Session;
use super::vendor::{Overwrite, SdkUpdate};
use crate::error::{Diagnose, ErrorKind, Hint};
use crate::module::{Manifest, Sdk};
use crate::runtime::values::{MAX_NAME_LEN, is_module_name};
use crate::runtime::{Function, Kind, ModuleSchema, RuntimeError, SchemaError, TypeRef};

/// The generated file, relative to the module's source folder.
pub const BINDINGS_FILE: &str = "src/dependencies.rs";

/// What to develop.
#[derive(Clone, Debug)]
pub struct DevelopSettings {
    /// The module's folder (where its `tanto.toml` is).
    pub root: PathBuf,
    /// Whether changes of the user's in the vendored SDK may be overwritten (`--force`).
    pub overwrite: Overwrite,
}

/// What `develop` did.
#[derive(Debug)]
pub struct DevelopReport {
    /// What changed in the vendored SDK; `None` when the module vendors none.
    pub sdk: Option<SdkUpdate>,
    pub bindings: BindingsReport,
}

/// What regenerating the dependency bindings did.
#[derive(Debug)]
pub struct BindingsReport {
    pub path: PathBuf,
    pub dependencies: Vec<String>,
    pub changed: bool,
    /// Whether `src/lib.rs` already declares `mod dependencies;`.
    pub declared: bool,
}

/// Why the dependency bindings cannot be generated or written.
#[derive(Debug, thiserror::Error)]
pub enum DevelopError {
    /// A name `tanto.toml` accepts (letters, digits, `-`, `_`) that no Rust identifier
    /// can be made of: one starting with a digit or `_`, or too long.
    #[error("dependency {name:?} in tanto.toml cannot name generated code: a dependency's name is [A-Za-z][A-Za-z0-9_-]*, at most {MAX_NAME_LEN} bytes")]
    DependencyName { name: String },
    /// A dependency could not be loaded or described (a schema `describe` refuses, a
    /// component that does not load): its error says what and whose fault.
    #[error("cannot generate bindings for dependency `{dependency}`")]
    Describe {
        dependency: String,
        #[source]
        error: RuntimeError,
    },
    /// A schema the generator refuses (`describe` validates first, so this is a second
    /// line of defence against a name becoming code).
    #[error(transparent)]
    Schema(#[from] SchemaError),
    /// The generated file cannot be written (a folder in its place, a read-only folder,
    /// a full disk): the module's folder is the user's.
    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        error: std::io::Error,
    },
    /// A module tanto does not build (`sdk = "javascript"` or `"c"`, with a prebuilt
    /// `component`): its author's own tool generates its bindings.
    #[error(
        "tanto develop writes typed clients for Rust and Python modules; this is a {sdk} module: call dependencies through the `client.call` import of tanto:core (the WIT in wit/ describes it)"
    )]
    NoGenerator { sdk: Sdk },
}

impl Diagnose for DevelopError {
    fn kind(&self) -> ErrorKind {
        match self {
            DevelopError::DependencyName { .. } | DevelopError::Schema(_) | DevelopError::Write { .. } | DevelopError::NoGenerator { .. } => ErrorKind::User,
            DevelopError::Describe { error, .. } => error.kind(),
        }
    }

    fn hint(&self) -> Option<Hint> {
        match self {
            DevelopError::DependencyName { name } => Some(Hint::RenameDependencyForBindings { name: name.clone() }),
            DevelopError::Describe { error, .. } => error.hint(),
            DevelopError::Schema(_) => Some(Hint::FixSchema),
            DevelopError::Write { .. } => Some(Hint::WritableModuleFile {
                file: PathBuf::from(BINDINGS_FILE),
            }),
            DevelopError::NoGenerator { .. } => None,
        }
    }
}

/// Brings the module at `settings.root` up to this tanto: its vendored SDK, then its
/// dependency bindings.
///
/// All or nothing as far as it can be: the SDK update is checked (a refusal changes
/// nothing) and the bindings are generated before either is written.
pub async fn develop(session: &Session, settings: DevelopSettings) -> anyhow::Result<DevelopReport> {
    let DevelopSettings { root, overwrite } = settings;
    let manifest = Manifest::read(&root)?;
    let sdk_plan = super::vendor::plan(&root.join(&manifest.source), overwrite)?;
    let bindings = generate_bindings(session, &root, &manifest).await?;
    let sdk = match sdk_plan {
        Some(plan) => {
            let update = plan.apply()?;
            if update.wrote_nothing() && update.kept.is_empty() {
                tracing::info!("{} is up to date ({} {})", update.sdk_dir.display(), super::vendor::SDK_PACKAGE, update.to);
            }
            Some(update)
        }
        None => None,
    };
    Ok(DevelopReport {
        sdk,
        bindings: bindings.write()?,
    })
}

/// Regenerates the dependency bindings of the module at `root`.
pub async fn regenerate_bindings(session: &Session, root: &Path) -> anyhow::Result<BindingsReport> {
    let manifest = Manifest::read(root)?;
    Ok(generate_bindings(session, root, &manifest).await?.write()?)
}

/// Bindings generated and not yet written.
struct Bindings {
    path: PathBuf,
    dependencies: Vec<String>,
    generated: String,
    source: PathBuf,
    sdk: Sdk,
}

async fn generate_bindings(session: &Session, root: &Path, manifest: &Manifest) -> anyhow::Result<Bindings> {
    let runtime = session.runtime()?;
    let dependencies = ModuleDependencies::for_project(
        root,
        manifest,
        super::deps::DependencySettings {
            cache_root: session.settings.cache_root.clone(),
            network: session.settings.network,
            limits: session.settings.limits.clone(),
            unsandboxed: session.settings.unsandboxed_builds,
            reporter: session.pipeline.reporter().clone(),
        },
    );
    let mut schemas = Vec::new();
    for (name, _) in manifest.dependencies.iter() {
        if !is_module_name(name) {
            return Err(DevelopError::DependencyName { name: name.to_string() }.into());
        }
        let callable = dependencies.load(&runtime, name).await?;
        // `describe` validates the schema (`ModuleSchema::validate`): every name that reaches
        // the generated code below is an identifier.
        let schema = runtime
            .describe(&callable, session.pipeline.clone())
            .await
            .map_err(|error| DevelopError::Describe {
                dependency: name.to_string(),
                error,
            })?;
        schemas.push((name.to_string(), schema));
    }
    let source = if manifest.source == Path::new(".") {
        root.to_path_buf()
    } else {
        root.join(&manifest.source)
    };
    let (file, generated) = match manifest.sdk {
        Sdk::Rust => (BINDINGS_FILE, rust_bindings(&schemas)),
        Sdk::Python => (super::python_client::PYTHON_BINDINGS_FILE, super::python_client::python_bindings(&schemas)),
        sdk @ (Sdk::Javascript | Sdk::C) => return Err(DevelopError::NoGenerator { sdk }.into()),
    };
    Ok(Bindings {
        path: source.join(file),
        generated: generated.map_err(DevelopError::from)?,
        dependencies: schemas.into_iter().map(|(name, _)| name).collect(),
        source,
        sdk: manifest.sdk,
    })
}

impl Bindings {
    fn write(self) -> Result<BindingsReport, DevelopError> {
        let Self {
            path,
            dependencies,
            generated,
            source,
            sdk,
        } = self;
        let changed = std::fs::read_to_string(&path).ok().as_deref() != Some(generated.as_str());
        if changed {
            crate::util::write_atomic(&path, generated.as_bytes()).map_err(|error| DevelopError::Write { path: path.clone(), error })?;
        }
        let declared = match sdk {
            Sdk::Rust => std::fs::read_to_string(source.join("src/lib.rs")).is_ok_and(|text| text.contains("mod dependencies")),
            // A package beside main.py: `import tanto_deps` finds it, nothing to declare.
            Sdk::Python => true,
            // Never reached: `bindings` refuses SDKs without a generator.
            Sdk::Javascript | Sdk::C => false,
        };
        Ok(BindingsReport {
            path,
            dependencies,
            changed,
            declared,
        })
    }
}

const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern", "false", "fn", "for", "gen", "if", "impl", "in", "let",
    "loop", "match", "mod", "move", "mut", "pub", "ref", "return", "self", "Self", "static", "struct", "super", "trait", "true", "type", "unsafe", "use",
    "where", "while", "abstract", "become", "box", "do", "final", "macro", "override", "priv", "try", "typeof", "unsized", "virtual", "yield",
];

/// A kebab- or snake-case name (validated: ASCII letters, digits, `-`, `_`) as a Rust
/// identifier.
fn identifier(name: &str) -> String {
    let snake = name.replace('-', "_");
    match snake.as_str() {
        // Keywords that cannot be raw identifiers.
        "self" | "Self" | "super" | "crate" | "_" => format!("{snake}_"),
        keyword if KEYWORDS.contains(&keyword) => format!("r#{snake}"),
        _ => snake,
    }
}

/// A kebab- or snake-case name in CamelCase, for a Rust type.
pub(crate) fn type_name(name: &str) -> String {
    name.split(['-', '_'])
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

fn rust_type(type_ref: TypeRef) -> String {
    let element = match type_ref.kind {
        Kind::Void => "()",
        Kind::String => "String",
        Kind::Boolean => "bool",
        Kind::Integer => "i64",
        Kind::Float => "f64",
        Kind::Container => "Container",
        Kind::Directory => "Directory",
        Kind::File => "File",
        Kind::Secret => "Secret",
        Kind::Service => "Service",
    };
    let listed = if type_ref.is_list { format!("Vec<{element}>") } else { element.to_string() };
    if type_ref.optional { format!("Option<{listed}>") } else { listed }
}

/// `text` as `///` doc comment lines that stay prose, whatever a dependency wrote: every
/// line break starts a new `///` line (so no line can end the comment and start code),
/// control characters become spaces, and neither code fences nor indented lines survive
/// (rustdoc would compile and run them as doctests).
fn doc(text: &str, indent: &str) -> String {
    text.split(['\n', '\r', '\u{2028}', '\u{2029}'])
        .map(|line| {
            let line: String = line.chars().map(|character| if character.is_control() { ' ' } else { character }).collect();
            let line = line.trim();
            if line.is_empty() {
                format!("{indent}///\n")
            } else if line.starts_with("```") || line.starts_with("~~~") {
                format!("{indent}/// \\{line}\n")
            } else {
                format!("{indent}/// {line}\n")
            }
        })
        .collect()
}

/// The Rust parameters for `arguments`, and the statements pushing them onto the
/// `Vec<(&str, Value)>` named `list`.
fn argument_parameters(arguments: &[crate::runtime::Argument], list: &str) -> (Vec<String>, String) {
    let mut parameters = Vec::new();
    let mut pushes = String::new();
    for argument in arguments {
        let name = identifier(&argument.name);
        // An argument with a default is optional to the caller: `None` leaves it out and
        // the dependency applies its own default.
        let optional = argument.type_ref.optional || argument.default_value.is_some();
        let declared = TypeRef { optional, ..argument.type_ref };
        parameters.push(format!("{name}: {}", rust_type(declared)));
        if optional {
            let _ = writeln!(
                pushes,
                "        if let Some(value) = {name} {{\n            {list}.push(({:?}, value.into_value()));\n        }}",
                argument.name
            );
        } else {
            let _ = writeln!(pushes, "        {list}.push(({:?}, {name}.into_value()));", argument.name);
        }
    }
    (parameters, pushes)
}

/// The method calling `function` of `dependency`: on `&self`, or for a dependency with a
/// constructor (`constructed`), on `self`, whose constructor arguments it passes on (they
/// may hold objects, which a call hands over).
fn function_binding(dependency: &str, function: &Function, constructed: bool) -> String {
    let mut out = String::new();
    let description = if function.description.is_empty() {
        format!("Calls `{}` of `{dependency}`.", function.name)
    } else {
        function.description.clone()
    };
    out.push_str(&doc(&description, "    "));
    let (parameters, pushes) = argument_parameters(&function.arguments, "arguments");
    let receiver = if constructed { "self" } else { "&self" };
    let _ = writeln!(
        out,
        "    pub fn {}({receiver}, {}) -> Result<{}> {{",
        identifier(&function.name),
        parameters.join(", "),
        rust_type(function.return_type)
    );
    if function.arguments.is_empty() {
        out.push_str("        let arguments = Vec::new();\n");
    } else {
        out.push_str("        let mut arguments: Vec<(&str, Value)> = Vec::new();\n");
        out.push_str(&pushes);
    }
    if constructed {
        let _ = writeln!(
            out,
            "        dag().call_constructed({dependency:?}, self.constructor, {:?}, arguments)\n    }}",
            function.name
        );
    } else {
        let _ = writeln!(out, "        dag().call({dependency:?}, {:?}, arguments)\n    }}", function.name);
    }
    out.replace(&format!("({receiver}, )"), &format!("({receiver})"))
}

/// Refuses a dependency name that is not a module name and a schema that does not
/// validate: what the generators may then turn into identifiers, literals and comments.
pub(crate) fn check_schemas(dependencies: &[(String, ModuleSchema)]) -> Result<(), SchemaError> {
    for (name, schema) in dependencies {
        if !is_module_name(name) {
            return Err(SchemaError {
                module: name.clone(),
                function: None,
                argument: None,
                reason: "its name as a dependency is not [A-Za-z][A-Za-z0-9_-]*".into(),
            });
        }
        schema.validate()?;
    }
    Ok(())
}

/// The Rust source of the bindings for `dependencies` (name as declared, schema).
///
/// Validates every schema first (names become identifiers and string literals, docs
/// become comments), so no schema can put code of its own into the file.
pub fn rust_bindings(dependencies: &[(String, ModuleSchema)]) -> Result<String, SchemaError> {
    check_schemas(dependencies)?;
    let mut out = String::from(
        "//! Typed APIs of this module's dependencies, generated by `tanto develop` from their\n\
         //! schemas. Do not edit by hand: run `tanto develop` after changing dependencies.\n\n\
         #![allow(dead_code, unused_imports, clippy::all)]\n\n\
         use tanto_sdk::value::{IntoValue, Value};\n\
         use tanto_sdk::{Client, Container, Directory, File, Result, Secret, Service, dag};\n\n\
         /// One method per dependency on `dag()`: `dag().NAME()`.\n\
         pub trait Dependencies {\n",
    );
    for (name, schema) in dependencies {
        let summary = if schema.description.is_empty() {
            format!("The `{name}` module.")
        } else {
            schema.description.clone()
        };
        out.push_str(&doc(&summary, "    "));
        if !schema.constructor.is_empty() {
            out.push_str("    ///\n    /// Takes the arguments of its constructor; each call uses the value up.\n");
        }
        let (parameters, _) = argument_parameters(&schema.constructor, "constructor");
        let parameters = if parameters.is_empty() {
            String::new()
        } else {
            format!(", {}", parameters.join(", "))
        };
        let _ = writeln!(out, "    fn {}(&self{parameters}) -> {};", identifier(name), type_name(name));
    }
    out.push_str("}\n\nimpl Dependencies for Client {\n");
    for (name, schema) in dependencies {
        if schema.constructor.is_empty() {
            let _ = writeln!(
                out,
                "    fn {}(&self) -> {} {{\n        {} {{ _private: () }}\n    }}",
                identifier(name),
                type_name(name),
                type_name(name)
            );
        } else {
            let (parameters, pushes) = argument_parameters(&schema.constructor, "constructor");
            let _ = writeln!(
                out,
                "    fn {}(&self, {}) -> {} {{\n        let mut constructor: Vec<(&'static str, Value)> = Vec::new();\n{pushes}        {} {{ constructor }}\n    }}",
                identifier(name),
                parameters.join(", "),
                type_name(name),
                type_name(name)
            );
        }
    }
    out.push_str("}\n");
    for (name, schema) in dependencies {
        out.push('\n');
        let summary = if schema.description.is_empty() {
            format!("The `{name}` module ({}).", schema.name)
        } else {
            schema.description.clone()
        };
        out.push_str(&doc(&summary, ""));
        let constructed = !schema.constructor.is_empty();
        if constructed {
            let _ = writeln!(out, "pub struct {} {{\n    constructor: Vec<(&'static str, Value)>,\n}}\n", type_name(name));
        } else {
            let _ = writeln!(out, "pub struct {} {{\n    _private: (),\n}}\n", type_name(name));
        }
        let _ = writeln!(out, "impl {} {{", type_name(name));
        let bindings: Vec<String> = schema.functions.iter().map(|function| function_binding(name, function, constructed)).collect();
        out.push_str(&bindings.join("\n"));
        out.push_str("}\n");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::Argument;

    #[test]
    fn generates_typed_methods_with_optional_defaults() {
        let string = TypeRef {
            kind: Kind::String,
            is_list: false,
            optional: false,
        };
        let schema = ModuleSchema {
            name: "hello".into(),
            description: "Greetings.".into(),
            functions: vec![
                Function {
                    name: "greet".into(),
                    description: "Greets.".into(),
                    arguments: vec![
                        Argument {
                            name: "greeting".into(),
                            description: String::new(),
                            type_ref: string,
                            default_value: Some("\"hi\"".into()),
                        },
                        Argument {
                            name: "name".into(),
                            description: String::new(),
                            type_ref: string,
                            default_value: None,
                        },
                    ],
                    return_type: string,
                },
                Function {
                    name: "build-image".into(),
                    description: String::new(),
                    arguments: vec![Argument {
                        name: "type".into(),
                        description: String::new(),
                        type_ref: TypeRef {
                            kind: Kind::Container,
                            is_list: true,
                            optional: false,
                        },
                        default_value: None,
                    }],
                    return_type: TypeRef {
                        kind: Kind::Container,
                        is_list: false,
                        optional: false,
                    },
                },
            ],
            constructor: Vec::new(),
        };
        let mut configured = schema.clone();
        configured.constructor = vec![
            Argument {
                name: "source".into(),
                description: String::new(),
                type_ref: TypeRef {
                    kind: Kind::Directory,
                    is_list: false,
                    optional: false,
                },
                default_value: None,
            },
            Argument {
                name: "image".into(),
                description: String::new(),
                type_ref: string,
                default_value: Some("\"alpine\"".into()),
            },
        ];
        let code = rust_bindings(&[("configured".into(), configured)]).unwrap();
        assert!(
            code.contains("fn configured(&self, source: Directory, image: Option<String>) -> Configured;"),
            "{code}"
        );
        assert!(code.contains("constructor.push((\"source\", source.into_value()));"), "{code}");
        assert!(
            code.contains("pub fn greet(self, greeting: Option<String>, name: String) -> Result<String> {"),
            "{code}"
        );
        assert!(
            code.contains("dag().call_constructed(\"configured\", self.constructor, \"greet\", arguments)"),
            "{code}"
        );
        let code = rust_bindings(&[("my-hello".into(), schema)]).unwrap();
        assert!(code.contains("fn my_hello(&self) -> MyHello;"), "{code}");
        assert!(
            code.contains("pub fn greet(&self, greeting: Option<String>, name: String) -> Result<String> {"),
            "{code}"
        );
        assert!(code.contains("if let Some(value) = greeting {"), "{code}");
        assert!(
            code.contains("pub fn build_image(&self, r#type: Vec<Container>) -> Result<Container> {"),
            "{code}"
        );
        assert!(code.contains("dag().call(\"my-hello\", \"build-image\", arguments)"), "{code}");
    }

    #[test]
    fn a_dependency_taking_and_returning_services_gets_service_imported() {
        let service = TypeRef {
            kind: Kind::Service,
            is_list: false,
            optional: false,
        };
        let schema = ModuleSchema {
            name: "db".into(),
            description: String::new(),
            functions: vec![Function {
                name: "proxy".into(),
                description: String::new(),
                arguments: vec![Argument {
                    name: "backend".into(),
                    description: String::new(),
                    type_ref: service,
                    default_value: None,
                }],
                return_type: service,
            }],
            constructor: Vec::new(),
        };
        let code = rust_bindings(&[("db".into(), schema)]).unwrap();
        let imports = code.lines().find(|line| line.starts_with("use tanto_sdk::{")).unwrap();
        assert!(imports.contains(" Service,"), "{imports}");
        assert!(code.contains("pub fn proxy(&self, backend: Service) -> Result<Service> {"), "{code}");
    }

    #[test]
    fn docs_stay_comments_and_hostile_names_are_refused() {
        let text = "Line one.\n}\ninclude_str!(\"/etc/passwd\");\r#[doc = \"x\"] */\u{2028}fn evil() {}\n```\nassert!(false);\n```\n    indented code";
        let rendered = doc(text, "    ");
        for line in rendered.lines() {
            assert!(line.starts_with("    /// ") || line == "    ///", "{line:?}");
            assert!(!line.trim_start_matches("    /// ").starts_with("```"), "{line:?}");
            assert!(!line.trim_start_matches("    /// ").starts_with(' '), "{line:?}");
        }
        assert_eq!(rendered.lines().count(), 9, "{rendered}");
        let function = |name: &str| Function {
            name: name.into(),
            description: text.into(),
            arguments: Vec::new(),
            return_type: TypeRef {
                kind: Kind::Void,
                is_list: false,
                optional: false,
            },
        };
        let schema = |name: &str| ModuleSchema {
            name: "dep".into(),
            description: String::new(),
            functions: vec![function(name)],
            constructor: Vec::new(),
        };
        let code = rust_bindings(&[("dep".into(), schema("self"))]).unwrap();
        assert!(code.contains("pub fn self_(&self)"), "{code}");
        let error = rust_bindings(&[("dep".into(), schema("x\\\"); include_str!(\"/etc/passwd"))]).unwrap_err();
        assert!(error.to_string().contains("is not a kebab-case identifier"), "{error}");
        assert!(rust_bindings(&[("de\"p".into(), schema("ok"))]).is_err());
    }

    #[test]
    fn an_unwritable_bindings_file_is_the_users_to_fix() {
        let module = tempfile::tempdir().unwrap();
        let source = module.path().to_path_buf();
        // A folder where the file goes: refused even for root, unlike a read-only mode.
        std::fs::create_dir_all(source.join(BINDINGS_FILE)).unwrap();
        let bindings = Bindings {
            path: source.join(BINDINGS_FILE),
            dependencies: Vec::new(),
            generated: "// generated\n".into(),
            source,
            sdk: Sdk::Rust,
        };
        let error = bindings.write().unwrap_err();
        assert!(matches!(error, DevelopError::Write { .. }), "{error:?}");
        assert_eq!(error.kind(), ErrorKind::User);
        assert_eq!(error.hint(), Some(Hint::WritableModuleFile { file: BINDINGS_FILE.into() }));
        assert!(error.to_string().ends_with("src/dependencies.rs"), "{error}");
    }

    #[test]
    fn develop_errors_say_whose_fault_they_are() {
        let name = DevelopError::DependencyName { name: "1st".into() };
        assert_eq!(name.kind(), ErrorKind::User);
        assert!(name.hint().unwrap().to_string().contains("tanto uninstall 1st"));
        let schema = SchemaError {
            module: "dep".into(),
            function: None,
            argument: None,
            reason: "a bad name".into(),
        };
        let describe = DevelopError::Describe {
            dependency: "dep".into(),
            error: RuntimeError::InvalidSchema(schema.clone()),
        };
        assert_eq!(describe.kind(), ErrorKind::User);
        assert_eq!(describe.hint(), Some(Hint::FixSchema));
        assert_eq!(describe.to_string(), "cannot generate bindings for dependency `dep`");
        assert_eq!(DevelopError::from(schema).hint(), Some(Hint::FixSchema));
    }
}
