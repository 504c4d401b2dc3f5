//! Templates: `{field}` placeholders in the execution name and in the string values
//! of the input JSON.
//!
//! Rendering is one pass: a value is inserted verbatim and never expanded again, and
//! the input template is substituted inside parsed JSON strings, so no value can
//! break or inject JSON structure. `{{` and `}}` are literal braces.
//!
//! `{field:FORMAT}` formats a date (`2024-01-31`) or an RFC 3339 time
//! (`2024-01-31T05:00:00Z`) with strftime directives: `{date:%Y/%m/%d}`.
//!
//! This file is longer than 500 lines: about 160 of them are its unit tests.

use std::fmt;

use serde_json::Value;

use crate::aws::s3_url::split_s3_url;
use crate::model::rows::{Fields, RESERVED_KEY};

/// A template that does not parse; says where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TemplateError(String);

/// Why one row could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RenderError {
    /// `{field}` names a field the row does not have.
    MissingField(String),
    /// `{field.bucket}` or `{field.key}` of a value that is not an `s3://` URL.
    NotS3Url {
        /// The field.
        field: String,
        /// Its value.
        value: String,
    },
    /// `{field:FORMAT}` of a value that is neither a date nor an RFC 3339 time.
    NotADate {
        /// The field.
        field: String,
        /// Its value.
        value: String,
    },
    /// A `{field:FORMAT}` whose format strftime refuses.
    BadFormat {
        /// The format.
        format: String,
        /// What strftime said.
        error: String,
    },
}

impl fmt::Display for RenderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RenderError::MissingField(field) => write!(f, "the row has no field `{field}`"),
            RenderError::NotS3Url { field, value } => {
                write!(f, "field `{field}` is not an s3:// URL: {value:?}")
            }
            RenderError::NotADate { field, value } => write!(
                f,
                "field `{field}` is not a date (YYYY-MM-DD) or an RFC 3339 time: {value:?}"
            ),
            RenderError::BadFormat { format, error } => {
                write!(f, "cannot format with {format:?}: {error}")
            }
        }
    }
}

/// What a row offers to placeholders.
pub struct Context<'a> {
    /// The row's fields.
    pub fields: &'a Fields,
    /// `{row}`: the manifest's data row.
    pub row: u64,
    /// `{batch}`: the batch id.
    pub batch: &'a str,
    /// The execution name, once known.
    pub name: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Text(String),
    Field(String),
    Bucket(String),
    Key(String),
    /// `{field:FORMAT}`: a date or time, strftime-formatted.
    Formatted {
        field: String,
        format: String,
    },
    Row,
    Batch,
    Name,
}

/// A string with placeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextTemplate {
    segments: Vec<Segment>,
}

impl TextTemplate {
    /// The row fields its placeholders name, in order (`{row}`, `{batch}` and
    /// `{name}` are not fields): each as written (`file.key`) and the field it
    /// falls back to (`file`), as rendering looks them up.
    pub fn fields(&self) -> impl Iterator<Item = (String, &str)> {
        self.segments.iter().filter_map(|segment| match segment {
            Segment::Field(field) => Some((field.clone(), field.as_str())),
            Segment::Bucket(field) => Some((format!("{field}.bucket"), field.as_str())),
            Segment::Key(field) => Some((format!("{field}.key"), field.as_str())),
            Segment::Formatted { field, format } => {
                Some((format!("{field}:{format}"), field.as_str()))
            }
            Segment::Text(_) | Segment::Row | Segment::Batch | Segment::Name => None,
        })
    }

    /// Parses the placeholders; an unclosed or unmatched brace, or an empty `{}`, is an
    /// error.
    pub fn parse(text: &str) -> Result<TextTemplate, TemplateError> {
        let mut segments = Vec::new();
        let mut literal = String::new();
        let mut chars = text.char_indices().peekable();
        while let Some((at, c)) = chars.next() {
            match c {
                '{' if chars.peek().map(|p| p.1) == Some('{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek().map(|p| p.1) == Some('}') => {
                    chars.next();
                    literal.push('}');
                }
                '{' => {
                    let rest = &text[at + 1..];
                    let end = rest
                        .find(['{', '}'])
                        .filter(|&i| rest[i..].starts_with('}'));
                    let Some(end) = end else {
                        return Err(TemplateError(format!(
                            "unclosed `{{` at byte {at} in {text:?} (write `{{{{` for a literal brace)"
                        )));
                    };
                    let placeholder = &rest[..end];
                    if placeholder.is_empty() {
                        return Err(TemplateError(format!(
                            "empty placeholder `{{}}` in {text:?}"
                        )));
                    }
                    if !literal.is_empty() {
                        segments.push(Segment::Text(std::mem::take(&mut literal)));
                    }
                    segments.push(Segment::parse(placeholder));
                    for _ in 0..=placeholder.chars().count() {
                        chars.next();
                    }
                }
                '}' => {
                    return Err(TemplateError(format!(
                        "unmatched `}}` at byte {at} in {text:?} (write `}}}}` for a literal brace)"
                    )));
                }
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            segments.push(Segment::Text(literal));
        }
        Ok(TextTemplate { segments })
    }

    /// Whether `{name}`, the execution name, appears.
    pub fn uses_name(&self) -> bool {
        self.segments.contains(&Segment::Name)
    }

    /// The text of a template without placeholders.
    fn render_plain(&self) -> String {
        (self.segments.iter())
            .map(|segment| match segment {
                Segment::Text(text) => text.as_str(),
                _ => "",
            })
            .collect()
    }

    /// Whether it has any placeholder, or is plain text.
    pub fn has_placeholders(&self) -> bool {
        self.segments.iter().any(|s| !matches!(s, Segment::Text(_)))
    }

    /// Renders to a string; non-string values are written as JSON text.
    pub fn render(&self, ctx: &Context) -> Result<String, RenderError> {
        let mut out = String::new();
        self.pieces(ctx, |piece, _| out.push_str(piece))?;
        Ok(out)
    }

    /// Hands `each` the text of every segment, in order, and whether it is `{name}`.
    fn pieces(&self, ctx: &Context, mut each: impl FnMut(&str, bool)) -> Result<(), RenderError> {
        for segment in &self.segments {
            // The common segments borrow what they insert; the others build it.
            let borrowed = match segment {
                Segment::Text(text) => Some(text.as_str()),
                Segment::Name => Some(ctx.name),
                Segment::Field(name) => match ctx.fields.get(name) {
                    Some(Value::String(s)) => Some(s.as_str()),
                    _ => None,
                },
                _ => None,
            };
            match borrowed {
                Some(text) => each(text, *segment == Segment::Name),
                None => match segment.value(ctx)? {
                    Value::String(s) => each(&s, false),
                    other => each(&other.to_string(), false),
                },
            }
        }
        Ok(())
    }
}

impl Segment {
    /// Built-ins win over fields of the same name; `x.bucket` / `x.key` split an
    /// `s3://` URL and `x:FORMAT` formats a date, unless the row has a field
    /// literally named so.
    fn parse(placeholder: &str) -> Segment {
        match placeholder {
            "row" => Segment::Row,
            "batch" => Segment::Batch,
            "name" => Segment::Name,
            _ => {
                if let Some((field, format)) = placeholder.split_once(':') {
                    Segment::Formatted {
                        field: field.to_string(),
                        format: format.to_string(),
                    }
                } else if let Some(field) = placeholder.strip_suffix(".bucket") {
                    Segment::Bucket(field.to_string())
                } else if let Some(field) = placeholder.strip_suffix(".key") {
                    Segment::Key(field.to_string())
                } else {
                    Segment::Field(placeholder.to_string())
                }
            }
        }
    }

    fn value(&self, ctx: &Context) -> Result<Value, RenderError> {
        let field = |name: &str| {
            ctx.fields
                .get(name)
                .cloned()
                .ok_or_else(|| RenderError::MissingField(name.to_string()))
        };
        let url_part =
            |name: &str, suffix: &str, pick: for<'s> fn((&'s str, &'s str)) -> &'s str| {
                if let Some(whole) = ctx.fields.get(&format!("{name}.{suffix}")) {
                    return Ok(whole.clone());
                }
                match field(name)? {
                    Value::String(url) => split_s3_url(&url)
                        .map(|parts| Value::String(pick(parts).to_string()))
                        .ok_or(RenderError::NotS3Url {
                            field: name.to_string(),
                            value: url.clone(),
                        }),
                    other => Err(RenderError::NotS3Url {
                        field: name.to_string(),
                        value: other.to_string(),
                    }),
                }
            };
        Ok(match self {
            Segment::Text(text) => Value::String(text.clone()),
            Segment::Field(name) => field(name)?,
            Segment::Bucket(name) => url_part(name, "bucket", |(bucket, _)| bucket)?,
            Segment::Key(name) => url_part(name, "key", |(_, key)| key)?,
            Segment::Formatted {
                field: name,
                format,
            } => match ctx.fields.get(&format!("{name}:{format}")) {
                Some(whole) => whole.clone(),
                None => Value::String(format_date(name, &field(name)?, format)?),
            },
            Segment::Row => Value::String(ctx.row.to_string()),
            Segment::Batch => Value::String(ctx.batch.to_string()),
            Segment::Name => Value::String(ctx.name.to_string()),
        })
    }
}

/// Formats a field holding a date or an RFC 3339 time (in UTC) with strftime.
fn format_date(field: &str, value: &Value, format: &str) -> Result<String, RenderError> {
    use jiff::{Timestamp, civil, tz::TimeZone};
    let not_a_date = || RenderError::NotADate {
        field: field.to_string(),
        value: value.to_string(),
    };
    let text = value.as_str().ok_or_else(not_a_date)?;
    // An RFC 3339 time (with an offset); a time without one, taken as UTC; a date.
    // (Date first would read a time as its date and drop the hours.)
    let datetime = match text.parse::<Timestamp>() {
        Ok(time) => time.to_zoned_datetime(TimeZone::UTC).datetime(),
        Err(_) => match text.parse::<civil::DateTime>() {
            Ok(datetime) => datetime,
            Err(_) => text
                .parse::<civil::Date>()
                .map_err(|_| not_a_date())?
                .to_datetime(civil::Time::midnight()),
        },
    };
    jiff::fmt::strtime::format(format, datetime).map_err(|e| RenderError::BadFormat {
        format: format.to_string(),
        error: e.to_string(),
    })
}

/// A JSON document whose string values are templates. Object keys are literal.
#[derive(Debug, Clone, PartialEq)]
pub struct InputTemplate {
    root: Node,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    /// A value without placeholders, as JSON text: written as it is, never
    /// serialized again (escaping strings is the costliest part of a render).
    Literal(Vec<u8>),
    Text(TextTemplate),
    Array(Vec<Node>),
    /// The keys as JSON strings, for the same reason.
    Object(Vec<(Vec<u8>, Node)>),
}

impl InputTemplate {
    /// The row fields its placeholders name, in order (see `TextTemplate::fields`).
    pub fn fields(&self) -> Vec<(String, &str)> {
        let mut fields = Vec::new();
        self.root.fields(&mut fields);
        fields
    }

    /// Parses the JSON; its string values become templates.
    pub fn parse(json: &str) -> Result<InputTemplate, TemplateError> {
        if json.contains(RESERVED_KEY) {
            return Err(TemplateError(format!(
                "the input template uses the key `{RESERVED_KEY}`, which the JSON library reserves"
            )));
        }
        let value: Value = serde_json::from_str(json)
            .map_err(|e| TemplateError(format!("the input template is not valid JSON: {e}")))?;
        Ok(InputTemplate {
            root: Node::parse(value)?,
        })
    }

    /// Renders the execution input as compact JSON, deterministically: the bytes
    /// serde_json would write for the rendered value, written directly instead of
    /// building the value first (half the cost of validating a row).
    pub fn render(&self, ctx: &Context) -> Result<String, RenderError> {
        let mut json = Json::new();
        self.root.write(ctx, &mut json)?;
        Ok(json.into_string())
    }

    /// Renders the input with `{name}` left empty (`ctx.name` is not used), noting
    /// where the name goes: a default name is a hash of this rendering, and
    /// `Unnamed::named` then puts it in without rendering again.
    pub fn render_unnamed(&self, ctx: &Context) -> Result<Unnamed, RenderError> {
        let mut json = Json::new();
        let unnamed = Context { name: "", ..*ctx };
        self.root.write(&unnamed, &mut json)?;
        Ok(Unnamed {
            name_at: std::mem::take(&mut json.name_at),
            json: json.into_string(),
        })
    }
}

/// An input rendered before the execution name is known.
#[derive(Debug, Clone, PartialEq)]
pub struct Unnamed {
    json: String,
    /// Where `{name}` goes in `json`, in order.
    name_at: Vec<usize>,
}

impl Unnamed {
    /// Without a placeholder to fill: `json` as it is.
    pub fn plain(json: String) -> Unnamed {
        Unnamed {
            json,
            name_at: Vec::new(),
        }
    }

    /// The input with `{name}` empty.
    pub fn as_str(&self) -> &str {
        &self.json
    }

    /// The input with `name` in every `{name}`: the bytes a rendering with that
    /// name writes.
    pub fn named(self, name: &str) -> String {
        if self.name_at.is_empty() {
            return self.json;
        }
        let mut escaped = Vec::new();
        write_escaped(&mut escaped, name);
        let mut out = Vec::with_capacity(self.json.len() + self.name_at.len() * escaped.len());
        let mut from = 0;
        for &at in &self.name_at {
            out.extend_from_slice(&self.json.as_bytes()[from..at]);
            out.extend_from_slice(&escaped);
            from = at;
        }
        out.extend_from_slice(&self.json.as_bytes()[from..]);
        String::from_utf8(out).expect("JSON is UTF-8")
    }
}

/// A rendering in progress: the JSON so far, and where `{name}` was written.
struct Json {
    out: Vec<u8>,
    name_at: Vec<usize>,
}

impl Json {
    fn new() -> Json {
        Json {
            // Most inputs fit: no growing on the way.
            out: Vec::with_capacity(256),
            name_at: Vec::new(),
        }
    }

    fn into_string(self) -> String {
        String::from_utf8(self.out).expect("JSON is UTF-8")
    }
}

impl Node {
    fn fields<'a>(&'a self, into: &mut Vec<(String, &'a str)>) {
        match self {
            Node::Literal(_) => {}
            Node::Text(text) => into.extend(text.fields()),
            Node::Array(nodes) => nodes.iter().for_each(|node| node.fields(into)),
            Node::Object(members) => members.iter().for_each(|(_, node)| node.fields(into)),
        }
    }

    fn parse(value: Value) -> Result<Node, TemplateError> {
        Ok(match value {
            Value::String(s) => match TextTemplate::parse(&s)? {
                text if text.has_placeholders() => Node::Text(text),
                // `{{` and `}}` are braces: the parsed text, not the template's.
                text => Node::Literal(json_bytes(&text.render_plain())),
            },
            Value::Array(items) => Node::Array(
                items
                    .into_iter()
                    .map(Node::parse)
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(map) => Node::Object(
                map.into_iter()
                    .map(|(k, v)| Ok((json_bytes(&k), Node::parse(v)?)))
                    .collect::<Result<_, TemplateError>>()?,
            ),
            other => Node::Literal(json_bytes(&other)),
        })
    }

    fn write(&self, ctx: &Context, json: &mut Json) -> Result<(), RenderError> {
        match self {
            Node::Literal(literal) => json.out.extend_from_slice(literal),
            Node::Text(t) => match t.segments.as_slice() {
                // A lone placeholder keeps the field's own value and type (a number
                // stays a number).
                [Segment::Field(name)] => match ctx.fields.get(name) {
                    Some(Value::String(s)) => {
                        json.out.push(b'"');
                        write_escaped(&mut json.out, s);
                        json.out.push(b'"');
                    }
                    Some(value) => write_json(&mut json.out, value),
                    None => return Err(RenderError::MissingField(name.clone())),
                },
                [segment] if *segment != Segment::Name => {
                    write_json(&mut json.out, &segment.value(ctx)?)
                }
                // A string, written piece by piece: JSON escapes each character on
                // its own, so this is the whole string escaped.
                _ => {
                    json.out.push(b'"');
                    t.pieces(ctx, |piece, is_name| {
                        if is_name {
                            json.name_at.push(json.out.len());
                        }
                        write_escaped(&mut json.out, piece);
                    })?;
                    json.out.push(b'"');
                }
            },
            Node::Array(items) => {
                json.out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        json.out.push(b',');
                    }
                    item.write(ctx, json)?;
                }
                json.out.push(b']');
            }
            Node::Object(entries) => {
                json.out.push(b'{');
                for (i, (key, value)) in entries.iter().enumerate() {
                    if i > 0 {
                        json.out.push(b',');
                    }
                    json.out.extend_from_slice(key);
                    json.out.push(b':');
                    value.write(ctx, json)?;
                }
                json.out.push(b'}');
            }
        }
        Ok(())
    }
}

/// Compact JSON, as serde_json writes it.
fn write_json(out: &mut Vec<u8>, value: &(impl serde::Serialize + ?Sized)) {
    serde_json::to_writer(out, value).expect("writing JSON to memory cannot fail");
}

/// A string's content as JSON escapes it (without the quotes), as serde_json
/// writes it; most need no escaping, and are copied as they are.
fn write_escaped(out: &mut Vec<u8>, s: &str) {
    // Not short-circuiting: the compiler turns this into vector instructions.
    let escaped = (s.as_bytes().iter()).fold(false, |any, &b| {
        any | (b < 0x20) | (b == b'"') | (b == b'\\')
    });
    if !escaped {
        out.extend_from_slice(s.as_bytes());
    } else {
        let quoted = serde_json::to_vec(s).expect("a string serializes");
        out.extend_from_slice(&quoted[1..quoted.len() - 1]);
    }
}

fn json_bytes(value: &(impl serde::Serialize + ?Sized)) -> Vec<u8> {
    let mut out = Vec::new();
    write_json(&mut out, value);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(v: Value) -> Fields {
        v.as_object().unwrap().clone()
    }

    fn ctx(fields: &Fields) -> Context<'_> {
        Context {
            fields,
            row: 7,
            batch: "b1",
            name: "b1-abc",
        }
    }

    #[test]
    fn substitutes_fields_and_builtins() {
        let f = fields(json!({"input": "s3://in/a/b.csv", "n": 5}));
        let t = InputTemplate::parse(
            r#"{"Job": "{name}", "Row": "{row}", "B": "{input.bucket}", "K": "{input.key}", "N": "{n}", "S": "n={n}", "L": [1, "{batch}"]}"#,
        )
        .unwrap();
        assert_eq!(
            t.render(&ctx(&f)).unwrap(),
            r#"{"Job":"b1-abc","Row":"7","B":"in","K":"a/b.csv","N":5,"S":"n=5","L":[1,"b1"]}"#
        );
    }

    #[test]
    fn writes_the_bytes_serde_json_writes_for_the_rendered_value() {
        let f = fields(json!({"o": {"z": [1, "a\u{1}"], "a": null}, "x": 1.50, "s": "q\"é"}));
        let t = InputTemplate::parse(
            r#"{"deep": {"o": "{o}", "list": ["{s}", {"t": true, "n": null}, 2.50]}, "x": "{x}", "e": {}, "l": []}"#,
        )
        .unwrap();
        // Parsed, not built: a literal keeps its digits (2.50) as the template has them.
        let expected: Value = serde_json::from_str(
            r#"{"deep": {"o": {"z": [1, "a\u0001"], "a": null}, "list": ["q\"é", {"t": true, "n": null}, 2.50]},
                "x": 1.5, "e": {}, "l": []}"#,
        )
        .unwrap();
        assert_eq!(t.render(&ctx(&f)).unwrap(), expected.to_string());
    }

    #[test]
    fn strings_are_written_as_serde_json_writes_them() {
        for s in [
            "",
            "plain",
            "q\"",
            "back\\slash",
            "tab\t",
            "é",
            "\u{7f}",
            "\u{1f}",
        ] {
            let mut out = b"\"".to_vec();
            write_escaped(&mut out, s);
            out.push(b'"');
            assert_eq!(
                String::from_utf8(out).unwrap(),
                serde_json::to_string(s).unwrap()
            );
        }
        let t = InputTemplate::parse(
            r#"{"k\"ey": "lit\teral", "n": "{name}", "b": "{{x}}", "c": "}}", "d": ["{{"]}"#,
        )
        .unwrap();
        let f = fields(json!({}));
        let expected =
            json!({"k\"ey": "lit\teral", "n": "b1-abc", "b": "{x}", "c": "}", "d": ["{"]});
        assert_eq!(t.render(&ctx(&f)).unwrap(), expected.to_string());
    }

    #[test]
    fn an_unnamed_rendering_takes_the_name_as_a_rendering_with_it() {
        let f = fields(json!({"v": "q\"\t"}));
        let t = InputTemplate::parse(
            r#"{"a": "x\"{name}-{v}", "b": "{name}", "c": ["{name}{name}", 1], "d": "{v}"}"#,
        )
        .unwrap();
        let with = |name| Context { name, ..ctx(&f) };
        let unnamed = t.render_unnamed(&with("ignored")).unwrap();
        assert_eq!(unnamed.as_str(), t.render(&with("")).unwrap());
        assert_eq!(unnamed.named("b1-abc"), t.render(&with("b1-abc")).unwrap());
    }

    #[test]
    fn values_cannot_inject_json_or_expand_again() {
        let f = fields(json!({"v": "\"}, \"x\": \\ {name} é"}));
        let t = InputTemplate::parse(r#"{"a": "<{v}>"}"#).unwrap();
        let rendered = t.render(&ctx(&f)).unwrap();
        let back: Value = serde_json::from_str(&rendered).unwrap();
        assert_eq!(back["a"], "<\"}, \"x\": \\ {name} é>");
        assert_eq!(back.as_object().unwrap().len(), 1);
    }

    #[test]
    fn doubled_braces_are_literal() {
        let f = fields(json!({"a": "x"}));
        let t = TextTemplate::parse("{{a}}-{a}-}}").unwrap();
        assert_eq!(t.render(&ctx(&f)).unwrap(), "{a}-x-}");
    }

    #[test]
    fn bad_templates_are_rejected() {
        assert!(TextTemplate::parse("{a").is_err());
        assert!(TextTemplate::parse("a}").is_err());
        assert!(TextTemplate::parse("{}").is_err());
        assert!(TextTemplate::parse("{a{b}").is_err());
        assert!(InputTemplate::parse("{not json").is_err());
    }

    #[test]
    fn missing_field_and_bad_url_are_row_errors() {
        let f = fields(json!({"a": "not-a-url"}));
        let err = TextTemplate::parse("{b}")
            .unwrap()
            .render(&ctx(&f))
            .unwrap_err();
        assert_eq!(err, RenderError::MissingField("b".into()));
        let err = TextTemplate::parse("{a.key}")
            .unwrap()
            .render(&ctx(&f))
            .unwrap_err();
        assert!(matches!(err, RenderError::NotS3Url { .. }));
    }

    #[test]
    fn formats_dates_and_times() {
        let f = fields(json!({
            "date": "2024-02-29",
            "at": "2024-03-31T23:30:00+02:00",
            "n": "x",
            "a:b": "literal",
            "local": "2024-03-01T13:45:00"
        }));
        let t =
            TextTemplate::parse("{date:%Y/%m/%d}|{date:%j}|{at:%F %H}|{a:b}|{local:%H%M}").unwrap();
        assert_eq!(
            t.render(&ctx(&f)).unwrap(),
            "2024/02/29|060|2024-03-31 21|literal|1345"
        );
        let err = TextTemplate::parse("{n:%Y}")
            .unwrap()
            .render(&ctx(&f))
            .unwrap_err();
        assert!(matches!(err, RenderError::NotADate { .. }), "{err}");
    }

    #[test]
    fn a_lone_placeholder_keeps_the_type_of_a_literal_dotted_or_colon_field() {
        let f = fields(json!({"a.key": 1, "d:x": [2], "n": 1}));
        let t = InputTemplate::parse(r#"{"k": "{a.key}", "d": "{d:x}", "n": "{n}"}"#).unwrap();
        assert_eq!(t.render(&ctx(&f)).unwrap(), r#"{"k":1,"d":[2],"n":1}"#);
    }

    #[test]
    fn splits_s3_urls() {
        assert_eq!(split_s3_url("s3://b/k/x"), Some(("b", "k/x")));
        assert_eq!(split_s3_url("s3://b"), Some(("b", "")));
        assert_eq!(split_s3_url("s3:///k"), None);
        assert_eq!(split_s3_url("/tmp/x"), None);
    }
}
