//! Handlebars rendering: strict mode, no HTML escaping, few helpers.
//! Templates only format; topology is computed in `compile::view`.

use handlebars::{
    Context, Handlebars, Helper, HelperResult, Output, RenderContext, RenderErrorReason,
};

/// A renderer with the project's settings and helpers registered.
pub fn engine() -> Handlebars<'static> {
    let mut hb = Handlebars::new();
    hb.set_strict_mode(true);
    hb.register_escape_fn(handlebars::no_escape);
    hb.register_helper("sh", Box::new(sh_helper));
    hb.register_helper("json", Box::new(json_helper));
    hb
}

/// `{{sh value}}`: the value quoted as one POSIX shell word.
fn sh_helper(
    h: &Helper,
    _: &Handlebars,
    _: &Context,
    _: &mut RenderContext,
    out: &mut dyn Output,
) -> HelperResult {
    let v = h
        .param(0)
        .ok_or(RenderErrorReason::ParamNotFoundForIndex("sh", 0))?;
    let s = match v.value() {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    out.write(&crate::transport::quote::sh(&s))?;
    Ok(())
}

/// `{{json value}}`: the value as a JSON literal (also valid YAML and TOML strings).
fn json_helper(
    h: &Helper,
    _: &Handlebars,
    _: &Context,
    _: &mut RenderContext,
    out: &mut dyn Output,
) -> HelperResult {
    let v = h
        .param(0)
        .ok_or(RenderErrorReason::ParamNotFoundForIndex("json", 0))?;
    out.write(&v.value().to_string())?;
    Ok(())
}

/// Renders one template string; the error names what is missing.
/// Text without `{{` is returned as it is (no parse).
pub fn render(hb: &Handlebars, template: &str, view: &serde_json::Value) -> Result<String, String> {
    if !template.contains("{{") {
        return Ok(template.to_string());
    }
    hb.render_template(template, view).map_err(describe)
}

/// Renders a template registered under `name` (parsed once, rendered per host).
pub fn render_named(
    hb: &mut Handlebars<'static>,
    name: &str,
    text: &str,
    view: &serde_json::Value,
) -> Result<String, String> {
    if !hb.has_template(name) {
        hb.register_template_string(name, text)
            .map_err(|e| e.to_string())?;
    }
    hb.render(name, view).map_err(describe)
}

/// Renders templates for many hosts: each template (role file or manifest
/// string) is parsed once, and every render goes through one reused buffer
/// and comes out as a string of its exact size (handlebars' own output
/// reserves 8 KiB per render, which compiled files would otherwise keep).
///
/// A template that is only text and `{{a.b}}` lookups (most config files) is
/// also kept as [`Plain`] pieces: each distinct path is looked up once per
/// render and the pieces are joined, which is what handlebars would write.
/// Whenever a lookup does not find a string, number or boolean, the render
/// goes through handlebars, so errors and every other case are its own.
#[derive(Clone)]
pub struct Renderer {
    pub hb: Handlebars<'static>,
    buf: Vec<u8>,
    plain: std::collections::HashMap<String, Option<std::sync::Arc<Plain>>>,
}

impl Default for Renderer {
    fn default() -> Self {
        Renderer {
            hb: engine(),
            buf: Vec::new(),
            plain: Default::default(),
        }
    }
}

/// A template made only of text and simple lookups: `parts` alternate text
/// and an index into `paths` (the distinct dotted paths).
#[derive(Debug, PartialEq)]
pub struct Plain {
    parts: Vec<Part>,
    paths: Vec<Vec<String>>,
    text_len: usize,
}

#[derive(Debug, PartialEq)]
enum Part {
    Text(String),
    Var(usize),
}

/// Names that handlebars does not read as a path when alone in `{{ }}`: the
/// helpers [`engine`] has (its built-ins and ours), literals and keywords.
const NOT_PATHS: &[&str] = &[
    "if",
    "unless",
    "each",
    "with",
    "lookup",
    "raw",
    "log",
    "eq",
    "ne",
    "gt",
    "gte",
    "lt",
    "lte",
    "and",
    "or",
    "not",
    "len",
    "sh",
    "json",
    "this",
    "else",
    "true",
    "false",
    "null",
    "undefined",
];

impl Plain {
    /// The pieces of `template` when it is only text and `{{a.b.c}}` lookups
    /// (segments of letters, digits, `_` and `-`, starting with a letter or
    /// `_`); `None` for anything else (helpers, blocks, comments, `~`,
    /// triple braces, escapes, spaces inside the braces), which handlebars renders.
    pub fn parse(template: &str) -> Option<Plain> {
        if template.contains("\\{{") || template.contains("}}}") {
            return None;
        }
        let mut parts = Vec::new();
        let mut paths: Vec<Vec<String>> = Vec::new();
        let mut text_len = 0;
        let mut rest = template;
        while let Some(open) = rest.find("{{") {
            let close = rest[open..].find("}}")? + open;
            let path = &rest[open + 2..close];
            let segs: Vec<String> = path.split('.').map(str::to_string).collect();
            let ident = |s: &String| {
                let mut c = s.chars();
                matches!(c.next(), Some(f) if f.is_ascii_alphabetic() || f == '_')
                    && c.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            };
            if !segs.iter().all(ident) || NOT_PATHS.contains(&segs[0].as_str()) {
                return None;
            }
            if rest[..open].contains("}}") {
                return None;
            }
            if open > 0 {
                text_len += open;
                parts.push(Part::Text(rest[..open].to_string()));
            }
            let i = match paths.iter().position(|p| *p == segs) {
                Some(i) => i,
                None => {
                    paths.push(segs);
                    paths.len() - 1
                }
            };
            parts.push(Part::Var(i));
            rest = &rest[close + 2..];
        }
        if rest.contains("}}") {
            return None;
        }
        if !rest.is_empty() {
            text_len += rest.len();
            parts.push(Part::Text(rest.to_string()));
        }
        Some(Plain {
            parts,
            paths,
            text_len,
        })
    }

    /// The text, or `None` when a path does not lead to a string, number or
    /// boolean in `data` (handlebars then renders it, or says what is wrong).
    pub fn render(&self, data: &serde_json::Value) -> Option<String> {
        let mut values: Vec<std::borrow::Cow<str>> = Vec::with_capacity(self.paths.len());
        for path in &self.paths {
            let mut v = data;
            for seg in path {
                v = v.as_object()?.get(seg)?;
            }
            values.push(match v {
                serde_json::Value::String(s) => std::borrow::Cow::Borrowed(s.as_str()),
                serde_json::Value::Number(n) => std::borrow::Cow::Owned(n.to_string()),
                serde_json::Value::Bool(b) => {
                    std::borrow::Cow::Borrowed(if *b { "true" } else { "false" })
                }
                _ => return None,
            });
        }
        let len = self.text_len
            + self
                .parts
                .iter()
                .map(|p| {
                    if let Part::Var(i) = p {
                        values[*i].len()
                    } else {
                        0
                    }
                })
                .sum::<usize>();
        let mut out = String::with_capacity(len);
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Var(i) => out.push_str(&values[*i]),
            }
        }
        Some(out)
    }
}

impl Renderer {
    /// As [`render`], with a context built once per host.
    pub fn inline(&mut self, template: &str, ctx: &Context) -> Result<String, String> {
        if !template.contains("{{") {
            return Ok(template.to_string());
        }
        // kept under a name no role template file can have; registered
        // without a name so rendering and errors are those of `render`
        let key = format!("\0{template}");
        if !self.hb.has_template(&key) {
            let t = handlebars::Template::compile(template).map_err(|e| describe(e.into()))?;
            self.hb.register_template(&key, t);
            self.plain
                .insert(key.clone(), Plain::parse(template).map(std::sync::Arc::new));
        }
        self.write(&key, ctx)
    }

    /// As [`render_named`], with a context built once per host.
    pub fn named(&mut self, name: &str, text: &str, ctx: &Context) -> Result<String, String> {
        if !self.hb.has_template(name) {
            self.hb
                .register_template_string(name, text)
                .map_err(|e| e.to_string())?;
            self.plain.insert(
                name.to_string(),
                Plain::parse(text).map(std::sync::Arc::new),
            );
        }
        self.write(name, ctx)
    }

    fn write(&mut self, name: &str, ctx: &Context) -> Result<String, String> {
        if let Some(Some(p)) = self.plain.get(name) {
            if let Some(s) = p.render(ctx.data()) {
                return Ok(s);
            }
        }
        self.buf.clear();
        self.hb
            .render_with_context_to_write(name, ctx, &mut self.buf)
            .map_err(describe)?;
        String::from_utf8(self.buf.as_slice().to_vec()).map_err(|e| e.to_string())
    }
}

fn describe(e: handlebars::RenderError) -> String {
    {
        let reason = e.reason().to_string();
        match e.line_no {
            Some(l) => format!("line {l}: {reason}"),
            None => reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn no_html_escaping() {
        let hb = engine();
        assert_eq!(
            render(&hb, "{{a}}", &json!({"a": "<x&y>\"'"})).unwrap(),
            "<x&y>\"'"
        );
    }

    #[test]
    fn strict_mode_names_the_missing_variable() {
        let hb = engine();
        let e = render(&hb, "a\n{{nope.x}}", &json!({})).unwrap_err();
        assert!(e.contains("nope"), "{e}");
    }

    #[test]
    fn sh_helper_quotes() {
        let hb = engine();
        assert_eq!(
            render(&hb, "echo {{sh a}}", &json!({"a": "$(id)"})).unwrap(),
            "echo '$(id)'"
        );
    }

    /// Every template handlebars renders, next to the fast path's text when it takes one.
    fn both(template: &str, data: &serde_json::Value) -> (Result<String, String>, Option<String>) {
        let hb = engine();
        (
            hb.render_template(template, data).map_err(describe),
            Plain::parse(template).and_then(|p| p.render(data)),
        )
    }

    #[test]
    fn plain_templates_render_as_handlebars_does() {
        let data = json!({
            "host": {"name": "lab1", "address": "198.18.0.11", "port": 5432, "ratio": 0.5, "big": 18446744073709551615u64, "neg": -3, "on": true, "off": false, "none": null, "list": [1, 2], "obj": {"a": "b"}},
            "vars": {"color": "blue", "odd-name": "x<&>\"'$(id)\n", "_u": "u", "empty": ""},
            "name": "top",
        });
        let plain = [
            "# {{host.name}} {{host.address}} {{vars.color}}\n",
            "{{host.name}}{{host.name}}",
            "port={{host.port}} ratio={{host.ratio}} big={{host.big}} neg={{host.neg}} on={{host.on}} off={{host.off}}",
            "{{vars.odd-name}}|{{vars._u}}|{{vars.empty}}|{{name}}",
            "no braces at all",
            "{ single } {{name}} }",
            "",
            "\n\n{{name}}\n  {{host.name}}  \n",
        ];
        for t in plain {
            let (hb, fast) = both(t, &data);
            assert!(Plain::parse(t).is_some(), "{t:?} is plain");
            assert_eq!(fast.as_deref(), Some(hb.as_deref().unwrap()), "{t:?}");
        }
        // plain shape, but a value that is not text: handlebars' answer (an error or its own rendering) is used
        for t in [
            "{{host.none}}",
            "{{host.list}}",
            "{{host.obj}}",
            "{{host.missing}}",
            "{{nope.x}}",
            "{{host.name.x}}",
        ] {
            assert!(Plain::parse(t).is_some(), "{t:?}");
            assert_eq!(both(t, &data).1, None, "{t:?}");
        }
        // anything else is handlebars' alone
        for t in [
            "{{#if host.on}}y{{/if}}",
            "{{sh host.name}}",
            "{{json vars.color}}",
            "{{! comment }}",
            "{{~name}}",
            "{{name~}}",
            "{{{name}}}",
            "\\{{name}}",
            "{{ name }}",
            "{{this}}",
            "{{this.name}}",
            "{{../name}}",
            "{{@root.name}}",
            "{{host.[name]}}",
            "{{len}}",
            "{{true}}",
            "{{else}}",
            "{{1}}",
            "a }} {{name}}",
            "{{name}} }}",
            "{{name",
            "{{>partial}}",
            "{{host/name}}",
        ] {
            assert_eq!(Plain::parse(t), None, "{t:?} must go through handlebars");
        }
    }

    #[test]
    fn the_renderer_falls_back_to_handlebars_for_its_errors() {
        let mut r = Renderer::default();
        let ctx = Context::from(json!({"host": {"name": "lab1", "list": [1]}}));
        assert_eq!(r.named("t", "a {{host.name}}", &ctx).unwrap(), "a lab1");
        let e = r.named("u", "a\n{{host.nope}}", &ctx).unwrap_err();
        assert!(e.contains("line 2") && e.contains("host.nope"), "{e}");
        assert_eq!(r.inline("{{host.name}}-x", &ctx).unwrap(), "lab1-x");
        assert_eq!(
            r.inline("[{{host.list}}]", &ctx).unwrap(),
            render(
                &engine(),
                "[{{host.list}}]",
                &json!({"host": {"list": [1]}})
            )
            .unwrap()
        );
    }

    #[test]
    fn json_helper_quotes() {
        let hb = engine();
        assert_eq!(
            render(&hb, "k: {{json a}}", &json!({"a": "x\"y"})).unwrap(),
            "k: \"x\\\"y\""
        );
    }
}
