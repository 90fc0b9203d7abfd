//! Handlebars rendering: strict mode, no HTML escaping, few helpers.
//! Templates only format; topology is computed in `compile::view`.

use handlebars::{Context, Handlebars, Helper, HelperResult, Output, RenderContext, RenderErrorReason};

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
fn sh_helper(h: &Helper, _: &Handlebars, _: &Context, _: &mut RenderContext, out: &mut dyn Output) -> HelperResult {
    let v = h.param(0).ok_or(RenderErrorReason::ParamNotFoundForIndex("sh", 0))?;
    let s = match v.value() {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    out.write(&crate::transport::quote::sh(&s))?;
    Ok(())
}

/// `{{json value}}`: the value as a JSON literal (also valid YAML and TOML strings).
fn json_helper(h: &Helper, _: &Handlebars, _: &Context, _: &mut RenderContext, out: &mut dyn Output) -> HelperResult {
    let v = h.param(0).ok_or(RenderErrorReason::ParamNotFoundForIndex("json", 0))?;
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
pub fn render_named(hb: &mut Handlebars<'static>, name: &str, text: &str, view: &serde_json::Value) -> Result<String, String> {
    if !hb.has_template(name) {
        hb.register_template_string(name, text).map_err(|e| e.to_string())?;
    }
    hb.render(name, view).map_err(describe)
}

/// Renders templates for many hosts: each template (role file or manifest
/// string) is parsed once, and every render goes through one reused buffer
/// and comes out as a string of its exact size (handlebars' own output
/// reserves 8 KiB per render, which compiled files would otherwise keep).
#[derive(Clone)]
pub struct Renderer {
    pub hb: Handlebars<'static>,
    buf: Vec<u8>,
}

impl Default for Renderer {
    fn default() -> Self {
        Renderer { hb: engine(), buf: Vec::new() }
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
        }
        self.write(&key, ctx)
    }

    /// As [`render_named`], with a context built once per host.
    pub fn named(&mut self, name: &str, text: &str, ctx: &Context) -> Result<String, String> {
        if !self.hb.has_template(name) {
            self.hb.register_template_string(name, text).map_err(|e| e.to_string())?;
        }
        self.write(name, ctx)
    }

    fn write(&mut self, name: &str, ctx: &Context) -> Result<String, String> {
        self.buf.clear();
        self.hb.render_with_context_to_write(name, ctx, &mut self.buf).map_err(describe)?;
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
        assert_eq!(render(&hb, "{{a}}", &json!({"a": "<x&y>\"'"})).unwrap(), "<x&y>\"'");
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
        assert_eq!(render(&hb, "echo {{sh a}}", &json!({"a": "$(id)"})).unwrap(), "echo '$(id)'");
    }

    #[test]
    fn json_helper_quotes() {
        let hb = engine();
        assert_eq!(render(&hb, "k: {{json a}}", &json!({"a": "x\"y"})).unwrap(), "k: \"x\\\"y\"");
    }
}
