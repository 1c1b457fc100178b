//! Which recorded key set `POST /rollback` may put back: the set a run wrote, as its target's
//! Durable Object stored it, decoded and checked like any key set before a write.
//!
//! The object reads the stored text and the list of kept runs from its storage; this module
//! decides. A refusal is the object's answer (status and JSON body, code `RUN_NOT_RESTORABLE`),
//! which the Worker passes on as it is: no run was reached, and nothing was written.

use serde_json::Value;

use crate::error::ServiceError;
use crate::jwks::{decode_key, Options, PublicJwk};
use crate::report::error_json;

/// The keys of the set run `run` wrote, from `stored` (its recorded `{"keys":[…]}`, `None` when no
/// longer kept; `kept` lists the runs whose sets are, newest first). Each key is decoded with
/// `opts.rsa_default_alg`, as every set is before a write.
///
/// # Errors
/// A status and a `RUN_NOT_RESTORABLE` body: 404 when the set is not kept (naming the restorable
/// runs); 409 when it holds more keys than `opts.max_keys` allows now (a set is put back whole or
/// not at all); 500 when the stored text cannot be read as a non-empty set of public keys (it was
/// written by this Worker, so that is a fault of the record, not of the request).
pub fn restorable(
    run: i64,
    stored: Option<&str>,
    kept: &[i64],
    opts: &Options,
) -> Result<Vec<PublicJwk>, (u16, String)> {
    let refuse = |status, msg: String| (status, error_json(ServiceError::RunNotRestorable, &msg));
    let Some(text) = stored else {
        let kept: Vec<String> = kept.iter().map(i64::to_string).collect();
        let kept = if kept.is_empty() {
            "none".to_owned()
        } else {
            kept.join(", ")
        };
        return Err(refuse(
            404,
            format!("run {run} has no written key set kept; restorable runs: {kept}"),
        ));
    };
    let keys: Option<Vec<PublicJwk>> = serde_json::from_str::<Value>(text)
        .ok()
        .as_ref()
        .and_then(|v| v.get("keys"))
        .and_then(Value::as_array)
        .and_then(|keys| {
            keys.iter()
                .map(|k| decode_key(k, opts.rsa_default_alg).ok())
                .collect()
        });
    match keys {
        Some(keys) if keys.len() > opts.max_keys => Err(refuse(
            409,
            format!(
                "run {run} wrote {} keys, more than MAX_KEYS ({}) allows now",
                keys.len(),
                opts.max_keys
            ),
        )),
        Some(keys) if !keys.is_empty() => Ok(keys),
        _ => Err(refuse(
            500,
            format!("the key set recorded for run {run} cannot be read"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
    const Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
    const X2: &str = "WKn-ZIGevcwGIyyrzFoZNBdaq9_TsqzGl96oc0CWuis";
    const Y2: &str = "y77t-RvAHRKTsSGdIYUfweuOvwrvDD-Q3Hv5J0fSKbE";

    fn set() -> String {
        json!({"keys": [
            {"kty": "EC", "kid": "a", "alg": "ES256", "crv": "P-256", "x": X, "y": Y},
            {"kty": "EC", "kid": "b", "alg": "ES256", "crv": "P-256", "x": X2, "y": Y2},
        ]})
        .to_string()
    }

    fn opts(max_keys: usize) -> Options {
        Options {
            max_keys,
            ..Options::default()
        }
    }

    /// The refusal's status, code and message.
    fn refusal(r: Result<Vec<PublicJwk>, (u16, String)>) -> (u16, String, String) {
        let (status, body) = r.unwrap_err();
        let v: Value = serde_json::from_str(&body).unwrap();
        (
            status,
            v["error"]["code"].as_str().unwrap().to_owned(),
            v["error"]["message"].as_str().unwrap().to_owned(),
        )
    }

    #[test]
    fn a_kept_set_is_decoded() {
        let keys = restorable(4, Some(&set()), &[4], &opts(16)).unwrap();
        let kids: Vec<&str> = keys.iter().map(|k| k.kid()).collect();
        assert_eq!(kids, ["a", "b"]);
        assert!(restorable(4, Some(&set()), &[4], &opts(2)).is_ok());
    }

    #[test]
    fn a_set_no_longer_kept_is_404_naming_the_restorable_runs() {
        assert_eq!(
            refusal(restorable(99, None, &[12, 9, 4], &opts(16))),
            (
                404,
                "RUN_NOT_RESTORABLE".to_owned(),
                "run 99 has no written key set kept; restorable runs: 12, 9, 4".to_owned()
            )
        );
        assert_eq!(
            refusal(restorable(1, None, &[], &opts(16))).2,
            "run 1 has no written key set kept; restorable runs: none"
        );
    }

    #[test]
    fn a_set_over_max_keys_now_is_409() {
        assert_eq!(
            refusal(restorable(4, Some(&set()), &[4], &opts(1))),
            (
                409,
                "RUN_NOT_RESTORABLE".to_owned(),
                "run 4 wrote 2 keys, more than MAX_KEYS (1) allows now".to_owned()
            )
        );
    }

    #[test]
    fn an_unreadable_record_is_500() {
        let private =
            json!({"keys": [{"kty": "EC", "kid": "a", "crv": "P-256", "x": X, "y": Y, "d": X}]});
        for text in [
            "not json".to_owned(),
            "{}".to_owned(),
            r#"{"keys":[]}"#.to_owned(),
            r#"{"keys":[{"kty":"EC","kid":"a"}]}"#.to_owned(),
            private.to_string(),
        ] {
            assert_eq!(
                refusal(restorable(4, Some(&text), &[4], &opts(16))),
                (
                    500,
                    "RUN_NOT_RESTORABLE".to_owned(),
                    "the key set recorded for run 4 cannot be read".to_owned()
                ),
                "{text}"
            );
        }
    }
}
