//! The JSON body extractor: 415 for a wrong content type, 413 past the size limit, 400 for
//! text that is not JSON, 422 naming the field whose value is invalid.

use axum::body::{Body, Bytes};
use axum::http::HeaderMap;
use axum::http::header::CONTENT_TYPE;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// A JSON request body: 413 past `limit` bytes, 415 unless it is sent as JSON.
pub(crate) async fn read_json(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Bytes, ApiError> {
    let is_json = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().eq_ignore_ascii_case("application/json") || v.trim().ends_with("+json"))
        .unwrap_or(false);
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::BodyTooLarge { limit })?;
    if !is_json {
        return Err(ApiError::UnsupportedMediaType);
    }
    Ok(bytes)
}

/// Parses a body into `T` through its parse-don't-validate types; an invalid value names
/// its field by JSON path (`lines[0].quantity`).
pub(crate) fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let deserializer = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        let reason = strip_position(&inner.to_string());
        match inner.classify() {
            serde_json::error::Category::Data => {
                let field = if path == "." {
                    missing_field(&reason).unwrap_or_default()
                } else {
                    path
                };
                ApiError::InvalidField { field, reason }
            }
            _ => ApiError::MalformedJson(reason),
        }
    })
}

/// serde_json appends " at line L column C"; the field path says more to a caller.
fn strip_position(message: &str) -> String {
    message
        .rsplit_once(" at line ")
        .map_or(message, |(head, _)| head)
        .to_owned()
}

fn missing_field(reason: &str) -> Option<String> {
    let start = reason.find('`')? + 1;
    let end = start + reason[start..].find('`')?;
    Some(reason[start..end].to_owned())
}

#[cfg(test)]
mod tests {
    use schemas::command::PlaceOrder;

    use super::*;

    fn field_error(body: &str) -> (String, String) {
        match parse::<PlaceOrder>(body.as_bytes()) {
            Err(ApiError::InvalidField { field, reason }) => (field, reason),
            other => panic!("expected an invalid field, got {other:?}"),
        }
    }

    #[test]
    fn names_the_invalid_field() {
        let body = r#"{"customer_id": "c", "currency": "EUR", "shipping_address": {"name": "a", "line1": "b", "city": "c", "postal_code": "1", "country": "DE"},
                       "lines": [{"sku": "OK", "quantity": 0, "unit_price": {"amount_minor": 1, "currency": "EUR"}}]}"#;
        let (field, reason) = field_error(body);
        assert_eq!(field, "lines[0].quantity");
        assert_eq!(reason, "must be a whole number from 1 to 10000");
    }

    #[test]
    fn a_type_error_names_the_json_path_and_a_whole_float_is_a_whole_number() {
        let line = |quantity: &str| {
            format!(
                r#"{{"customer_id": "c", "currency": "EUR", "shipping_address": {{"name": "a", "line1": "b", "city": "c", "postal_code": "1", "country": "DE"}},
                    "lines": [{{"sku": "OK", "quantity": {quantity}, "unit_price": {{"amount_minor": 1.0, "currency": "EUR"}}}}]}}"#
            )
        };
        assert!(parse::<PlaceOrder>(line("3994.0").as_bytes()).is_ok());
        for bad in ["3994.5", "\"3\"", "true", "null"] {
            assert_eq!(field_error(&line(bad)).0, "lines[0].quantity", "{bad}");
        }
        let add = r#"{"sku": "OK", "quantity": 3994.5, "unit_price": {"amount_minor": 1, "currency": "EUR"}}"#;
        match parse::<schemas::command::AddLine>(add.as_bytes()) {
            Err(ApiError::InvalidField { field, .. }) => assert_eq!(field, "quantity"),
            other => panic!("expected an invalid field, got {other:?}"),
        }
    }

    #[test]
    fn names_a_missing_field_and_tells_syntax_from_data() {
        assert_eq!(field_error(r#"{"customer_id": "c"}"#).0, "currency");
        assert!(matches!(
            parse::<PlaceOrder>(b"{not json"),
            Err(ApiError::MalformedJson(_))
        ));
    }
}
