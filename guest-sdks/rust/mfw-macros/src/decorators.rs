//! Decorators written as attribute arguments, such as
//! `#[step(retry(times = 3), resources(memory = 512))]`, recorded in the
//! graph with their options as JSON texts.

use proc_macro2::TokenStream as TokenStream2;
use quote::quote;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Attribute, Expr, ExprLit, Lit, Meta, MetaNameValue, Token, UnOp};

/// The step decorators mfw knows, with their options (as in Metaflow).
pub const STEP_DECORATORS: &[(&str, &[&str])] = &[
    ("retry", &["times", "minutes_between_retries"]),
    ("catch", &["var", "print_exception"]),
    ("timeout", &["seconds", "minutes", "hours"]),
    ("resources", &["cpu", "gpu", "memory", "disk"]),
    (
        "kubernetes",
        &[
            "cpu",
            "memory",
            "disk",
            "gpu",
            "image",
            "namespace",
            "node_selector",
            "tolerations",
            "service_account",
            "secrets",
        ],
    ),
    ("environment", &["vars"]),
    // `cache(enabled = false)`: always run; `true`: cache even a step whose
    // grants let it see the outside world.
    ("cache", &["enabled"]),
    // Capabilities: nothing is reachable unless granted.
    (
        "grant",
        &["read", "write", "env", "network", "clock", "random"],
    ),
];

/// The flow decorators mfw knows.
pub const FLOW_DECORATORS: &[(&str, &[&str])] = &[
    (
        "schedule",
        &["hourly", "daily", "weekly", "cron", "timezone"],
    ),
    ("project", &["name"]),
];

pub struct Decorator {
    name: String,
    options: Vec<(String, String)>,
}

impl Decorator {
    pub fn tokens(&self) -> TokenStream2 {
        let name = &self.name;
        let keys = self.options.iter().map(|(k, _)| k);
        let values = self.options.iter().map(|(_, v)| v);
        quote! {
            ::mfw::__rt::DecoratorInfo {
                name: #name,
                options: ::std::vec![#((#keys, #values)),*],
            }
        }
    }
}

fn json_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The JSON text of a literal option value.
fn json_of(expr: &Expr) -> syn::Result<String> {
    match expr {
        Expr::Lit(ExprLit { lit, .. }) => match lit {
            Lit::Int(i) => Ok(i.base10_digits().to_string()),
            Lit::Float(f) => Ok(f.base10_digits().to_string()),
            Lit::Str(s) => Ok(json_string(&s.value())),
            Lit::Bool(b) => Ok(b.value.to_string()),
            other => Err(syn::Error::new(
                other.span(),
                "decorator options are numbers, strings, booleans or lists of them",
            )),
        },
        Expr::Unary(u) if matches!(u.op, UnOp::Neg(_)) => Ok(format!("-{}", json_of(&u.expr)?)),
        Expr::Array(a) => {
            let items: syn::Result<Vec<String>> = a.elems.iter().map(json_of).collect();
            Ok(format!("[{}]", items?.join(",")))
        }
        Expr::Group(g) => json_of(&g.expr),
        other => Err(syn::Error::new(
            other.span(),
            "decorator options are literals: numbers, strings, booleans or lists of them",
        )),
    }
}

/// Parses `#[step(a(x = 1), b)]` or `#[flow(...)]` against `allowed`.
pub fn parse_decorators(
    attr: &Attribute,
    allowed: &[(&str, &[&str])],
    what: &str,
) -> syn::Result<Vec<Decorator>> {
    let metas = attr.parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated)?;
    let mut decorators = Vec::new();
    for meta in metas {
        let path = meta.path();
        let name = path
            .get_ident()
            .map(ToString::to_string)
            .ok_or_else(|| syn::Error::new(path.span(), "a decorator is a plain name"))?;
        let Some((_, options)) = allowed.iter().find(|(n, _)| *n == name) else {
            let known: Vec<&str> = allowed.iter().map(|(n, _)| *n).collect();
            return Err(syn::Error::new(
                path.span(),
                format!(
                    "unknown {what} decorator `{name}` (known: {})",
                    known.join(", ")
                ),
            ));
        };
        let mut parsed = Vec::new();
        match &meta {
            Meta::Path(_) => {}
            Meta::List(list) => {
                let pairs =
                    list.parse_args_with(Punctuated::<MetaNameValue, Token![,]>::parse_terminated)?;
                for pair in pairs {
                    let key = pair
                        .path
                        .get_ident()
                        .map(ToString::to_string)
                        .ok_or_else(|| syn::Error::new(pair.path.span(), "an option is a name"))?;
                    if !options.contains(&key.as_str()) {
                        return Err(syn::Error::new(
                            pair.path.span(),
                            format!(
                                "unknown option `{key}` for @{name} (its options: {})",
                                options.join(", ")
                            ),
                        ));
                    }
                    parsed.push((key, json_of(&pair.value)?));
                }
            }
            Meta::NameValue(nv) => {
                return Err(syn::Error::new(
                    nv.span(),
                    format!("write the decorator as {name}(option = value)"),
                ));
            }
        }
        decorators.push(Decorator {
            name,
            options: parsed,
        });
    }
    Ok(decorators)
}
