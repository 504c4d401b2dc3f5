//! The plan: for each item, the execution name and input, checked against AWS's
//! rules. Pure, no I/O: `--dry-run` is the pipeline stopped here.

use sha2::{Digest, Sha256};

use crate::model::rows::{Invalid, Item, Launch, Planned};
use crate::plan::template::{Context, InputTemplate, TextTemplate, Unnamed};

/// StartExecution's input limit: 256 KiB of UTF-8.
pub const MAX_INPUT_BYTES: usize = 262_144;
/// Execution names are 1–80 characters.
pub(crate) const MAX_NAME_CHARS: usize = 80;
/// Hex digits of the row-identity hash in a default name: 64 bits, so that two
/// different rows of one batch never meet by chance.
const NAME_HASH_HEX: usize = 16;
/// Room left for the batch id in a default name (`{batch}-{hash}`).
pub(crate) const MAX_BATCH_ID_CHARS: usize = MAX_NAME_CHARS - 1 - NAME_HASH_HEX;

/// Renders names and inputs for one batch.
pub struct Planner {
    state_machine_arn: String,
    batch_id: String,
    input: Option<InputTemplate>,
    name: Option<TextTemplate>,
    output: Option<TextTemplate>,
}

impl Planner {
    /// A planner for one batch: `input` renders each row's input (else the row's fields
    /// are the input), `name` its name (else `{batch}-{hash}` of the state machine and
    /// input).
    pub fn new(
        state_machine_arn: String,
        batch_id: String,
        input: Option<InputTemplate>,
        name: Option<TextTemplate>,
    ) -> Planner {
        Planner {
            state_machine_arn,
            batch_id,
            input,
            name,
            output: None,
        }
    }

    /// `--output-template`: renders the row's `output` field from its other fields,
    /// before the name and input (which may use it).
    pub fn with_output(self, output: Option<TextTemplate>) -> Planner {
        Planner { output, ..self }
    }

    /// Whether a row's `field` can change its name or input: a template names it,
    /// or there is no input template (the fields are the input).
    pub(crate) fn uses_field(&self, field: &str) -> bool {
        let Some(input) = &self.input else {
            return true;
        };
        let names = |(_, of): (String, &str)| of == field;
        input.fields().into_iter().any(names)
            || (self.name.iter().chain(&self.output)).any(|t| t.fields().any(names))
    }

    /// Renders the row's name and input and checks them against StartExecution's rules.
    pub fn plan(&self, mut item: Item) -> Planned {
        let rendered = self.add_output(&mut item).and_then(|()| self.render(&item));
        Planner::planned(item, rendered)
    }

    /// Plans the row under a given name (`retry`: the name a row failed to start
    /// under, or a restart's): the input is rendered for that name.
    pub fn plan_named(&self, mut item: Item, name: &str) -> Planned {
        let rendered = self
            .add_output(&mut item)
            .and_then(|()| self.render_input(&item, name))
            .and_then(|input| checked(name.to_string(), input));
        Planner::planned(item, rendered)
    }

    fn planned(item: Item, rendered: Result<(String, String), String>) -> Planned {
        match rendered {
            Ok((name, input)) => Ok(Launch {
                row: item.row,
                line: item.line,
                name,
                input,
                fields: item.fields,
            }),
            Err(reason) => Err(Invalid {
                row: item.row,
                line: item.line,
                reason,
                fields: item.fields,
            }),
        }
    }

    fn add_output(&self, item: &mut Item) -> Result<(), String> {
        let Some(template) = &self.output else {
            return Ok(());
        };
        let output = template
            .render(&self.context(item, ""))
            .map_err(|e| format!("output: {e}"))?;
        item.fields.insert("output".to_string(), output.into());
        Ok(())
    }

    fn context<'a>(&'a self, item: &'a Item, name: &'a str) -> Context<'a> {
        Context {
            fields: &item.fields,
            row: item.row,
            batch: &self.batch_id,
            name,
        }
    }

    fn render_input(&self, item: &Item, name: &str) -> Result<String, String> {
        match &self.input {
            Some(template) => template
                .render(&self.context(item, name))
                .map_err(|e| e.to_string()),
            None => Ok(serde_json::Value::Object(item.fields.clone()).to_string()),
        }
    }

    fn render(&self, item: &Item) -> Result<(String, String), String> {
        let (name, input) = match &self.name {
            Some(template) => {
                let name = template
                    .render(&self.context(item, ""))
                    .map_err(|e| format!("name: {e}"))?;
                let input = self.render_input(item, &name)?;
                (name, input)
            }
            None => {
                // The identity is the input as rendered before the name is known: the
                // name cannot depend on itself, and rows that differ anywhere differ here.
                let identity = match &self.input {
                    Some(template) => template
                        .render_unnamed(&self.context(item, ""))
                        .map_err(|e| e.to_string())?,
                    None => Unnamed::plain(self.render_input(item, "")?),
                };
                let name = self.batch_id.clone() + "-" + &self.identity_hash(identity.as_str());
                let input = identity.named(&name);
                (name, input)
            }
        };
        checked(name, input)
    }

    /// `NAME_HASH_HEX` hex digits of the SHA-256 of the state machine and input.
    fn identity_hash(&self, input: &str) -> String {
        let mut hasher = Sha256::new();
        hasher.update(self.state_machine_arn.as_bytes());
        hasher.update(b"\n");
        hasher.update(input.as_bytes());
        const {
            assert!(
                NAME_HASH_HEX == 16,
                "the hash is the first 8 bytes, as 16 hex"
            )
        };
        let first_bytes = hasher.finalize()[..8].try_into().expect("8 bytes");
        format!("{:016x}", u64::from_be_bytes(first_bytes))
    }
}

/// The name and input, if StartExecution would take them.
fn checked(name: String, input: String) -> Result<(String, String), String> {
    check_name(&name)?;
    if input.len() > MAX_INPUT_BYTES {
        return Err(format!(
            "input is {} bytes, more than StartExecution's limit of {MAX_INPUT_BYTES}",
            input.len()
        ));
    }
    Ok((name, input))
}

/// The ASCII characters execution names may not hold: whitespace, control
/// characters, and ``<>{}[]?*"#%\^|~`$&,;:/``. A table, since every row's name is
/// checked.
const FORBIDDEN_ASCII: [bool; 128] = {
    let mut table = [false; 128];
    let mut c = 0;
    while c < 128 {
        table[c] = c <= 0x20 || c == 0x7f;
        c += 1;
    }
    let mut listed = b"<>{}[]?*\"#%\\^|~`$&,;:/".as_slice();
    while let [c, rest @ ..] = listed {
        table[*c as usize] = true;
        listed = rest;
    }
    table
};

/// Checks a name against StartExecution's rules; names are rejected, never rewritten.
pub fn check_name(name: &str) -> Result<(), String> {
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS {
        return Err(format!(
            "name {name:?} is {chars} characters; execution names are 1 to {MAX_NAME_CHARS}"
        ));
    }
    let forbidden = |c: char| match c.is_ascii() {
        true => FORBIDDEN_ASCII[c as usize],
        false => c.is_whitespace() || ('\u{80}'..='\u{9f}').contains(&c),
    };
    match name.chars().find(|&c| forbidden(c)) {
        Some(c) => Err(format!(
            "name {name:?} contains {c:?}, which execution names may not"
        )),
        None => Ok(()),
    }
}

/// `<manifest name>-<8 hex>`: the hash covers the state machine and the source's
/// `identity` (a manifest's bytes, what a listing or date range asks for), so the
/// same command on the same manifest finds the same run dir and the same names,
/// and a changed manifest is a new batch.
pub(crate) fn default_batch_id(
    short_name: &str,
    identity: &str,
    state_machine_arn: &str,
) -> String {
    let base = short_name.split('.').next().unwrap_or(short_name);
    // Characters a name may not hold (or CloudWatch would not like) become one `-`.
    let mut stem = String::new();
    for c in base.chars() {
        match c.is_ascii_alphanumeric() || c == '_' {
            true => stem.push(c),
            false if !stem.ends_with('-') => stem.push('-'),
            false => {}
        }
    }
    let mut stem: String = stem.trim_matches('-').chars().take(24).collect();
    if stem.is_empty() {
        stem = "batch".to_string();
    }
    let mut hasher = Sha256::new();
    hasher.update(state_machine_arn.as_bytes());
    hasher.update(b"\n");
    hasher.update(identity.as_bytes());
    format!("{stem}-{}", &hex::encode(hasher.finalize())[..8])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_field_is_used_when_a_template_names_it_or_the_fields_are_the_input() {
        let input = InputTemplate::parse(r#"{"in": "{input}"}"#).unwrap();
        let name = TextTemplate::parse("{stem}-{row}").unwrap();
        let output = TextTemplate::parse("s3://out/{file.key}").unwrap();
        let planner = Planner::new("arn".into(), "b".into(), Some(input), Some(name))
            .with_output(Some(output));
        for used in ["input", "stem", "file"] {
            assert!(planner.uses_field(used), "{used}");
        }
        assert!(!planner.uses_field("last_modified"));
        let plain = Planner::new("arn".into(), "b".into(), None, None);
        assert!(plain.uses_field("last_modified"));
    }

    fn item(row: u64, v: serde_json::Value) -> Item {
        Item {
            row,
            line: Some(row + 1),
            fields: v.as_object().unwrap().clone(),
        }
    }

    fn planner(input: Option<&str>, name: Option<&str>) -> Planner {
        Planner::new(
            "arn:aws:states:us-east-1:123456789012:stateMachine:sm".into(),
            "batch1".into(),
            input.map(|t| InputTemplate::parse(t).unwrap()),
            name.map(|t| TextTemplate::parse(t).unwrap()),
        )
    }

    #[test]
    fn default_name_is_batch_plus_hash_and_input_is_the_row() {
        let p = planner(None, None);
        let a = p.plan(item(1, json!({"k": "v"}))).unwrap();
        assert_eq!(a.input, r#"{"k":"v"}"#);
        assert!(a.name.starts_with("batch1-"));
        assert_eq!(a.name.len(), "batch1-".len() + NAME_HASH_HEX);
        let again = p.plan(item(9, json!({"k": "v"}))).unwrap();
        assert_eq!(a.name, again.name, "same row content, same name");
        let other = p.plan(item(2, json!({"k": "w"}))).unwrap();
        assert_ne!(a.name, other.name);
    }

    #[test]
    fn name_placeholder_gets_the_execution_name() {
        let p = planner(Some(r#"{"Job": "{name}", "In": "{input}"}"#), None);
        let a = p.plan(item(1, json!({"input": "s3://b/k"}))).unwrap();
        assert_eq!(
            a.input,
            format!(r#"{{"Job":"{}","In":"s3://b/k"}}"#, a.name)
        );
    }

    #[test]
    fn plan_named_renders_the_input_for_the_given_name() {
        let p = planner(Some(r#"{"Job": "{name}", "In": "{input}"}"#), None);
        let row = || item(1, json!({"input": "s3://b/k"}));
        let first = p.plan(row()).unwrap();
        let restart = p.plan_named(row(), &format!("{}-r1", first.name)).unwrap();
        assert_eq!(restart.name, format!("{}-r1", first.name));
        assert_eq!(
            restart.input,
            format!(r#"{{"Job":"{}-r1","In":"s3://b/k"}}"#, first.name)
        );
        let same = p.plan_named(row(), &first.name).unwrap();
        assert_eq!(same, first, "planned under its own name: the same launch");
        assert!(p.plan_named(row(), &"x".repeat(81)).is_err());
    }

    #[test]
    fn bad_rows_are_invalid_with_a_reason() {
        let p = planner(None, Some("job {id}"));
        let bad = p.plan(item(3, json!({"id": "1"}))).unwrap_err();
        assert_eq!(bad.row, 3);
        assert!(bad.reason.contains("' '"), "{}", bad.reason);
        let missing = p.plan(item(4, json!({}))).unwrap_err();
        assert!(
            missing.reason.contains("no field `id`"),
            "{}",
            missing.reason
        );
        let big = planner(None, None).plan(item(5, json!({"x": "a".repeat(MAX_INPUT_BYTES)})));
        assert!(big.unwrap_err().reason.contains("limit"));
    }

    #[test]
    fn name_rules() {
        assert!(check_name("ok-name_1").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name(&"a".repeat(81)).is_err());
        assert!(check_name(&"é".repeat(80)).is_ok());
        for bad in ["a b", "a/b", "a:b", "a\u{7}", "a\u{85}", "a{b"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }
}
