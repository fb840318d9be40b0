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
                "decorator options are numbers, strings, booleans, lists of them, or lists of (name, value) pairs",
            )),
        },
        Expr::Unary(u) if matches!(u.op, UnOp::Neg(_)) => Ok(format!("-{}", json_of(&u.expr)?)),
        // `[("A", "1"), ("B", "2")]` is a dict, `{"A": "1", "B": "2"}` in
        // Python: an attribute cannot hold braces.
        Expr::Array(a) if !a.elems.is_empty() && a.elems.iter().all(is_pair) => {
            let entries: syn::Result<Vec<String>> = a.elems.iter().map(json_entry).collect();
            Ok(format!("{{{}}}", entries?.join(",")))
        }
        Expr::Array(a) => {
            let items: syn::Result<Vec<String>> = a.elems.iter().map(json_of).collect();
            Ok(format!("[{}]", items?.join(",")))
        }
        Expr::Tuple(t) => Err(syn::Error::new(
            t.span(),
            "a (name, value) pair goes in a list of them, which writes a dict: \
             vars = [(\"A\", \"1\"), (\"B\", \"2\")]",
        )),
        Expr::Group(g) => json_of(&g.expr),
        other => Err(syn::Error::new(
            other.span(),
            "decorator options are literals: numbers, strings, booleans, lists of them, or lists of (name, value) pairs",
        )),
    }
}

/// Whether `expr` is a `(name, value)` pair, one entry of a dict.
fn is_pair(expr: &Expr) -> bool {
    matches!(expr, Expr::Tuple(t) if t.elems.len() == 2)
}

/// `"name": value` of a `(name, value)` pair; the name is a string.
fn json_entry(expr: &Expr) -> syn::Result<String> {
    let Expr::Tuple(pair) = expr else {
        return Err(syn::Error::new(expr.span(), "a (name, value) pair"));
    };
    match (&pair.elems[0], &pair.elems[1]) {
        (
            Expr::Lit(ExprLit {
                lit: Lit::Str(name),
                ..
            }),
            value,
        ) => Ok(format!(
            "{}:{}",
            json_string(&name.value()),
            json_of(value)?
        )),
        (name, _) => Err(syn::Error::new(
            name.span(),
            "a dict's names are strings: (\"name\", value)",
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

#[cfg(test)]
mod tests {
    use super::*;

    fn json(text: &str) -> syn::Result<String> {
        json_of(&syn::parse_str::<Expr>(text)?)
    }

    #[test]
    fn a_list_of_pairs_is_a_dict_and_lists_of_them_a_list_of_dicts() {
        assert_eq!(
            json(r#"[("A", "1"), ("B", 2)]"#).unwrap(),
            r#"{"A":"1","B":2}"#
        );
        assert_eq!(
            json(r#"[[("key", "gpu"), ("operator", "Exists")]]"#).unwrap(),
            r#"[{"key":"gpu","operator":"Exists"}]"#
        );
        assert_eq!(json("[]").unwrap(), "[]");
        assert_eq!(json(r#"["a", -1, true]"#).unwrap(), r#"["a",-1,true]"#);
    }

    #[test]
    fn pairs_must_have_string_names_and_sit_in_a_list() {
        let bare = json(r#"("A", "1")"#).unwrap_err().to_string();
        assert!(bare.contains("list of them"), "{bare}");
        let named = json(r#"[(1, "x")]"#).unwrap_err().to_string();
        assert!(named.contains("names are strings"), "{named}");
        let mixed = json(r#"[("A", "1"), "B"]"#).unwrap_err().to_string();
        assert!(mixed.contains("list of them"), "{mixed}");
    }
}
