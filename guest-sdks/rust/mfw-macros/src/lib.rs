//! Procedural macros of the mfw Rust SDK. Use them through the `mfw` crate:
//! `#[derive(mfw::FlowSpec)]` on the flow's struct (its parameters) and
//! `#[mfw::steps]` on its `impl` block (its steps).
//!
//! As in Metaflow, the graph is read from the source at build time: each
//! step's `cx.next(...)` calls name its transitions, so they must be string
//! literals. Typos are compile errors.

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::{
    Attribute, Data, DeriveInput, Expr, ExprArray, ExprLit, Fields, FnArg, ImplItem, ImplItemFn,
    ItemImpl, Lit, Meta, Pat, Type,
};

mod decorators;

use decorators::{FLOW_DECORATORS, STEP_DECORATORS, parse_decorators};

/// Declares a flow's parameters, documentation and flow-level decorators.
///
/// Every field is a run parameter. `#[parameter(default = ..., help = "...")]`
/// sets its default and help (the doc comment is the default help); a field
/// without a default is required unless it is an `Option`.
#[proc_macro_derive(FlowSpec, attributes(flow, parameter))]
pub fn derive_flow_spec(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as DeriveInput);
    match flow_spec(input) {
        Ok(tokens) => tokens.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// Turns an `impl` block into the flow's steps: every method marked
/// `#[step]` (optionally with decorators, as `#[step(retry(times = 3))]`).
/// A step takes `&self` and `cx: &mut mfw::Context`; a join step also takes
/// `inputs: &mut mfw::Inputs`. This also exports the component.
///
/// In a flow whose steps live in several components (a flow manifest),
/// name the steps this block goes to but other components define:
/// `#[steps(external = ["train", "end"])]`. Such a block need not have
/// `start` and `end`; the assembled flow is checked as a whole.
#[proc_macro_attribute]
pub fn steps(attr: TokenStream, item: TokenStream) -> TokenStream {
    let external = match parse_external(attr.into()) {
        Ok(external) => external,
        Err(e) => return e.to_compile_error().into(),
    };
    let item = syn::parse_macro_input!(item as ItemImpl);
    match steps_impl(item, external) {
        Ok(tokens) => tokens.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// Parses `external = ["a", "b"]`, the only argument `#[steps]` takes.
fn parse_external(attr: TokenStream2) -> syn::Result<Option<Vec<String>>> {
    if attr.is_empty() {
        return Ok(None);
    }
    let mut external = Vec::new();
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("external") {
            let list: ExprArray = meta.value()?.parse()?;
            for item in &list.elems {
                match string_literal(item) {
                    Some((name, _)) => external.push(name),
                    None => {
                        return Err(syn::Error::new(
                            item.span(),
                            "name steps as string literals",
                        ));
                    }
                }
            }
            Ok(())
        } else {
            Err(meta.error("#[mfw::steps] takes only `external = [\"step\", ...]`"))
        }
    });
    syn::parse::Parser::parse2(parser, attr)?;
    Ok(Some(external))
}

fn doc_of(attrs: &[Attribute]) -> String {
    let lines: Vec<String> = attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            Meta::NameValue(nv) => match &nv.value {
                Expr::Lit(ExprLit {
                    lit: Lit::Str(s), ..
                }) => Some(s.value().trim().to_string()),
                _ => None,
            },
            _ => None,
        })
        .collect();
    lines.join("\n").trim().to_string()
}

fn is_option(ty: &Type) -> bool {
    match ty {
        Type::Path(p) => p.path.segments.last().is_some_and(|s| s.ident == "Option"),
        _ => false,
    }
}

fn flow_spec(input: DeriveInput) -> syn::Result<TokenStream2> {
    let name = &input.ident;
    let flow_name = name.to_string();
    let doc = doc_of(&input.attrs);
    let mut decorators = Vec::new();
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("flow")) {
        decorators.extend(parse_decorators(attr, FLOW_DECORATORS, "flow")?);
    }
    let fields = match &input.data {
        Data::Struct(s) => match &s.fields {
            Fields::Named(named) => named.named.iter().collect::<Vec<_>>(),
            Fields::Unit => Vec::new(),
            Fields::Unnamed(_) => {
                return Err(syn::Error::new(
                    input.span(),
                    "a flow's parameters are named fields: use `struct MyFlow { n: u64 }` or `struct MyFlow;`",
                ));
            }
        },
        _ => {
            return Err(syn::Error::new(
                input.span(),
                "#[derive(FlowSpec)] goes on a struct",
            ));
        }
    };
    let mut infos = Vec::new();
    let mut inits = Vec::new();
    for field in fields {
        let Some(ident) = &field.ident else { continue };
        let pname = ident.to_string();
        let ty = &field.ty;
        let mut help = doc_of(&field.attrs);
        let mut default: Option<Expr> = None;
        for attr in field
            .attrs
            .iter()
            .filter(|a| a.path().is_ident("parameter"))
        {
            attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("default") {
                    default = Some(meta.value()?.parse()?);
                    Ok(())
                } else if meta.path.is_ident("help") {
                    let lit: syn::LitStr = meta.value()?.parse()?;
                    help = lit.value();
                    Ok(())
                } else {
                    Err(meta.error("unknown parameter option: expected `default` or `help`"))
                }
            })?;
        }
        let optional = is_option(ty);
        let required = default.is_none() && !optional;
        let default_tokens = match &default {
            Some(Expr::Lit(ExprLit {
                lit: Lit::Str(s), ..
            })) => quote! {
                ::core::option::Option::Some(::mfw::__rt::encode_default::<#ty>(
                    &::std::string::String::from(#s).into()
                ))
            },
            Some(expr) => quote! {
                ::core::option::Option::Some({
                    let value: #ty = #expr;
                    ::mfw::__rt::encode_default::<#ty>(&value)
                })
            },
            None => quote! { ::core::option::Option::None },
        };
        infos.push(quote! {
            ::mfw::__rt::ParameterInfo {
                name: #pname,
                kind: <#ty as ::mfw::ParameterType>::KIND,
                default: #default_tokens,
                required: #required,
                help: #help,
            }
        });
        inits.push(quote! { #ident: ::mfw::__rt::parameter::<#ty>(#pname)? });
    }
    let construct = if matches!(&input.data, Data::Struct(s) if matches!(s.fields, Fields::Unit)) {
        quote! { #name }
    } else {
        quote! { #name { #(#inits,)* } }
    };
    let decorator_tokens = decorators.iter().map(|d| d.tokens());
    Ok(quote! {
        impl ::mfw::FlowSpec for #name {
            fn info() -> ::mfw::__rt::FlowInfo {
                ::mfw::__rt::FlowInfo {
                    name: #flow_name,
                    doc: #doc,
                    decorators: ::std::vec![#(#decorator_tokens),*],
                    parameters: ::std::vec![#(#infos),*],
                }
            }

            fn from_parameters() -> ::core::result::Result<Self, ::mfw::Error> {
                ::core::result::Result::Ok(#construct)
            }
        }
    })
}

/// A transition read from a step's body.
#[derive(Clone)]
enum Next {
    Steps(Vec<(String, Span)>),
    Foreach((String, Span), String),
    /// `cx.next_switch("condition", [(case, "step"), ...])`: each case as
    /// JSON text.
    Switch(String, Vec<(String, (String, Span))>),
}

impl Next {
    /// The steps it may go to, each once.
    fn targets(&self) -> Vec<(String, Span)> {
        match self {
            Next::Steps(s) => s.clone(),
            Next::Foreach(t, _) => vec![t.clone()],
            Next::Switch(_, cases) => {
                let mut targets: Vec<(String, Span)> = Vec::new();
                for (_, target) in cases {
                    if !targets.iter().any(|(t, _)| *t == target.0) {
                        targets.push(target.clone());
                    }
                }
                targets
            }
        }
    }

    fn same(&self, other: &Next) -> bool {
        self.describe() == other.describe()
    }

    fn describe(&self) -> String {
        match self {
            Next::Steps(s) => {
                let names: Vec<&str> = s.iter().map(|(n, _)| n.as_str()).collect();
                format!("next({})", names.join(", "))
            }
            Next::Foreach((t, _), over) => format!("next_foreach({t}, {over})"),
            Next::Switch(condition, cases) => {
                let cases: Vec<String> = cases
                    .iter()
                    .map(|(case, (t, _))| format!("({case}, {t})"))
                    .collect();
                format!("next_switch({condition}, [{}])", cases.join(", "))
            }
        }
    }
}

/// A switch case's value as JSON text: a string, integer or boolean
/// literal.
fn case_literal(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Lit(ExprLit { lit, .. }) => match lit {
            Lit::Str(s) => serde_json::to_string(&s.value()).ok(),
            Lit::Int(i) => i.base10_parse::<i64>().ok().map(|v| v.to_string()),
            Lit::Bool(b) => Some(b.value.to_string()),
            _ => None,
        },
        Expr::Unary(syn::ExprUnary {
            op: syn::UnOp::Neg(_),
            expr,
            ..
        }) => match &**expr {
            Expr::Lit(ExprLit {
                lit: Lit::Int(i), ..
            }) => i.base10_parse::<i64>().ok().map(|v| (-v).to_string()),
            _ => None,
        },
        Expr::Group(g) => case_literal(&g.expr),
        Expr::Paren(p) => case_literal(&p.expr),
        _ => None,
    }
}

/// `[(case, "step"), ...]`, literals only.
fn switch_cases(expr: &Expr) -> Option<Vec<(String, (String, Span))>> {
    match expr {
        Expr::Reference(r) => switch_cases(&r.expr),
        Expr::Array(ExprArray { elems, .. }) => elems
            .iter()
            .map(|e| match e {
                Expr::Tuple(t) if t.elems.len() == 2 => {
                    Some((case_literal(&t.elems[0])?, string_literal(&t.elems[1])?))
                }
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

/// Finds `cx.next(...)` and `cx.next_foreach(...)` calls on the step's
/// context parameter.
struct NextFinder<'a> {
    context: &'a str,
    found: Vec<(Next, Span)>,
    errors: Vec<syn::Error>,
}

fn string_literal(expr: &Expr) -> Option<(String, Span)> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => Some((s.value(), s.span())),
        Expr::Group(g) => string_literal(&g.expr),
        Expr::Paren(p) => string_literal(&p.expr),
        _ => None,
    }
}

fn string_list(expr: &Expr) -> Option<Vec<(String, Span)>> {
    match expr {
        Expr::Reference(r) => string_list(&r.expr),
        Expr::Array(ExprArray { elems, .. }) => elems.iter().map(string_literal).collect(),
        other => string_literal(other).map(|s| vec![s]),
    }
}

impl<'ast> Visit<'ast> for NextFinder<'_> {
    fn visit_expr_method_call(&mut self, call: &'ast syn::ExprMethodCall) {
        let on_context = matches!(&*call.receiver, Expr::Path(p) if p.path.is_ident(self.context));
        let method = call.method.to_string();
        if on_context && matches!(method.as_str(), "next" | "next_foreach" | "next_switch") {
            let args: Vec<&Expr> = call.args.iter().collect();
            let parsed = match (method.as_str(), args.as_slice()) {
                ("next", [steps]) => string_list(steps).map(Next::Steps),
                ("next_foreach", [step, over]) => string_literal(step)
                    .zip(string_literal(over))
                    .map(|(s, (o, _))| Next::Foreach(s, o)),
                ("next_switch", [condition, cases]) => string_literal(condition)
                    .zip(switch_cases(cases))
                    .map(|((c, _), cases)| Next::Switch(c, cases)),
                _ => None,
            };
            match parsed {
                Some(next) => self.found.push((next, call.span())),
                None => self.errors.push(syn::Error::new(
                    call.span(),
                    "mfw reads the flow's graph from the source: give `next` its steps as string \
                     literals, e.g. cx.next(\"end\"), cx.next([\"a\", \"b\"]), \
                     cx.next_foreach(\"train\", \"items\") or \
                     cx.next_switch(\"mode\", [(\"fast\", \"a\"), (\"slow\", \"b\")])",
                )),
            }
        }
        syn::visit::visit_expr_method_call(self, call);
    }
}

struct StepDef {
    name: String,
    span: Span,
    join: bool,
    next: Option<Next>,
    decorators: Vec<decorators::Decorator>,
    doc: String,
}

fn parse_step(method: &mut ImplItemFn) -> syn::Result<Option<StepDef>> {
    let Some(position) = method.attrs.iter().position(|a| a.path().is_ident("step")) else {
        return Ok(None);
    };
    let attr = method.attrs.remove(position);
    if let Some(other) = method.attrs.iter().find(|a| a.path().is_ident("step")) {
        return Err(syn::Error::new(
            other.span(),
            "a step has one #[step] attribute",
        ));
    }
    let decorators = match &attr.meta {
        Meta::Path(_) => Vec::new(),
        _ => parse_decorators(&attr, STEP_DECORATORS, "step")?,
    };
    let sig = &method.sig;
    let name = sig.ident.to_string();
    let mut args = sig.inputs.iter();
    match args.next() {
        Some(FnArg::Receiver(r)) if r.reference.is_some() && r.mutability.is_none() => {}
        _ => {
            return Err(syn::Error::new(
                sig.span(),
                format!(
                    "step `{name}` must take `&self` first: fn {name}(&self, cx: &mut mfw::Context)"
                ),
            ));
        }
    }
    let context = match args.next() {
        Some(FnArg::Typed(t)) => match &*t.pat {
            Pat::Ident(p) => p.ident.to_string(),
            Pat::Wild(_) => "_".to_string(),
            other => {
                return Err(syn::Error::new(
                    other.span(),
                    "name the context parameter, e.g. `cx: &mut mfw::Context`",
                ));
            }
        },
        _ => {
            return Err(syn::Error::new(
                sig.span(),
                format!(
                    "step `{name}` must take the context: fn {name}(&self, cx: &mut mfw::Context)"
                ),
            ));
        }
    };
    let join = args.next().is_some();
    if args.next().is_some() {
        return Err(syn::Error::new(
            sig.span(),
            format!(
                "step `{name}` takes too many parameters: a step takes (&self, cx) and a join \
                 (&self, cx, inputs)"
            ),
        ));
    }
    let mut finder = NextFinder {
        context: &context,
        found: Vec::new(),
        errors: Vec::new(),
    };
    finder.visit_block(&method.block);
    if let Some(error) = finder.errors.into_iter().reduce(|mut a, b| {
        a.combine(b);
        a
    }) {
        return Err(error);
    }
    let mut next: Option<Next> = None;
    for (found, span) in finder.found {
        match &next {
            None => next = Some(found),
            Some(first) if first.same(&found) => {}
            Some(first) => {
                return Err(syn::Error::new(
                    span,
                    format!(
                        "step `{name}` calls {} here but {} elsewhere: a step has one transition \
                         (branch inside the next step instead)",
                        found.describe(),
                        first.describe()
                    ),
                ));
            }
        }
    }
    Ok(Some(StepDef {
        name,
        span: sig.ident.span(),
        join,
        next,
        decorators,
        doc: doc_of(&method.attrs),
    }))
}

fn steps_impl(mut item: ItemImpl, external: Option<Vec<String>>) -> syn::Result<TokenStream2> {
    if let Some((_, path, _)) = &item.trait_ {
        return Err(syn::Error::new(
            path.span(),
            "#[mfw::steps] goes on an inherent impl block (impl MyFlow { ... })",
        ));
    }
    let mut steps = Vec::new();
    for impl_item in &mut item.items {
        if let ImplItem::Fn(method) = impl_item
            && let Some(step) = parse_step(method)?
        {
            steps.push(step);
        }
    }
    let names: Vec<String> = steps.iter().map(|s| s.name.clone()).collect();
    let partial = external.is_some();
    let known: Vec<String> = names
        .iter()
        .cloned()
        .chain(external.into_iter().flatten())
        .collect();
    let mut errors: Vec<syn::Error> = Vec::new();
    for step in &steps {
        match (&step.next, step.name.as_str()) {
            (None, "end") => {}
            (Some(_), "end") => errors.push(syn::Error::new(
                step.span,
                "the `end` step ends the flow: it cannot call next",
            )),
            (None, name) => errors.push(syn::Error::new(
                step.span,
                format!(
                    "step `{name}` never calls cx.next(...): every step except `end` says where \
                     the flow goes next"
                ),
            )),
            (Some(next), _) => {
                for (target, span) in next.targets() {
                    if !known.contains(&target) {
                        errors.push(syn::Error::new(
                            span,
                            format!(
                                "no step named `{target}` in this flow (its steps: {})",
                                known.join(", ")
                            ),
                        ));
                    }
                }
            }
        }
    }
    for required in ["start", "end"] {
        if !partial && !names.iter().any(|n| n == required) {
            errors.push(syn::Error::new(
                item.self_ty.span(),
                format!("the flow has no `{required}` step: add `#[step] fn {required}(&self, cx: &mut mfw::Context)`"),
            ));
        }
    }
    if let Some(error) = errors.into_iter().reduce(|mut a, b| {
        a.combine(b);
        a
    }) {
        return Err(error);
    }
    let self_ty = &item.self_ty;
    let infos = steps.iter().map(|step| {
        let name = &step.name;
        let none = quote! { ::core::option::Option::None };
        let (next, foreach, switch) = match &step.next {
            None => (Vec::new(), none.clone(), none.clone()),
            Some(Next::Steps(s)) => (
                s.iter().map(|(n, _)| n.clone()).collect(),
                none.clone(),
                none.clone(),
            ),
            Some(Next::Foreach((t, _), over)) => (
                vec![t.clone()],
                quote! { ::core::option::Option::Some(#over) },
                none.clone(),
            ),
            Some(switch @ Next::Switch(condition, cases)) => {
                let cases = cases.iter().map(|(case, (t, _))| quote! { (#case, #t) });
                (
                    switch.targets().into_iter().map(|(t, _)| t).collect(),
                    none.clone(),
                    quote! { ::core::option::Option::Some((#condition, &[#(#cases),*])) },
                )
            }
        };
        let join = step.join;
        let doc = &step.doc;
        let decorators = step.decorators.iter().map(|d| d.tokens());
        let source =
            quote_spanned! {step.span=> ::core::concat!(::core::file!(), ":", ::core::line!()) };
        quote! {
            ::mfw::__rt::StepInfo {
                name: #name,
                next: &[#(#next),*],
                foreach: #foreach,
                switch: #switch,
                join: #join,
                decorators: ::std::vec![#(#decorators),*],
                doc: #doc,
                source: #source,
            }
        }
    });
    let arms = steps.iter().map(|step| {
        let name = &step.name;
        let ident = syn::Ident::new(name, step.span);
        if step.join {
            quote! { #name => {
                let mut inputs = ::mfw::Inputs::current();
                self.#ident(cx, &mut inputs)
            } }
        } else {
            quote! { #name => self.#ident(cx), }
        }
    });
    Ok(quote! {
        #item

        impl ::mfw::Steps for #self_ty {
            fn steps() -> ::std::vec::Vec<::mfw::__rt::StepInfo> {
                ::std::vec![#(#infos),*]
            }

            fn run_step(&self, step: &str, cx: &mut ::mfw::Context) -> ::mfw::StepResult {
                match step {
                    #(#arms)*
                    other => ::core::result::Result::Err(::mfw::Error::unknown_step(other)),
                }
            }
        }

        ::mfw::__export_flow!(#self_ty);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps_error(source: &str) -> String {
        let item: ItemImpl = syn::parse_str(source).expect("the test source parses");
        match steps_impl(item, None) {
            Ok(_) => panic!("expected an error for:\n{source}"),
            Err(e) => e.to_string(),
        }
    }

    fn steps_code(source: &str) -> String {
        let item: ItemImpl = syn::parse_str(source).expect("the test source parses");
        steps_impl(item, None)
            .map(|t| t.to_string())
            .unwrap_or_else(|e| panic!("{e}"))
    }

    const HELLO: &str = r#"impl F {
        #[step] fn start(&self, cx: &mut Context) -> StepResult { cx.next("end") }
        #[step] fn end(&self, cx: &mut Context) -> StepResult { Ok(()) }
    }"#;

    #[test]
    fn the_graph_is_read_from_next_calls() {
        let code = steps_code(HELLO);
        assert!(code.contains("name : \"start\""), "{code}");
        assert!(code.contains("next : & [\"end\"]"), "{code}");
    }

    #[test]
    fn a_misspelt_target_is_a_compile_error() {
        let source = HELLO.replace("cx.next(\"end\")", "cx.next(\"ned\")");
        assert_eq!(
            steps_error(&source),
            "no step named `ned` in this flow (its steps: start, end)"
        );
    }

    #[test]
    fn next_takes_literals() {
        let source = HELLO.replace("cx.next(\"end\")", "cx.next(name)");
        assert!(steps_error(&source).starts_with("mfw reads the flow's graph from the source"));
    }

    #[test]
    fn a_step_has_one_transition() {
        let source = r#"impl F {
            #[step] fn start(&self, cx: &mut Context) -> StepResult {
                if true { return cx.next("a"); }
                cx.next("end")
            }
            #[step] fn a(&self, cx: &mut Context) -> StepResult { cx.next("end") }
            #[step] fn end(&self, cx: &mut Context) -> StepResult { Ok(()) }
        }"#;
        assert!(
            steps_error(source)
                .starts_with("step `start` calls next(end) here but next(a) elsewhere"),
            "{}",
            steps_error(source)
        );
    }

    #[test]
    fn a_switch_declares_its_cases_as_json_and_each_step_once() {
        let source = HELLO.replace(
            "cx.next(\"end\")",
            "cx.next_switch(\"mode\", [(\"a \\\"b\\\"\", \"end\"), (-3, \"start\"), (true, \"end\")])",
        );
        let code = steps_code(&source);
        assert!(code.contains("next : & [\"end\" , \"start\"]"), "{code}");
        assert!(
            code.contains(
                r#"switch : :: core :: option :: Option :: Some (("mode" , & [("\"a \\\"b\\\"\"" , "end") , ("-3" , "start") , ("true" , "end")]))"#
            ),
            "{code}"
        );
        let float = HELLO.replace(
            "cx.next(\"end\")",
            "cx.next_switch(\"m\", [(1.5, \"end\")])",
        );
        assert!(steps_error(&float).starts_with("mfw reads the flow's graph from the source"));
    }

    #[test]
    fn iterator_next_is_not_a_transition() {
        let source = HELLO.replace(
            "cx.next(\"end\")",
            "{ let mut it = [1].iter(); it.next(); cx.next(\"end\") }",
        );
        steps_code(&source);
    }

    #[test]
    fn start_and_end_are_required() {
        let source = r#"impl F {
            #[step] fn begin(&self, cx: &mut Context) -> StepResult { cx.next("end") }
            #[step] fn end(&self, cx: &mut Context) -> StepResult { Ok(()) }
        }"#;
        assert!(steps_error(source).starts_with("the flow has no `start` step"));
    }

    #[test]
    fn a_third_parameter_makes_a_join() {
        let source = r#"impl F {
            #[step] fn start(&self, cx: &mut Context) -> StepResult { cx.next(["a", "b"]) }
            #[step] fn a(&self, cx: &mut Context) -> StepResult { cx.next("join") }
            #[step] fn b(&self, cx: &mut Context) -> StepResult { cx.next("join") }
            #[step] fn join(&self, cx: &mut Context, inputs: &mut Inputs) -> StepResult { cx.next("end") }
            #[step] fn end(&self, cx: &mut Context) -> StepResult { Ok(()) }
        }"#;
        let code = steps_code(source);
        assert!(code.contains("join : true"), "{code}");
        assert!(code.contains("Inputs :: current"), "{code}");
    }

    #[test]
    fn decorators_are_checked_and_recorded_as_json() {
        let good = HELLO.replace(
            "#[step] fn start",
            "#[step(retry(times = 3), kubernetes(image = \"a\\\"b\", cpu = 2.5))] fn start",
        );
        let code = steps_code(&good);
        assert!(code.contains("(\"times\" , \"3\")"), "{code}");
        assert!(code.contains(r#"("image" , "\"a\\\"b\"")"#), "{code}");
        let bad = HELLO.replace("#[step] fn start", "#[step(retry(tims = 3))] fn start");
        assert_eq!(
            steps_error(&bad),
            "unknown option `tims` for @retry (its options: times, minutes_between_retries)"
        );
        let bad = HELLO.replace("#[step] fn start", "#[step(retyr)] fn start");
        assert!(steps_error(&bad).starts_with("unknown step decorator `retyr` (known: retry,"));
    }

    #[test]
    fn parameters_get_kinds_defaults_and_required_flags() {
        let input: DeriveInput = syn::parse_str(
            r#"
            /// Doc.
            struct W {
                /// How many.
                #[parameter(default = 100)]
                n: u64,
                name: String,
                label: Option<String>,
            }"#,
        )
        .expect("parses");
        let code = flow_spec(input).expect("expands").to_string();
        assert!(code.contains("name : \"n\""), "{code}");
        assert!(code.contains("help : \"How many.\""), "{code}");
        assert!(code.contains("name : \"name\" , kind : < String as :: mfw :: ParameterType > :: KIND , default : :: core :: option :: Option :: None , required : true"), "{code}");
        assert!(code.contains("required : false , help : \"\""), "{code}");
    }

    #[test]
    fn external_steps_make_a_partial_flow() {
        let source = r#"impl F {
            #[step] fn train(&self, cx: &mut Context) -> StepResult { cx.next("join") }
        }"#;
        let item: ItemImpl = syn::parse_str(source).expect("parses");
        let external = parse_external(quote! { external = ["join"] }).expect("parses");
        assert_eq!(external, Some(vec!["join".to_string()]));
        assert!(steps_impl(item.clone(), external).is_ok());
        assert!(
            steps_impl(item, None)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
                .starts_with("no step named `join`")
        );
    }
}
