//! `#[wasio::main]` and `#[wasio::test]`: run an `async fn` on a fresh wasio loop.
//!
//! Use them through `wasio` (its default `macros` feature re-exports both); this crate is its
//! implementation detail and the expansion names `::wasio`, so the dependency must keep that
//! name.
//!
//! # Ground rules
//!
//! * `wasio::run` (asyncio's `asyncio.run`) drives the body natively and on WASI 0.2 alike.
//! * With wasio's `wasi-p3` feature (which turns on this crate's), the expansion also carries
//!   WASI 0.3 entry points behind `#[cfg(all(target_os = "wasi", target_env = "p2"))]`: a WASI
//!   0.3 loop may block only inside an `async func` export, so `main`'s body moves into a
//!   `wasi:cli/run@0.3.0` export and each test's into wasio's `wasio:test/runner` registry
//!   (`generate_p3`). The target is decided in the user's crate; the feature here only says
//!   whether wasio was built with that backend.
//! * Only `async fn name() [-> T]` is accepted. Anything else (a missing `async`, parameters,
//!   `self`, generics, a `where` clause, `const`, `unsafe`, an ABI, arguments to the attribute,
//!   a second `#[test]`) is a `compile_error!` pointing at the offending tokens.
//! * The return type is checked by traits in `wasio::__private` (`MainOutput`, `TestOutput`),
//!   whose messages say which types work; what happens to an error of the loop itself is
//!   decided there, not here.

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{ItemFn, ReturnType};

/// Runs an `async fn main` on a new wasio loop with `wasio::run` (asyncio's `asyncio.run`).
///
/// The function may return `()`, `std::process::ExitCode` or `Result<T, E>` with
/// `E: From<wasio::Error>`. An error of the loop itself (for example the body panicked, or
/// nothing could ever wake the loop on WASI) is never dropped: with a `Result` it is returned
/// as `Err` (so it is printed as `Error: …` and the process exits with 1, as for any `main`);
/// otherwise `main` panics with its message. See `wasio::main` for examples.
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::Main, args.into(), item.into()).into()
}

/// Turns an `async fn` into a `#[test]` that runs it on a new wasio loop with `wasio::run`.
///
/// The function may return `()` or `Result<T, E>` (as a `#[test]` may). An error of the loop
/// itself fails the test with a panic naming it, whatever the return type. Other attributes
/// (`#[ignore]`, `#[should_panic]`) are kept. See `wasio::test` for examples.
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::Test, args.into(), item.into()).into()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Main,
    Test,
}

impl Kind {
    fn attr(self) -> &'static str {
        match self {
            Kind::Main => "`#[wasio::main]`",
            Kind::Test => "`#[wasio::test]`",
        }
    }
}

fn expand(kind: Kind, args: TokenStream2, item: TokenStream2) -> TokenStream2 {
    let func: ItemFn = match syn::parse2(item) {
        Ok(f) => f,
        Err(e) => {
            let msg = format!("{} applies to an `async fn` only: {e}", kind.attr());
            return syn::Error::new(e.span(), msg).to_compile_error();
        }
    };
    match check(kind, &args, &func) {
        Ok(()) => generate(kind, func),
        Err(err) => {
            let errors = err.to_compile_error();
            // A stub keeps the crate's other errors away ("`main` function not found").
            let stub = match kind {
                Kind::Main => {
                    let (vis, ident) = (&func.vis, &func.sig.ident);
                    quote! { #vis fn #ident() {} }
                }
                Kind::Test => TokenStream2::new(),
            };
            quote! { #errors #stub }
        }
    }
}

/// Every misuse, each pointing at its tokens, combined into one error.
fn check(kind: Kind, args: &TokenStream2, func: &ItemFn) -> Result<(), syn::Error> {
    let attr = kind.attr();
    let sig = &func.sig;
    let mut errors: Vec<syn::Error> = Vec::new();
    // `new_spanned` covers every token of the culprit, not only its first one.
    let mut fail = |tokens: &dyn ToTokens, msg: String| {
        errors.push(syn::Error::new_spanned(tokens, msg));
    };
    if !args.is_empty() {
        fail(args, format!("{attr} takes no arguments"));
    }
    if sig.asyncness.is_none() {
        fail(
            &sig.fn_token,
            format!("{attr} needs an `async fn`: add `async` before `fn`"),
        );
    }
    if let Some(c) = &sig.constness {
        fail(c, format!("{attr} cannot be used on a `const fn`"));
    }
    if let Some(u) = &sig.unsafety {
        fail(u, format!("{attr} cannot be used on an `unsafe fn`"));
    }
    if let Some(abi) = &sig.abi {
        fail(
            abi,
            format!("{attr} cannot be used on a function with an ABI"),
        );
    }
    if !sig.generics.params.is_empty() {
        fail(&sig.generics, format!("{attr} functions cannot be generic"));
    }
    if let Some(w) = &sig.generics.where_clause {
        fail(w, format!("{attr} functions cannot have a `where` clause"));
    }
    for input in &sig.inputs {
        let msg = match input {
            syn::FnArg::Receiver(_) => format!("{attr} functions cannot take `self`"),
            syn::FnArg::Typed(_) => {
                format!("{attr} functions take no arguments (read them inside the body instead)")
            }
        };
        fail(input, msg);
    }
    if let Some(v) = &sig.variadic {
        fail(v, format!("{attr} functions take no arguments"));
    }
    if kind == Kind::Test {
        for a in &func.attrs {
            if a.path().is_ident("test") {
                fail(
                    a,
                    "`#[wasio::test]` already makes the function a `#[test]`: remove this attribute"
                        .to_string(),
                );
            }
        }
    }
    let mut errors = errors.into_iter();
    match errors.next() {
        None => Ok(()),
        Some(mut first) => {
            for e in errors {
                first.combine(e);
            }
            Err(first)
        }
    }
}

fn generate(kind: Kind, func: ItemFn) -> TokenStream2 {
    if !cfg!(feature = "wasi-p3") {
        return generate_usual(kind, &func);
    }
    // wasio's `wasi-p3` feature: WASI 0.3 entry points on wasm32-wasip2 (the target of its
    // WASI 0.3 backend), the usual expansion elsewhere. The choice is made in the user's crate,
    // whose target is the one wasio is built for.
    let wasi = quote! { all(target_os = "wasi", target_env = "p2") };
    let cfgs: Vec<_> = func
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("cfg"))
        .collect();
    let test_check = match kind {
        Kind::Main => TokenStream2::new(),
        Kind::Test => test_check(&func, &cfgs),
    };
    let usual = usual_items(kind, &func);
    let p3 = generate_p3(kind, &func);
    quote! {
        #test_check
        #[cfg(not(#wasi))]
        #usual
        #(
            #[cfg(#wasi)]
            #p3
        )*
    }
}

/// The return type, and the span its trait check is reported at.
fn return_type(func: &ItemFn) -> (TokenStream2, proc_macro2::Span) {
    let sig = &func.sig;
    match &sig.output {
        ReturnType::Default => (quote! { () }, sig.paren_token.span.close()),
        ReturnType::Type(_, ty) => (quote! { #ty }, ty.span()),
    }
}

/// `#[wasio::test]`'s return-type check, beside the function under the same `cfg`s, so a bad
/// type is reported in every build (and by `cargo check`).
fn test_check(func: &ItemFn, cfgs: &[&syn::Attribute]) -> TokenStream2 {
    let (ret, ret_span) = return_type(func);
    quote_spanned! {ret_span=>
        #(#cfgs)*
        const _: () = ::wasio::__private::check_test_output::<#ret>();
    }
}

/// The expansion on every target but WASI 0.3: the function runs its body with `wasio::run`.
fn generate_usual(kind: Kind, func: &ItemFn) -> TokenStream2 {
    let cfgs: Vec<_> = func
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("cfg"))
        .collect();
    let test_check = match kind {
        Kind::Main => TokenStream2::new(),
        Kind::Test => test_check(func, &cfgs),
    };
    let item = usual_items(kind, func);
    quote! {
        #test_check
        #item
    }
}

/// The function itself, as it runs everywhere but on WASI 0.3.
fn usual_items(kind: Kind, func: &ItemFn) -> TokenStream2 {
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = func;
    let ident = &sig.ident;
    let (ret, ret_span) = return_type(func);
    let output = &sig.output;
    // The return type's trait check is spanned at the type, so an unsupported one is reported
    // there.
    let (call, test_attr) = match kind {
        Kind::Main => (
            quote_spanned! {ret_span=>
                ::wasio::__private::run_main::<#ret, _>(body)
            },
            TokenStream2::new(),
        ),
        // `#[test]` removes the function outside test builds.
        Kind::Test => (
            quote! {
                ::wasio::__private::run_test::<#ret, _>(body)
            },
            quote! { #[::core::prelude::v1::test] },
        ),
    };
    quote! {
        #(#attrs)*
        #test_attr
        #vis fn #ident() #output {
            let body = async move #block;
            #call
        }
    }
}

/// The WASI 0.3 expansion, as separate items (each gets the WASI 0.3 `cfg`).
///
/// * `main`: the body runs in an `async func` export of `wasi:cli/run@0.3.0` (a WASI 0.3 loop
///   may block only inside one); `fn main` stays, for Rust, and only says how to run the
///   program when a host calls it as a WASI 0.2 command.
/// * `test`: the body is registered for wasio's `wasio:test/runner` export, through which
///   `wasio-host run` runs it; libtest gets a `#[test]` stub that lists it and, when run by
///   another runner, fails naming `wasio-host`. `#[should_panic]` moves to the registration
///   (the host checks the panic); `#[ignore]` stays on the stub too, for `--list --ignored`.
fn generate_p3(kind: Kind, func: &ItemFn) -> Vec<TokenStream2> {
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = func;
    let ident = &sig.ident;
    let (ret, ret_span) = return_type(func);
    let output = &sig.output;
    let cfgs: Vec<_> = attrs.iter().filter(|a| a.path().is_ident("cfg")).collect();
    match kind {
        Kind::Main => {
            let call = quote_spanned! {ret_span=>
                ::wasio::__private::p3::run_main::<#ret, _>(body)
            };
            vec![
                quote! {
                    #(#attrs)*
                    #vis fn #ident() #output {
                        ::wasio::__private::p3::main_called_through_wasi_p2()
                    }
                },
                // Not in the binary's test harness, whose tests are the point (and whose
                // `main` is libtest's).
                quote! {
                    #[cfg(not(test))]
                    #(#cfgs)*
                    const _: () = {
                        struct __WasioMain;
                        impl ::wasio::__private::p3::RunGuest for __WasioMain {
                            async fn run() -> ::core::result::Result<(), ()> {
                                let body = async move #block;
                                #call
                            }
                        }
                        ::wasio::__private::p3::wasip3::cli::command::export!(
                            __WasioMain with_types_in ::wasio::__private::p3::wasip3
                        );
                    };
                },
            ]
        }
        Kind::Test => {
            let stub_attrs = attrs.iter().filter(|a| !a.path().is_ident("should_panic"));
            let ignore = attrs.iter().any(|a| a.path().is_ident("ignore"));
            let should_panic = match attrs.iter().find(|a| a.path().is_ident("should_panic")) {
                None => quote! { ::core::option::Option::None },
                Some(a) => match expected(a) {
                    Some(text) => quote! {
                        ::core::option::Option::Some(::core::option::Option::Some(#text))
                    },
                    None => quote! { ::core::option::Option::Some(::core::option::Option::None) },
                },
            };
            vec![
                quote! {
                    #(#stub_attrs)*
                    #[::core::prelude::v1::test]
                    #vis fn #ident() #output {
                        ::wasio::__private::p3::test_called_by_libtest(::core::concat!(
                            ::core::module_path!(), "::", ::core::stringify!(#ident)
                        ))
                    }
                },
                quote! {
                    #[cfg(test)]
                    #(#cfgs)*
                    ::wasio::__private::p3::inventory::submit! {
                        ::wasio::__private::p3::Test {
                            module: ::core::module_path!(),
                            name: ::core::stringify!(#ident),
                            ignore: #ignore,
                            should_panic: #should_panic,
                            run: {
                                fn __wasio_test() -> ::std::process::ExitCode {
                                    let body = async move #block;
                                    ::wasio::__private::p3::run_test::<#ret, _>(body)
                                }
                                __wasio_test
                            },
                        }
                    }
                },
            ]
        }
    }
}

/// The text of `#[should_panic = "…"]` or `#[should_panic(expected = "…")]`.
fn expected(attr: &syn::Attribute) -> Option<syn::LitStr> {
    match &attr.meta {
        syn::Meta::NameValue(nv) => match &nv.value {
            syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(s),
                ..
            }) => Some(syn::LitStr::new(&s.value(), s.span())),
            _ => None,
        },
        syn::Meta::List(_) => {
            let mut found = None;
            let _ = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("expected") {
                    found = Some(meta.value()?.parse::<syn::LitStr>()?);
                }
                Ok(())
            });
            found
        }
        syn::Meta::Path(_) => None,
    }
}
