//! `x5c` leaf certificate validity, used only to rank keys when there are more than `max_keys`.
//!
//! Kept behind this one function so the X.509 parser is only reached when over the limit
//! (style §3: `x509-cert` adds about 47 KB raw to the wasm).

use base64ct::{Base64, Encoding};
use der::Decode;
use x509_cert::Certificate;

/// A leaf certificate's validity window, in Unix seconds (RFC 5280 §4.1.2.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Validity {
    /// `notBefore`, Unix seconds.
    pub(crate) not_before_s: i64,
    /// `notAfter`, Unix seconds.
    pub(crate) not_after_s: i64,
}

/// Decodes one `x5c` entry and returns its validity, or `None` when it does not decode.
///
/// `x5c` entries are standard base64 with padding (RFC 7517 §4.7), not base64url, holding DER.
/// Certificates that RFC 5280 parsing refuses (e.g. a negative serial number) give `None`.
pub(crate) fn validity(x5c_entry: &str) -> Option<Validity> {
    let der = Base64::decode_vec(x5c_entry).ok()?;
    let cert = Certificate::from_der(&der).ok()?;
    let v = cert.tbs_certificate().validity();
    let secs = |d: std::time::Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    Some(Validity {
        not_before_s: secs(v.not_before.to_unix_duration()),
        not_after_s: secs(v.not_after.to_unix_duration()),
    })
}
