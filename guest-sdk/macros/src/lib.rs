// The `#[tanto_sdk::module]` attribute. Its documentation for module authors is on the
// re-export in `tanto-sdk` (`tanto_sdk::module`), where its examples can be tested.
//
// The attribute reads an inherent `impl` block, checks the syntax of every `pub fn` in it
// (receiver, generics, argument names, `#[arg]` options), and emits, next to the block
// with its `#[arg]` attributes removed:
//
// * for each function, an `export_N` function returning its schema, built from the
//   names, doc comments and types, and the code that reads its arguments and calls it;
// * an implementation of `tanto_sdk::Module` whose `describe` and `invoke` use them, and
//   whose `construct` calls the block's `pub fn new` (the constructor: its arguments are
//   the module's constructor arguments) or, without one, `Default::default()`;
// * the two `#[no_mangle]` functions that the SDK's component export calls.
//
// The macro has no list of the types the contract carries: the generated code requires
// the SDK's value traits of each argument, return and default type, spanned at the
// user's type or literal, so an unsupported type is rustc's error there, with the hint of
// the trait's `#[diagnostic::on_unimplemented]`. The schema and the call of a function
// are in one generated function so that rustc reports each such error once.
//
// Errors point at the part of the code to change and say what is accepted instead. The
// block is emitted even when it has errors, so that they are the only ones reported, and
// so is the glue of functions with syntax errors (without their call), so that one build
// reports the type errors too.

mod types;

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Attribute, Expr, FnArg, ImplItem, ImplItemFn, ItemImpl, Lit, LitStr, Pat, ReceiverKind, ReturnType, Safety, Type, Visibility};

use crate::types::ReturnShape;

#[proc_macro_attribute]
pub fn module(attribute: TokenStream, item: TokenStream) -> TokenStream {
    let attribute = TokenStream2::from(attribute);
    let item = TokenStream2::from(item);
    let mut block = match syn::parse2::<ItemImpl>(item.clone()) {
        Ok(block) => block,
        Err(error) => {
            // The item stays, so that its other uses do not add errors of their own.
            let error = syn::Error::new(error.span(), "`#[tanto_sdk::module]` goes on an `impl` block: `impl MyModule { ... }`").into_compile_error();
            return quote!(#item #error).into();
        }
    };
    let mut errors = Errors::default();
    if !attribute.is_empty() {
        errors.push(syn::Error::new_spanned(
            attribute,
            "`#[tanto_sdk::module]` takes no arguments: the module's name is its crate's \
             name and its description is the doc comment of the `impl` block",
        ));
    }
    let block_is_exportable = exportable_block(&block, &mut errors);
    let (functions, constructor) = exported_functions(&mut block, &mut errors);
    let glue = if block_is_exportable {
        module_glue(&block, &functions, constructor.as_ref())
    } else {
        TokenStream2::new()
    };
    let errors = errors.into_compile_errors();
    quote! {
        #block
        #glue
        #errors
    }
    .into()
}

/// Every error found, reported together so that one build shows them all.
#[derive(Default)]
struct Errors(Option<syn::Error>);

impl Errors {
    fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(errors) => errors.combine(error),
            None => self.0 = Some(error),
        }
    }

    fn append(&mut self, other: Errors) {
        if let Some(error) = other.0 {
            self.push(error);
        }
    }

    fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    fn into_compile_errors(self) -> TokenStream2 {
        self.0.map(syn::Error::into_compile_error).unwrap_or_default()
    }
}

/// An exported function, as read from its `pub fn`.
struct Function {
    ident: syn::Ident,
    name: String,
    description: String,
    has_receiver: bool,
    arguments: Vec<Argument>,
    return_shape: ReturnShape,
    return_type: Option<Type>,
    /// The signature has no syntax error, so the generated code calls the function; with
    /// one, it still requires the traits of the types, to report their errors too.
    callable: bool,
}

/// An argument of an exported function.
struct Argument {
    name: String,
    description: String,
    ty: Type,
    /// The `#[arg(default = ...)]` literal.
    default: Option<types::DefaultLiteral>,
}

/// Checks the block itself: whether its functions can be exported at all.
fn exportable_block(block: &ItemImpl, errors: &mut Errors) -> bool {
    let mut exportable = true;
    if let Some((trait_path, _)) = &block.trait_ {
        exportable = false;
        errors.push(syn::Error::new_spanned(
            trait_path,
            "`#[tanto_sdk::module]` goes on an inherent `impl` block (`impl MyModule { ... }`), \
             not on a trait implementation",
        ));
    }
    if !block.generics.params.is_empty() || block.generics.where_clause.is_some() {
        exportable = false;
        errors.push(syn::Error::new_spanned(
            &block.generics,
            "a module type cannot be generic: the host creates it with `Default::default()`",
        ));
    }
    if !matches!(*block.self_ty, Type::Path(_)) {
        exportable = false;
        errors.push(syn::Error::new_spanned(
            &block.self_ty,
            "a module is a named type that implements `Default` (`struct MyModule;`)",
        ));
    }
    exportable
}

/// Reads the exported functions of `block` and its constructor (a `pub fn new` without
/// receiver), removing the `#[arg]` attributes it finds.
fn exported_functions(block: &mut ItemImpl, errors: &mut Errors) -> (Vec<Function>, Option<Function>) {
    let mut functions: Vec<Function> = Vec::new();
    let mut constructor: Option<Function> = None;
    for item in &mut block.items {
        let ImplItem::Fn(method) = item else { continue };
        if !matches!(method.vis, Visibility::Public(_)) {
            // Helpers stay private; only their `#[arg]` attributes are an error.
            for input in &mut method.sig.inputs {
                if let FnArg::Typed(argument) = input {
                    for attribute in take_arg_attributes(&mut argument.attrs) {
                        errors.push(syn::Error::new_spanned(
                            attribute,
                            "`#[arg]` describes arguments of exported functions, which are \
                             `pub fn`s",
                        ));
                    }
                }
            }
            continue;
        }
        let Some(function) = exported_function(method, errors) else {
            continue;
        };
        if function.ident == "new" && !function.has_receiver {
            if matches!(function.return_shape, ReturnShape::Unit) {
                errors.push(syn::Error::new_spanned(
                    &method.sig,
                    "a module's constructor `new` returns the module: `-> Self` or `-> Result<Self>`",
                ));
            }
            constructor = Some(function);
            continue;
        }
        if let Some(previous) = functions.iter().find(|other| other.name == function.name) {
            errors.push(syn::Error::new_spanned(
                &function.ident,
                format!("`{}` and `{}` are both exported as `{}`", previous.ident, function.ident, function.name),
            ));
            continue;
        }
        functions.push(function);
    }
    (functions, constructor)
}

/// Reads one `pub fn`, reporting what keeps it from being exported.
fn exported_function(method: &mut ImplItemFn, all_errors: &mut Errors) -> Option<Function> {
    let mut errors = Errors::default();
    let signature = &mut method.sig;
    if let Some(asyncness) = &signature.asyncness {
        errors.push(syn::Error::new_spanned(
            asyncness,
            "an exported function cannot be `async`: the pipeline API blocks until a result \
             is ready, so write a plain `fn`",
        ));
    }
    if let Safety::Unsafe(unsafety) = &signature.safety {
        errors.push(syn::Error::new_spanned(
            unsafety,
            "an exported function cannot be `unsafe`: the host calls it with any arguments \
             that match its schema",
        ));
    }
    if let Some(abi) = &signature.abi {
        errors.push(syn::Error::new_spanned(abi, "an exported function has the Rust ABI: remove the `extern`"));
    }
    // The glue of a generic function is not generated: its types may name its generics.
    let generic = !signature.generics.params.is_empty() || signature.generics.where_clause.is_some();
    if generic {
        errors.push(syn::Error::new_spanned(
            &signature.generics,
            "an exported function cannot be generic: its schema declares one type for each \
             argument",
        ));
    }

    let mut has_receiver = false;
    let mut arguments: Vec<Argument> = Vec::new();
    for input in &mut signature.inputs {
        match input {
            FnArg::Receiver(receiver) => {
                has_receiver = true;
                let shared_reference = matches!(receiver.kind, ReceiverKind::Reference(_, _, None));
                if !shared_reference || receiver.mutability.is_some() {
                    errors.push(syn::Error::new_spanned(
                        receiver,
                        "an exported function takes `&self` or no receiver: each call gets a \
                         new module value, so changes to it would be lost",
                    ));
                }
            }
            FnArg::Typed(typed) => {
                let arg_attributes = take_arg_attributes(&mut typed.attrs);
                let ident = match &*typed.pat {
                    Pat::Ident(pattern) if pattern.by_ref.is_none() && pattern.subpat.is_none() => pattern.ident.clone(),
                    other => {
                        errors.push(syn::Error::new_spanned(
                            other,
                            "an exported function's argument needs a plain name \
                             (`source: Directory`): it is the argument's name in the schema",
                        ));
                        continue;
                    }
                };
                // An argument with a wrong option is still read, without its default,
                // so that an error of its type is reported too.
                let options = match ArgOptions::parse(&arg_attributes) {
                    Ok(options) => options,
                    Err(error) => {
                        errors.push(error);
                        ArgOptions::default()
                    }
                };
                let default = match options.default {
                    Some(value) => match types::default_literal(&value) {
                        Ok(literal) => Some(literal),
                        Err(error) => {
                            errors.push(error);
                            None
                        }
                    },
                    None => None,
                };
                if let Type::ImplTrait(impl_trait) = &*typed.ty {
                    errors.push(syn::Error::new_spanned(
                        impl_trait,
                        "an exported function cannot be generic: its schema declares one type \
                         for each argument, so name the type instead of `impl Trait`",
                    ));
                    continue;
                }
                let name = kebab_case(&ident);
                if arguments.iter().any(|other| other.name == name) {
                    errors.push(syn::Error::new_spanned(&ident, format!("two arguments are exported as `{name}`")));
                    continue;
                }
                arguments.push(Argument {
                    name,
                    description: options.description.map(|text| text.value()).unwrap_or_default(),
                    ty: (*typed.ty).clone(),
                    default,
                });
            }
        }
    }

    let (return_shape, return_type) = match &signature.output {
        ReturnType::Default => (ReturnShape::Unit, None),
        ReturnType::Type(_, ty) => match types::return_shape(ty) {
            Ok(shape) => (shape, Some((**ty).clone())),
            Err(error) => {
                errors.push(error);
                (ReturnShape::Unit, None)
            }
        },
    };

    let callable = errors.is_empty();
    all_errors.append(errors);
    if generic {
        return None;
    }
    Some(Function {
        name: kebab_case(&signature.ident),
        ident: signature.ident.clone(),
        description: documentation(&method.attrs),
        has_receiver,
        arguments,
        return_shape,
        return_type,
        callable,
    })
}

/// Removes the `#[arg(...)]` attributes from `attributes` and returns them.
fn take_arg_attributes(attributes: &mut Vec<Attribute>) -> Vec<Attribute> {
    let (arg, others) = std::mem::take(attributes).into_iter().partition(|attribute| attribute.path().is_ident("arg"));
    *attributes = others;
    arg
}

/// What an argument's `#[arg(description = "...", default = ...)]` says.
#[derive(Default)]
struct ArgOptions {
    description: Option<LitStr>,
    default: Option<Expr>,
}

impl ArgOptions {
    fn parse(attributes: &[Attribute]) -> syn::Result<Self> {
        let mut options = ArgOptions::default();
        for attribute in attributes {
            attribute.parse_nested_meta(|meta| {
                if meta.path.is_ident("description") {
                    if options.description.is_some() {
                        return Err(meta.error("`description` is given twice"));
                    }
                    options.description = Some(meta.value()?.parse()?);
                } else if meta.path.is_ident("default") {
                    if options.default.is_some() {
                        return Err(meta.error("`default` is given twice"));
                    }
                    options.default = Some(meta.value()?.parse()?);
                } else {
                    return Err(meta.error(
                        "unknown `#[arg]` option: `#[arg]` takes `description = \"...\"` and \
                         `default = <literal>`",
                    ));
                }
                Ok(())
            })?;
        }
        Ok(options)
    }
}

/// A Rust name in kebab-case, as the schema and the CLI spell it: `build_image` →
/// `build-image`, `r#type` → `type`, `fetchURL` → `fetch-url`.
fn kebab_case(ident: &syn::Ident) -> String {
    let text = ident.to_string();
    let text = text.strip_prefix("r#").unwrap_or(&text);
    let mut kebab = String::with_capacity(text.len() + 4);
    let mut previous: Option<char> = None;
    for character in text.chars() {
        if character == '_' {
            if !kebab.is_empty() && !kebab.ends_with('-') {
                kebab.push('-');
            }
        } else {
            let starts_word = character.is_uppercase() && previous.is_some_and(|previous| previous.is_lowercase() || previous.is_ascii_digit());
            if starts_word && !kebab.is_empty() && !kebab.ends_with('-') {
                kebab.push('-');
            }
            kebab.extend(character.to_lowercase());
        }
        previous = Some(character);
    }
    while kebab.ends_with('-') {
        kebab.pop();
    }
    kebab
}

/// The text of the doc comments in `attributes`: one leading space removed from each
/// line (the one after `///`), lines joined with `\n`, blank lines around removed.
fn documentation(attributes: &[Attribute]) -> String {
    let mut lines: Vec<String> = Vec::new();
    for attribute in attributes {
        if !attribute.path().is_ident("doc") {
            continue;
        }
        let syn::Meta::NameValue(name_value) = &attribute.meta else {
            continue;
        };
        // `#[doc = include_str!(...)]` and other computed docs are not readable here.
        let Expr::Lit(syn::ExprLit { lit: Lit::Str(text), .. }) = &name_value.value else {
            continue;
        };
        // `split`, not `lines`: an empty `///` line is `#[doc = ""]`, which has no lines
        // but is a paragraph break.
        for line in text.value().split('\n') {
            let line = line.strip_prefix(' ').unwrap_or(line);
            lines.push(line.trim_end().to_owned());
        }
    }
    let first = lines.iter().position(|line| !line.is_empty());
    let last = lines.iter().rposition(|line| !line.is_empty());
    match (first, last) {
        (Some(first), Some(last)) => lines[first..=last].join("\n"),
        _ => String::new(),
    }
}

/// The `tanto_sdk::Module` implementation and the exported symbols for `block`.
fn module_glue(block: &ItemImpl, functions: &[Function], constructor: Option<&Function>) -> TokenStream2 {
    let self_ty = &block.self_ty;
    let module_description = documentation(&block.attrs);
    let function_names: Vec<&str> = functions.iter().map(|function| function.name.as_str()).collect();
    let exports: Vec<syn::Ident> = (0..functions.len())
        .map(|index| format_ident!("export_{}", index, span = Span::mixed_site()))
        .collect();
    let export_functions = functions
        .iter()
        .zip(&exports)
        .map(|(function, export)| export_function(self_ty, function, export));
    let function_parameter = hygienic("function");
    let arguments_parameter = hygienic("arguments");
    let constructor_parameter = hygienic("constructor_arguments");
    let reader = hygienic("reader");
    let (constructor_schemas, construct) = match constructor {
        Some(constructor) => {
            let schemas = constructor.arguments.iter().map(argument_schema);
            let locals: Vec<syn::Ident> = (0..constructor.arguments.len())
                .map(|index| format_ident!("argument_{}", index, span = Span::mixed_site()))
                .collect();
            let reads = constructor
                .arguments
                .iter()
                .zip(&locals)
                .map(|(argument, local)| argument_read(argument, local, &reader));
            let names = constructor.arguments.iter().map(|argument| argument.name.as_str());
            let ident = &constructor.ident;
            let made = if !constructor.callable {
                quote!(::core::unreachable!())
            } else {
                match &constructor.return_shape {
                    ReturnShape::Fallible { .. } => quote! {
                        match <#self_ty>::#ident(#(#locals),*) {
                            ::core::result::Result::Ok(module) => module,
                            ::core::result::Result::Err(error) => {
                                return ::core::result::Result::Err(::core::convert::Into::<::tanto_sdk::Error>::into(error));
                            }
                        }
                    },
                    _ => quote!(<#self_ty>::#ident(#(#locals),*)),
                }
            };
            let allow_unreachable = (!constructor.callable).then(|| quote!(#[allow(unreachable_code, unused_variables)]));
            (
                quote!(#(#schemas),*),
                quote! {
                    #allow_unreachable
                    let mut #reader = ::tanto_sdk::__private::Arguments::constructor(::core::env!("CARGO_PKG_NAME"), #constructor_parameter);
                    #(#reads)*
                    #reader.finish(&[#(#names),*])?;
                    ::core::result::Result::Ok(#made)
                },
            )
        }
        None => {
            let default_span = self_ty.span();
            let new_module = quote_spanned! {default_span=>
                <#self_ty as ::core::default::Default>::default()
            };
            (
                TokenStream2::new(),
                quote! {
                    ::tanto_sdk::__private::Arguments::constructor(::core::env!("CARGO_PKG_NAME"), #constructor_parameter).finish(&[])?;
                    ::core::result::Result::Ok(#new_module)
                },
            )
        }
    };

    quote! {
        const _: () = {
            #(#export_functions)*

            impl ::tanto_sdk::Module for #self_ty {
                fn describe() -> ::tanto_sdk::schema::ModuleSchema {
                    ::tanto_sdk::schema::ModuleSchema {
                        name: ::std::string::String::from(::core::env!("CARGO_PKG_NAME")),
                        description: ::std::string::String::from(#module_description),
                        functions: ::std::vec![#(#exports().schema),*],
                        constructor: ::std::vec![#constructor_schemas],
                    }
                }

                fn construct(
                    #constructor_parameter: ::std::vec::Vec<(::std::string::String, ::tanto_sdk::value::Value)>,
                ) -> ::tanto_sdk::Result<Self> {
                    #construct
                }

                fn invoke(
                    &self,
                    #function_parameter: &str,
                    #arguments_parameter: ::std::vec::Vec<(::std::string::String, ::tanto_sdk::value::Value)>,
                ) -> ::tanto_sdk::Result<::tanto_sdk::value::Value> {
                    match #function_parameter {
                        #(#function_names => (#exports().invoke)(self, #arguments_parameter),)*
                        _ => ::core::result::Result::Err(
                            ::tanto_sdk::__private::Arguments::unknown_function(
                                ::core::env!("CARGO_PKG_NAME"),
                                #function_parameter,
                                &[#(#function_names),*],
                            ),
                        ),
                    }
                }
            }

            // Called by the SDK's component export, which declares these two symbols;
            // see `tanto_sdk::Module`.
            #[unsafe(no_mangle)]
            fn __tanto_module_describe() -> ::tanto_sdk::schema::ModuleSchema {
                <#self_ty as ::tanto_sdk::Module>::describe()
            }

            #[unsafe(no_mangle)]
            fn __tanto_module_call(
                #constructor_parameter: ::std::vec::Vec<(::std::string::String, ::tanto_sdk::value::Value)>,
                #function_parameter: &str,
                #arguments_parameter: ::std::vec::Vec<(::std::string::String, ::tanto_sdk::value::Value)>,
            ) -> ::tanto_sdk::Result<::tanto_sdk::value::Value> {
                let module = <#self_ty as ::tanto_sdk::Module>::construct(#constructor_parameter)?;
                ::tanto_sdk::Module::invoke(&module, #function_parameter, #arguments_parameter)
            }
        };
    }
}

/// The `tanto_sdk::schema::ArgumentSchema` of `argument`.
fn argument_schema(argument: &Argument) -> TokenStream2 {
    let name = &argument.name;
    let description = &argument.description;
    let ty = &argument.ty;
    let default_value = match &argument.default {
        Some(types::DefaultLiteral {
            expression: literal,
            ty: literal_type,
        }) => {
            let ty = respan(ty, literal.span());
            quote_spanned! {literal.span()=>
                ::core::option::Option::Some(::tanto_sdk::__private::default_json::<#ty, #literal_type>(#literal))
            }
        }
        None => quote!(::core::option::Option::None),
    };
    let type_ref = quote_spanned! {ty.span()=>
        ::tanto_sdk::__private::argument_type::<#ty>()
    };
    quote! {
        ::tanto_sdk::schema::ArgumentSchema {
            name: ::std::string::String::from(#name),
            description: ::std::string::String::from(#description),
            type_ref: #type_ref,
            default_value: #default_value,
        }
    }
}

/// `let local: T = ...;` reading `argument` from `reader` (an `Arguments`), its default
/// when it is absent.
fn argument_read(argument: &Argument, local: &syn::Ident, reader: &syn::Ident) -> TokenStream2 {
    let argument_name = &argument.name;
    let ty = &argument.ty;
    let read = match &argument.default {
        Some(types::DefaultLiteral {
            expression: literal,
            ty: literal_type,
        }) => {
            let optional = quote_spanned! {ty.span()=> #reader.optional::<#ty>(#argument_name)? };
            let default_ty = respan(ty, literal.span());
            let default = quote_spanned! {literal.span()=>
                ::tanto_sdk::__private::default_value::<#default_ty, #literal_type>(#literal)
            };
            quote! {
                match #optional {
                    ::core::option::Option::Some(value) => value,
                    ::core::option::Option::None => #default,
                }
            }
        }
        None => quote_spanned! {ty.span()=> #reader.read::<#ty>(#argument_name)? },
    };
    quote! { let #local: #ty = #read; }
}

/// An identifier of the generated code, hygienic so that it cannot clash with the names
/// of a module's arguments.
fn hygienic(name: &str) -> syn::Ident {
    syn::Ident::new(name, Span::mixed_site())
}

/// `tokens` with every token at `span`: a type named where rustc should report an error
/// of its traits at another place than the type, such as a default's literal.
fn respan(tokens: impl quote::ToTokens, span: Span) -> TokenStream2 {
    tokens
        .into_token_stream()
        .into_iter()
        .map(|mut tree| {
            if let proc_macro2::TokenTree::Group(group) = &tree {
                let mut respanned = proc_macro2::Group::new(group.delimiter(), respan(group.stream(), span));
                respanned.set_span(span);
                tree = respanned.into();
            }
            tree.set_span(span);
            tree
        })
        .collect()
}

/// The function `export` returning the `tanto_sdk::__private::Export` of `function`: its
/// schema, and the code that reads its arguments, calls it and returns its result.
///
/// Each use of a type the SDK must accept is spanned at the type (or at the default
/// literal), so that rustc's error for a type without the trait points there; both uses
/// of a type (schema and call) require the same trait in this one body, which rustc
/// reports once.
fn export_function(self_ty: &Type, function: &Function, export: &syn::Ident) -> TokenStream2 {
    let name = &function.name;
    let description = &function.description;
    let ident = &function.ident;
    let module = hygienic("module");
    let arguments_parameter = hygienic("arguments");
    let reader = hygienic("reader");
    let result = hygienic("result");
    let value = hygienic("value");
    let locals: Vec<syn::Ident> = (0..function.arguments.len())
        .map(|index| format_ident!("argument_{}", index, span = Span::mixed_site()))
        .collect();

    let argument_schemas = function.arguments.iter().map(argument_schema);
    let returned_type = match (&function.return_shape, &function.return_type) {
        (ReturnShape::Fallible { value_type }, _) => Some(&**value_type),
        (ReturnShape::Value, Some(ty)) => Some(ty),
        (ReturnShape::Unit, _) | (ReturnShape::Value, None) => None,
    };
    let return_type = match returned_type {
        Some(ty) => quote_spanned! {ty.span()=>
            ::tanto_sdk::__private::return_type::<#ty>()
        },
        None => quote!(::tanto_sdk::__private::return_type::<()>()),
    };

    let reads = function
        .arguments
        .iter()
        .zip(&locals)
        .map(|(argument, local)| argument_read(argument, local, &reader));
    let argument_names = function.arguments.iter().map(|argument| argument.name.as_str());
    let call = if !function.callable {
        // The signature has an error already reported; calling it would add others.
        quote!(::core::unreachable!())
    } else if function.has_receiver {
        quote!(#module.#ident(#(#locals),*))
    } else {
        quote!(<#self_ty>::#ident(#(#locals),*))
    };
    let into_value = |ty: Option<&Type>| match ty {
        Some(ty) => quote_spanned! {ty.span()=> <#ty as ::tanto_sdk::value::IntoValue>::into_value(#value) },
        None => quote!(<() as ::tanto_sdk::value::IntoValue>::into_value(#value)),
    };
    let returned = match &function.return_shape {
        ReturnShape::Fallible { value_type } => {
            let into_value = into_value(Some(value_type));
            quote! {
                match #result {
                    ::core::result::Result::Ok(#value) => ::core::result::Result::Ok(#into_value),
                    ::core::result::Result::Err(error) => ::core::result::Result::Err(
                        ::core::convert::Into::<::tanto_sdk::Error>::into(error),
                    ),
                }
            }
        }
        ReturnShape::Unit | ReturnShape::Value => {
            let into_value = into_value(function.return_type.as_ref().filter(|_| matches!(function.return_shape, ReturnShape::Value)));
            quote! {
                let #value = #result;
                ::core::result::Result::Ok(#into_value)
            }
        }
    };
    let allow_unreachable = (!function.callable).then(|| quote!(#[allow(unreachable_code, unused_variables)]));

    quote! {
        #allow_unreachable
        fn #export() -> ::tanto_sdk::__private::Export<#self_ty> {
            ::tanto_sdk::__private::Export {
                schema: ::tanto_sdk::schema::FunctionSchema {
                    name: ::std::string::String::from(#name),
                    description: ::std::string::String::from(#description),
                    arguments: ::std::vec![#(#argument_schemas),*],
                    return_type: #return_type,
                },
                invoke: |#module: &#self_ty, #arguments_parameter| {
                    let _ = #module;
                    let mut #reader = ::tanto_sdk::__private::Arguments::new(#name, #arguments_parameter);
                    #(#reads)*
                    #reader.finish(&[#(#argument_names),*])?;
                    let #result = #call;
                    #returned
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    #[test]
    fn names_become_kebab_case() {
        let cases = [
            (parse_quote!(hello), "hello"),
            (parse_quote!(build_image), "build-image"),
            (parse_quote!(src_dir), "src-dir"),
            (parse_quote!(r#type), "type"),
            (parse_quote!(with__double), "with-double"),
            (parse_quote!(_leading), "leading"),
            (parse_quote!(fetchURL), "fetch-url"),
            (parse_quote!(sha256_sum), "sha256-sum"),
        ];
        for (ident, expected) in cases {
            let ident: syn::Ident = ident;
            assert_eq!(kebab_case(&ident), expected, "{ident}");
        }
    }

    #[test]
    fn doc_comments_lose_the_leading_space_and_surrounding_blank_lines() {
        let attributes: Vec<Attribute> = vec![
            parse_quote!(#[doc = ""]),
            parse_quote!(#[doc = " Builds the image."]),
            parse_quote!(#[doc = ""]),
            parse_quote!(#[doc = "   Indented  "]),
            parse_quote!(#[inline]),
            parse_quote!(#[doc = " "]),
        ];
        assert_eq!(documentation(&attributes), "Builds the image.\n\n  Indented");
        assert_eq!(documentation(&[]), "");
    }

    #[test]
    fn arg_attributes_are_removed_and_read() {
        let mut attributes: Vec<Attribute> = vec![
            parse_quote!(#[allow(unused)]),
            parse_quote!(#[arg(description = "who to greet", default = "world")]),
        ];
        let taken = take_arg_attributes(&mut attributes);
        assert_eq!(attributes.len(), 1);
        let options = ArgOptions::parse(&taken).map_err(|error| error.to_string());
        let options = match options {
            Ok(options) => options,
            Err(error) => panic!("{error}"),
        };
        assert_eq!(options.description.map(|text| text.value()).as_deref(), Some("who to greet"));
        assert!(matches!(options.default, Some(Expr::Lit(_))));
    }
}
