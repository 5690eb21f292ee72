//! Requests generated from the checked-in OpenAPI document, as a property-based API tester
//! would make them: every value from its JSON Schema (types, patterns, lengths, item
//! counts, ranges, optional properties present or not), nothing from the server's code.

use std::path::PathBuf;

use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// The checked-in document.
pub(crate) fn document() -> Value {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../schemas/openapi/command-api.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("document")).expect("json")
}

/// One request the document calls valid.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Option<Value>,
}

/// The operations of the document: method, path template, operation.
pub(crate) fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut operations = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            operations.push((method.to_uppercase(), path.clone(), operation.clone()));
        }
    }
    operations
}

/// Requests for one operation; an `{id}` is either generated or `known` (an order that
/// exists, so commands reach more than "not found").
pub(crate) fn requests(
    doc: &Value,
    (method, template, operation): &(String, String, Value),
    known: String,
) -> BoxedStrategy<Request> {
    let mut path_parts: Vec<BoxedStrategy<(String, String)>> = Vec::new();
    let mut header_parts: Vec<BoxedStrategy<Option<(String, String)>>> = Vec::new();
    for parameter in operation["parameters"].as_array().into_iter().flatten() {
        let name = parameter["name"].as_str().expect("name").to_owned();
        let values = value(doc, &parameter["schema"]).prop_map(|v| match v {
            Value::String(s) => s,
            other => other.to_string(),
        });
        match parameter["in"].as_str() {
            Some("path") if name == "id" => {
                let known = known.clone();
                path_parts.push(
                    prop_oneof![values, Just(known)]
                        .prop_map(move |v| (name.clone(), v))
                        .boxed(),
                );
            }
            Some("path") => path_parts.push(values.prop_map(move |v| (name.clone(), v)).boxed()),
            Some("header") => header_parts
                .push(proptest::option::of(values.prop_map(move |v| (name.clone(), v))).boxed()),
            other => panic!("parameter in {other:?}"),
        }
    }
    let body = match operation["requestBody"]["content"]["application/json"]["schema"].clone() {
        Value::Null => Just(None).boxed(),
        schema => value(doc, &schema).prop_map(Some).boxed(),
    };
    let (method, template) = (method.clone(), template.clone());
    (path_parts, header_parts, body)
        .prop_map(move |(params, headers, body)| {
            let mut path = template.clone();
            for (name, value) in params {
                path = path.replace(&format!("{{{name}}}"), &value);
            }
            Request {
                method: method.clone(),
                path,
                headers: headers.into_iter().flatten().collect(),
                body,
            }
        })
        .boxed()
}

/// Values of `schema`.
pub(crate) fn value(doc: &Value, schema: &Value) -> BoxedStrategy<Value> {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference
            .strip_prefix("#/components/schemas/")
            .expect("local reference");
        return value(doc, &doc["components"]["schemas"][name]);
    }
    if let Some(choices) = schema["enum"].as_array() {
        return proptest::sample::select(choices.clone()).boxed();
    }
    match &schema["type"] {
        Value::Array(types) => {
            let options: Vec<BoxedStrategy<Value>> = types
                .iter()
                .map(|t| {
                    let mut single = schema.clone();
                    single["type"] = t.clone();
                    value(doc, &single)
                })
                .collect();
            proptest::strategy::Union::new(options).boxed()
        }
        Value::String(t) => match t.as_str() {
            "object" => object(doc, schema),
            "array" => {
                let min = schema["minItems"].as_u64().unwrap_or(0) as usize;
                // Long arrays add nothing but time: at most three past the least.
                let max = (schema["maxItems"].as_u64().unwrap_or(8) as usize).min(min + 3);
                proptest::collection::vec(value(doc, &schema["items"]), min..=max)
                    .prop_map(Value::Array)
                    .boxed()
            }
            "string" => string(schema),
            "integer" => integer(schema),
            "boolean" => any::<bool>().prop_map(Value::Bool).boxed(),
            "null" => Just(Value::Null).boxed(),
            other => panic!("type {other}"),
        },
        _ => panic!("schema without a type: {schema}"),
    }
}

fn object(doc: &Value, schema: &Value) -> BoxedStrategy<Value> {
    let required: Vec<&str> = schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let properties: Vec<BoxedStrategy<Option<(String, Value)>>> = schema["properties"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, property)| {
            let is_required = required.contains(&name.as_str());
            let name = name.clone();
            let values = value(doc, property).prop_map(move |v| (name.clone(), v));
            if is_required {
                values.prop_map(Some).boxed()
            } else {
                proptest::option::of(values).boxed()
            }
        })
        .collect();
    properties
        .prop_map(|fields| Value::Object(fields.into_iter().flatten().collect::<Map<_, _>>()))
        .boxed()
}

fn string(schema: &Value) -> BoxedStrategy<Value> {
    let min = schema["minLength"].as_u64().unwrap_or(0) as usize;
    let max = schema["maxLength"].as_u64().unwrap_or(64) as usize;
    if schema["format"] == "uuid" {
        return any::<u128>()
            .prop_map(|n| json!(uuid::Uuid::from_u128(n).to_string()))
            .boxed();
    }
    let pattern = schema["pattern"].as_str().map_or_else(
        || format!("[\\s\\S]{{{min},{}}}", max.min(64)),
        |p| p.trim_start_matches('^').trim_end_matches('$').to_owned(),
    );
    proptest::string::string_regex(&pattern)
        .unwrap_or_else(|e| panic!("pattern {pattern}: {e}"))
        .prop_filter("length within the schema's bounds", move |s| {
            (min..=max).contains(&s.chars().count())
        })
        .prop_map(Value::String)
        .boxed()
}

fn integer(schema: &Value) -> BoxedStrategy<Value> {
    let min = schema["minimum"].as_i64().unwrap_or(i64::MIN);
    let max = schema["maximum"].as_i64().unwrap_or(i64::MAX);
    let whole = (min..=max).boxed();
    // JSON has one number type: an integer may be written with a zero fraction.
    prop_oneof![
        3 => whole.clone().prop_map(|n| json!(n)),
        1 => whole
            .prop_filter("exact as a float", |n| n.unsigned_abs() < (1 << 53))
            .prop_map(|n| json!(n as f64)),
    ]
    .boxed()
}
