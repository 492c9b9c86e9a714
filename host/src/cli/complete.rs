//! Shell completion of the module in the current folder: `tanto completion SHELL` prints
//! clap's static script (subcommands and options) followed by a hook that, on a line with
//! `tanto call`, asks the hidden `tanto __complete SHELL -- WORDS...` for the module's
//! constructor arguments, functions, their `--arguments` and the methods that can follow.
//!
//! The schema comes from the module's last build ([`crate::module::build::built_component`]
//! and the schema kept beside it), never from building or running anything: a completion
//! must answer in milliseconds. With no module found, or none built since its sources
//! changed, `__complete` exits 1 and the hook falls back to the static completion.

use std::path::{Path, PathBuf};

use clap::CommandFactory as _;

use super::Cli;
use crate::engine::Digest;
use crate::module::args::summary;
use crate::module::build::built_component;
use crate::module::{Manifest, find_module_root, module_in};
use crate::ops::module_cache::ModuleCache;
use crate::runtime::chain::{find_link, links_of};
use crate::runtime::{Argument, Kind, ModuleSchema, TypeRef};

/// A completion: the text, and what it is (shown by fish).
pub(super) struct Candidate {
    pub text: String,
    pub description: String,
}

/// The candidates for the last of `words` (the command line up to the cursor, `tanto`
/// first; an empty last word when the cursor follows a space). `None`: not a `tanto call`
/// line, or no built module to read, so the static completion answers.
pub(super) fn candidates(words: &[String], cache_root: &Path, working_dir: &Path) -> Option<Vec<Candidate>> {
    let (current, before) = words.split_last()?;
    let line = CallLine::parse(before)?;
    let schema = built_schema(line.module_path.as_deref(), cache_root, working_dir)?;
    let own: Vec<Candidate> = line
        .options
        .iter()
        .filter_map(|(long, _, _, help)| {
            long.as_ref().map(|long| Candidate {
                text: format!("--{long}"),
                description: help.clone(),
            })
        })
        .collect();
    Some(
        module_candidates(&schema, &line.tokens, current, own)
            .into_iter()
            .filter(|candidate| candidate.text.starts_with(current.as_str()))
            .collect(),
    )
}

/// What `tanto call --help` adds after clap's help when the module it would call has
/// been built: its constructor's arguments and its functions.
pub(super) fn call_help(argv: &[String], cache_root: &Path, working_dir: &Path) -> Option<String> {
    let line = CallLine::parse(argv)?;
    let schema = built_schema(line.module_path.as_deref(), cache_root, working_dir)?;
    let mut text = format!("\nModule `{}`", schema.name);
    if !schema.description.trim().is_empty() {
        text.push_str(&format!(": {}", summary(&schema.description)));
    }
    text.push_str("\n\n");
    text.push_str(&crate::module::args::module_overview(&schema));
    text.push('\n');
    Some(text)
}

/// A `tanto call` command line, read without the module's schema.
struct CallLine<'a> {
    /// `-m PATH`, if given.
    module_path: Option<PathBuf>,
    /// The module's part: what is not `call`'s own options (nor their values).
    tokens: Vec<&'a str>,
    /// `call`'s own options.
    options: Vec<OptionSpec>,
}

impl<'a> CallLine<'a> {
    /// `None` when `words` (`tanto` first) is not a `tanto call` line, or ends on an
    /// option of tanto's waiting for its value.
    fn parse(words: &'a [String]) -> Option<Self> {
        let mut command = Cli::command();
        command.build();
        let root_options = options_of(&command);
        let mut index = 1;
        loop {
            let token = words.get(index)?;
            match option(&root_options, token) {
                Some(takes_value) => index += 1 + usize::from(takes_value),
                None if token == "call" => break,
                None => return None,
            }
        }
        let options = options_of(command.find_subcommand("call")?);
        let mut module_path: Option<PathBuf> = None;
        let mut tokens: Vec<&str> = Vec::new();
        let mut rest = words[index + 1..].iter();
        while let Some(token) = rest.next() {
            if token == "--" {
                tokens.extend(rest.by_ref().map(String::as_str));
                break;
            }
            match option(&options, token) {
                Some(takes_value) => {
                    let value = match token.split_once('=') {
                        Some((_, value)) => Some(value.to_string()),
                        // Without one, the cursor is on this option's value (a path):
                        // the shell's own completion.
                        None if takes_value => Some(rest.next()?.clone()),
                        None => None,
                    };
                    if matches!(token.split('=').next(), Some("-m" | "--mod")) {
                        module_path = value.map(PathBuf::from);
                    }
                }
                None => tokens.push(token),
            }
        }
        Some(CallLine { module_path, tokens, options })
    }
}

/// The schema of the module at `module_path` (`-m`), or found from `working_dir` as `tanto
/// call` finds it (`.tanto/` included), as its last build described it.
fn built_schema(module_path: Option<&Path>, cache_root: &Path, working_dir: &Path) -> Option<ModuleSchema> {
    let wasm = match module_path {
        Some(path) if path.is_file() => path.to_path_buf(),
        Some(path) => {
            let root = module_in(path).unwrap_or_else(|| path.to_path_buf());
            built_of(&root, cache_root)?
        }
        None => built_of(&find_module_root(working_dir).ok()?, cache_root)?,
    };
    let modules = ModuleCache::new(cache_root);
    // A stamp from the component's last load saves reading it (a Python module's is 18 MB).
    let digest = match crate::runtime::remembered_digest(&modules.digests_dir(), &wasm) {
        Some(digest) => digest,
        None => Digest::of_bytes(&std::fs::read(&wasm).ok()?),
    };
    modules.schema(&digest)
}

fn built_of(root: &Path, cache_root: &Path) -> Option<PathBuf> {
    let manifest = Manifest::read(root).ok()?;
    if let Some(component) = &manifest.component {
        return Some(root.join(component));
    }
    let source = root.join(&manifest.source);
    match manifest.sdk {
        crate::module::Sdk::Rust => built_component(&source, cache_root),
        crate::module::Sdk::Python => crate::module::python::built_component(&source, cache_root),
        crate::module::Sdk::Javascript | crate::module::Sdk::C => None,
    }
}

/// What may come at `current` after the module's part of the line, `tokens`: the
/// constructor's arguments then a function, the function's arguments then a method of
/// what it returns, and so on along the chain; `own` (tanto's options) wherever a flag
/// may go.
fn module_candidates(schema: &ModuleSchema, tokens: &[&str], current: &str, own: Vec<Candidate>) -> Vec<Candidate> {
    let mut arguments: Vec<Argument> = schema.constructor.clone();
    let mut given: Vec<String> = Vec::new();
    // `None` before the function; then what the last step returns.
    let mut returns: Option<TypeRef> = None;
    let mut index = 0;
    while index < tokens.len() {
        let token = tokens[index];
        index += 1;
        if let Some(flag) = token.strip_prefix("--") {
            let (name, value) = match flag.split_once('=') {
                Some((name, value)) => (name, Some(value)),
                None => (flag, None),
            };
            let name = name.replace('_', "-");
            let takes_value = arguments
                .iter()
                .find(|argument| argument.name == name)
                .is_some_and(|argument| argument.type_ref.kind != Kind::Boolean || argument.type_ref.is_list);
            if value.is_none() && takes_value {
                if index == tokens.len() {
                    // The cursor is on the flag's value: a path, an image, a word.
                    return Vec::new();
                }
                index += 1;
            }
            given.push(name);
            continue;
        }
        let next = match returns {
            None => schema.function(token).map(|function| (function.arguments.clone(), function.return_type)),
            Some(returned) => object_kind(returned)
                .and_then(|kind| find_link(kind, token))
                .map(|link| (link.schema.arguments.clone(), link.schema.return_type)),
        };
        let Some((next_arguments, next_returns)) = next else {
            return Vec::new();
        };
        arguments = next_arguments;
        returns = Some(next_returns);
        given.clear();
    }
    if current.starts_with('-') {
        if current.contains('=') {
            return Vec::new();
        }
        let mut candidates: Vec<Candidate> = arguments
            .iter()
            .filter(|argument| argument.type_ref.is_list || !given.contains(&argument.name))
            .map(|argument| Candidate {
                text: format!("--{}", argument.name),
                description: summary(&argument.description),
            })
            .collect();
        candidates.extend(own);
        return candidates;
    }
    match returns {
        None => schema
            .functions
            .iter()
            .map(|function| Candidate {
                text: function.name.clone(),
                description: summary(&function.description),
            })
            .collect(),
        Some(returned) => object_kind(returned)
            .map(|kind| {
                links_of(kind)
                    .map(|link| Candidate {
                        text: link.schema.name.clone(),
                        description: summary(&link.schema.description),
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// The kind of object whose methods can follow a step returning `returned`.
fn object_kind(returned: TypeRef) -> Option<Kind> {
    (!returned.is_list).then_some(returned.kind)
}

/// An option of tanto's: (long name, short name, takes a value, help).
pub(super) type OptionSpec = (Option<String>, Option<char>, bool, String);

/// Every option of `command`.
pub(super) fn options_of(command: &clap::Command) -> Vec<OptionSpec> {
    command
        .get_arguments()
        .filter(|argument| !argument.is_positional() && !matches!(argument.get_id().as_str(), "help" | "version"))
        .map(|argument| {
            (
                argument.get_long().map(str::to_string),
                argument.get_short(),
                argument.get_action().takes_values(),
                argument.get_help().map(|help| summary(&help.to_string())).unwrap_or_default(),
            )
        })
        .collect()
}

/// `Some(takes the next token as its value)` when `token` is one of `options`.
pub(super) fn option(options: &[OptionSpec], token: &str) -> Option<bool> {
    if let Some(long) = token.strip_prefix("--") {
        let name = long.split_once('=').map_or(long, |(name, _)| name);
        let (_, _, takes_value, _) = options.iter().find(|(option, _, _, _)| option.as_deref() == Some(name))?;
        return Some(*takes_value && !long.contains('='));
    }
    let mut shorts = token.strip_prefix('-')?.chars();
    let first = shorts.next()?;
    let (_, _, takes_value, _) = options.iter().find(|(_, short, _, _)| *short == Some(first))?;
    // `-j 2` takes the next token, `-j2` holds its value.
    Some(*takes_value && shorts.next().is_none())
}

/// The hook appended to clap's static script for `shell`: on a `tanto call` line, the
/// module's candidates from `tanto __complete`, else (or when it finds no module) the
/// static completion.
pub(super) fn dynamic_hook(shell: clap_complete::Shell) -> Option<&'static str> {
    use clap_complete::Shell;
    match shell {
        Shell::Bash => Some(
            r#"
# The module in the current folder: its functions and arguments after `tanto call`.
_tanto_module() {
    local line="${COMP_LINE:0:COMP_POINT}" words candidates
    read -ra words <<< "$line"
    [[ "$line" == *[[:space:]] ]] && words+=("")
    if [[ " ${words[*]} " == *" call "* ]] \
        && candidates="$(command tanto __complete bash -- "${words[@]}" 2>/dev/null)"; then
        local IFS=$'\n'
        COMPREPLY=($candidates)
        return 0
    fi
    _tanto "$@"
}
complete -F _tanto_module -o nosort -o bashdefault -o default tanto
"#,
        ),
        Shell::Zsh => Some(
            r#"
# The module in the current folder: its functions and arguments after `tanto call`.
_tanto_module() {
    local output
    if (( ${words[(I)call]} > 1 )) \
        && output="$(command tanto __complete zsh -- "${(@)words[1,CURRENT]}" 2>/dev/null)"; then
        local -a candidates
        candidates=("${(@f)output}")
        candidates=(${candidates:#})
        compadd -a candidates
        return 0
    fi
    _tanto "$@"
}
compdef _tanto_module tanto
"#,
        ),
        Shell::Fish => Some(
            r#"
# The module in the current folder: its functions and arguments after `tanto call`.
complete -c tanto -n '__fish_seen_subcommand_from call' -f -a '(command tanto __complete fish -- (commandline -opc) (commandline -ct) 2>/dev/null)'
"#,
        ),
        _ => None,
    }
}

/// The candidates as the shell's hook reads them: one a line, fish's with their
/// description after a tab.
pub(super) fn render(shell: clap_complete::Shell, candidates: &[Candidate]) -> String {
    let mut out = String::new();
    for candidate in candidates {
        out.push_str(&candidate.text);
        if shell == clap_complete::Shell::Fish && !candidate.description.is_empty() {
            out.push('\t');
            out.push_str(&candidate.description);
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::Function;

    fn schema() -> ModuleSchema {
        let string = TypeRef {
            kind: Kind::String,
            is_list: false,
            optional: false,
        };
        let argument = |name: &str, type_ref| Argument {
            name: name.into(),
            description: format!("the {name}"),
            type_ref,
            default_value: None,
        };
        ModuleSchema {
            name: "m".into(),
            description: String::new(),
            functions: vec![
                Function {
                    name: "greet".into(),
                    description: "Greets.".into(),
                    arguments: vec![argument("name", string), argument("loud", TypeRef { kind: Kind::Boolean, ..string })],
                    return_type: string,
                },
                Function {
                    name: "base".into(),
                    description: "A container.".into(),
                    arguments: vec![],
                    return_type: TypeRef {
                        kind: Kind::Container,
                        ..string
                    },
                },
            ],
            constructor: vec![argument("greeting", string)],
        }
    }

    fn texts(tokens: &[&str], current: &str) -> Vec<String> {
        module_candidates(&schema(), tokens, current, Vec::new())
            .into_iter()
            .map(|candidate| candidate.text)
            .filter(|text| text.starts_with(current))
            .collect()
    }

    #[test]
    fn completes_along_the_line() {
        assert_eq!(texts(&[], ""), ["greet", "base"]);
        assert_eq!(texts(&[], "--"), ["--greeting"]);
        assert_eq!(texts(&["--greeting", "hi"], "g"), ["greet"]);
        assert!(texts(&["--greeting"], "").is_empty(), "the flag's value");
        assert_eq!(texts(&["--greeting=hi", "greet"], "--"), ["--name", "--loud"]);
        assert_eq!(texts(&["greet", "--loud"], "--"), ["--name"], "a boolean takes no value");
        assert!(texts(&["greet", "--name", "x"], "").is_empty(), "a string has no methods");
        assert!(texts(&["base"], "with-e").contains(&"with-exec".to_string()));
        assert!(texts(&["base", "with-exec", "--args=ls"], "").contains(&"stdout".to_string()));
        assert!(texts(&["nothing"], "").is_empty());
    }
}
