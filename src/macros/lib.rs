//! `#[wasio::main]` and `#[wasio::test]`: run an `async fn` on a fresh wasio loop.
//!
//! Use them through `wasio` (its default `macros` feature re-exports both); this crate is its
//! implementation detail and the expansion names `::wasio`, so the dependency must keep that
//! name.
//!
//! # Ground rules
//!
//! * The expansion is the same on every target: `wasio::run` (asyncio's `asyncio.run`) drives
//!   the body natively and on wasm32-wasip2 alike; nothing here looks at the target.
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
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = func;
    let ident = &sig.ident;
    let (ret, ret_span) = match &sig.output {
        ReturnType::Default => (quote! { () }, sig.paren_token.span.close()),
        ReturnType::Type(_, ty) => (quote! { #ty }, ty.span()),
    };
    let output = &sig.output;
    // The return type's trait check is spanned at the type, so an unsupported one is reported
    // there.
    let call = match kind {
        Kind::Main => quote_spanned! {ret_span=>
            ::wasio::__private::run_main::<#ret, _>(body)
        },
        Kind::Test => quote! {
            ::wasio::__private::run_test::<#ret, _>(body)
        },
    };
    // The function's `cfg`s apply to the check beside it too.
    let cfgs = attrs.iter().filter(|a| a.path().is_ident("cfg"));
    let (test_attr, test_check) = match kind {
        Kind::Main => (TokenStream2::new(), TokenStream2::new()),
        // `#[test]` removes the function outside test builds; the return type is checked
        // beside it, so a bad one is reported in every build (and by `cargo check`).
        Kind::Test => (
            quote! { #[::core::prelude::v1::test] },
            quote_spanned! {ret_span=>
                #(#cfgs)*
                const _: () = ::wasio::__private::check_test_output::<#ret>();
            },
        ),
    };
    quote! {
        #test_check
        #(#attrs)*
        #test_attr
        #vis fn #ident() #output {
            let body = async move #block;
            #call
        }
    }
}
