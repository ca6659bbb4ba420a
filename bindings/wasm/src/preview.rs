//! Templates (compile, variables, render, metadata, search) and the batch preview over rows the
//! page supplies (phones already E.164).

use smsbatch::{PreviewConfig, Previewer, Sample, Segmenter, Template, TemplateRecord};
use wasm_bindgen::prelude::*;

use crate::filter::JsRows;
use crate::{OrThrow, from_js, from_js_or_default, json_from_js, rows_from_js, to_js};

/// A message template compiled once: Handlebars syntax, plain text (no HTML escaping), strict
/// about missing variables, with the SMS helpers (`default`, `upper`, `lower`, `capitalize`,
/// `truncate`, `date`).
#[wasm_bindgen(js_name = Template)]
#[derive(Debug)]
pub struct JsTemplate {
    inner: Template,
}

#[wasm_bindgen(js_class = Template)]
impl JsTemplate {
    /// Compiles `body`; throws `templateSyntax` (with `line` and `column`) or `templateTooLarge`.
    #[wasm_bindgen(constructor)]
    pub fn new(body: &str) -> Result<JsTemplate, JsValue> {
        Ok(Self {
            inner: Template::compile(body).or_throw()?,
        })
    }

    /// The source it was compiled from.
    #[wasm_bindgen(getter)]
    pub fn body(&self) -> String {
        self.inner.body().to_owned()
    }

    /// The variables it reads (`first_name`, `order.total`, `items[].name`...).
    #[wasm_bindgen(getter, unchecked_return_type = "string[]")]
    pub fn variables(&self) -> Result<JsValue, JsValue> {
        to_js(self.inner.variables())
    }

    /// The text outside every tag and block.
    #[wasm_bindgen(getter, js_name = staticText)]
    pub fn static_text(&self) -> String {
        self.inner.static_text().to_owned()
    }

    /// Renders for one recipient's data; throws `missingVariable` or `templateRender`.
    pub fn render(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Record<string, unknown>")] data: JsValue,
    ) -> Result<String, JsValue> {
        let data = json_from_js(data, "data")?;
        self.inner.render(&data).or_throw()
    }

    /// Variables, static-text encoding and the minimum number of segments, counted with the given
    /// segment options.
    #[wasm_bindgen(unchecked_return_type = "TemplateMetadata")]
    pub fn metadata(
        &self,
        #[wasm_bindgen(unchecked_param_type = "SegmentOptions | undefined")] options: JsValue,
    ) -> Result<JsValue, JsValue> {
        let config: smsbatch::SegmentConfig = from_js_or_default(options, "segment options")?;
        let segmenter: Segmenter = config.build();
        to_js(&self.inner.metadata(&segmenter))
    }
}

/// The template records whose name or body contains `query` (case- and accent-insensitive), name
/// matches first.
#[wasm_bindgen(js_name = searchTemplates, unchecked_return_type = "TemplateRecord[]")]
pub fn search_templates(
    #[wasm_bindgen(unchecked_param_type = "TemplateRecord[]")] records: JsValue,
    query: &str,
) -> Result<JsValue, JsValue> {
    let records: Vec<TemplateRecord> = from_js(records, "template records")?;
    let found: Vec<&TemplateRecord> = smsbatch::search_templates(&records, query);
    to_js(&found)
}

/// A batch preview: each recipient's message, encoding, segments and cost, or why they are
/// excluded, and the batch's totals. In the browser, phones must already be E.164 (the package
/// has no phone metadata), so `e164Only` is implied.
#[wasm_bindgen(js_name = Previewer)]
#[derive(Debug)]
pub struct JsPreviewer {
    inner: Previewer,
}

#[wasm_bindgen(js_class = Previewer)]
impl JsPreviewer {
    /// A previewer of `template` with the given configuration (`PreviewOptions`, all optional).
    #[wasm_bindgen(constructor)]
    pub fn new(
        template: &JsTemplate,
        #[wasm_bindgen(unchecked_param_type = "PreviewOptions | undefined")] options: JsValue,
    ) -> Result<JsPreviewer, JsValue> {
        let config: PreviewConfig = from_js_or_default(options, "preview options")?;
        Ok(Self {
            inner: config.e164_only(true).build(&template.inner).or_throw()?,
        })
    }

    /// Previews every row (objects with at least `id` and `phone`).
    #[wasm_bindgen(unchecked_return_type = "Preview")]
    pub fn preview(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Record<string, unknown>[]")] rows: JsValue,
    ) -> Result<JsValue, JsValue> {
        let rows = rows_from_js(rows, "rows")?;
        to_js(&self.inner.preview(&rows).or_throw()?)
    }

    /// Previews rows already held by a `Rows` (converted once, shared with the filters), or only
    /// those at the given positions (what `Filter.select` returns), in that order: the cheap path
    /// for a preview rerun on every keystroke.
    #[wasm_bindgen(js_name = previewRows, unchecked_return_type = "Preview")]
    pub fn preview_rows(
        &self,
        rows: &JsRows,
        #[wasm_bindgen(unchecked_param_type = "number[] | Uint32Array | undefined")]
        selection: Option<Vec<u32>>,
    ) -> Result<JsValue, JsValue> {
        let all = rows.values();
        let Some(positions) = selection else {
            return to_js(&self.inner.preview(all).or_throw()?);
        };
        let mut chosen = Vec::with_capacity(positions.len());
        for p in positions {
            chosen.push(all.get(p as usize).ok_or_else(|| {
                crate::js_error(&smsbatch::Error::invalid_input(format!(
                    "invalid selection: position {p} is past the {} rows",
                    all.len()
                )))
            })?);
        }
        to_js(&self.inner.preview(chosen).or_throw()?)
    }

    /// Previews a sample: `{first: n}` or `{seeded: {size, seed}}` (the same seed picks the same
    /// recipients as the server).
    #[wasm_bindgen(unchecked_return_type = "Preview")]
    pub fn sample(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Record<string, unknown>[]")] rows: JsValue,
        #[wasm_bindgen(unchecked_param_type = "Sample")] sample: JsValue,
    ) -> Result<JsValue, JsValue> {
        let sample: Sample = from_js(sample, "sample")?;
        let rows = rows_from_js(rows, "rows")?;
        to_js(&self.inner.sample(&rows, sample).or_throw()?)
    }
}
