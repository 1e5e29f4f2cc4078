//! Defines the little of X.509 that the TLS setup reads itself: a certificate's
//! version, names, validity, public key and signature, from its DER. webpki
//! (behind rustls) reads only v3 certificates, while operators make v1 ones every day
//! (`openssl x509 -req` without `-extfile`) and OpenSSL — the original's TLS — takes
//! them; this reader lets cassachange check a v1 certificate and say what is wrong with
//! one in words.

/// One DER element: its tag, its content, and the whole encoding (header included).
#[derive(Debug, Clone, Copy)]
struct Tlv<'a> {
    tag: u8,
    content: &'a [u8],
    raw: &'a [u8],
}

/// Reads DER elements one after another.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn next(&mut self) -> Result<Tlv<'a>, String> {
        let b = self.0;
        let tag = *b.first().ok_or("truncated DER")?;
        let first = *b.get(1).ok_or("truncated DER length")?;
        let (len, header) = if first < 0x80 {
            (usize::from(first), 2)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 {
                return Err("unsupported DER length".into());
            }
            let bytes = b.get(2..2 + n).ok_or("truncated DER length")?;
            let len = bytes
                .iter()
                .fold(0usize, |acc, x| (acc << 8) | usize::from(*x));
            (len, 2 + n)
        };
        let end = header.checked_add(len).ok_or("DER length overflows")?;
        let raw = b.get(..end).ok_or("truncated DER element")?;
        self.0 = &b[end..];
        Ok(Tlv {
            tag,
            content: &raw[header..],
            raw,
        })
    }

    fn expect(&mut self, tag: u8, what: &str) -> Result<Tlv<'a>, String> {
        let t = self.next()?;
        if t.tag == tag {
            Ok(t)
        } else {
            Err(format!("{what}: unexpected DER tag 0x{:02x}", t.tag))
        }
    }

    fn peek_tag(&self) -> Option<u8> {
        self.0.first().copied()
    }
}

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;

/// What the TLS setup reads of one certificate.
#[derive(Debug, Clone)]
pub(crate) struct Certificate<'a> {
    /// 1, 2 or 3.
    pub(crate) version: u8,
    /// The `TBSCertificate`, as signed (its whole encoding).
    pub(crate) tbs: &'a [u8],
    /// The signature algorithm: the content of its `AlgorithmIdentifier`.
    pub(crate) signature_alg: &'a [u8],
    /// The signature.
    pub(crate) signature: &'a [u8],
    /// The issuer's name (its whole encoding).
    pub(crate) issuer: &'a [u8],
    /// The subject's name (its whole encoding).
    pub(crate) subject: &'a [u8],
    /// Not valid before (seconds since the epoch).
    pub(crate) not_before: i64,
    /// Not valid after (seconds since the epoch).
    pub(crate) not_after: i64,
    /// The `SubjectPublicKeyInfo` (its whole encoding).
    pub(crate) spki: &'a [u8],
    /// The public key's algorithm: the content of its `AlgorithmIdentifier`.
    pub(crate) key_alg: &'a [u8],
    /// The public key itself (the `subjectPublicKey` bits).
    pub(crate) key: &'a [u8],
}

/// The bits of a BIT STRING with no unused bits.
fn bits<'a>(t: &Tlv<'a>, what: &str) -> Result<&'a [u8], String> {
    match t.content.split_first() {
        Some((0, rest)) => Ok(rest),
        _ => Err(format!("{what}: not a whole number of bytes")),
    }
}

/// Parses one certificate from its DER (v1, v2 or v3).
pub(crate) fn parse(der: &[u8]) -> Result<Certificate<'_>, String> {
    let mut top = Reader(der);
    let cert = top.expect(SEQUENCE, "certificate")?;
    let mut c = Reader(cert.content);
    let tbs = c.expect(SEQUENCE, "tbsCertificate")?;
    let signature_alg = c.expect(SEQUENCE, "signatureAlgorithm")?.content;
    let signature = bits(&c.expect(BIT_STRING, "signatureValue")?, "signature")?;
    let mut t = Reader(tbs.content);
    // [0] version: absent in a v1 certificate, 1 or 2 (v2, v3) otherwise.
    let version = if t.peek_tag() == Some(0xa0) {
        let v = t.next()?;
        match Reader(v.content).expect(INTEGER, "version")?.content {
            [n @ 0..=2] => n + 1,
            _ => return Err("unknown certificate version".into()),
        }
    } else {
        1
    };
    t.expect(INTEGER, "serialNumber")?;
    t.expect(SEQUENCE, "signature")?;
    let issuer = t.expect(SEQUENCE, "issuer")?.raw;
    let validity = t.expect(SEQUENCE, "validity")?;
    let subject = t.expect(SEQUENCE, "subject")?.raw;
    let spki = t.expect(SEQUENCE, "subjectPublicKeyInfo")?;
    let mut k = Reader(spki.content);
    let key_alg = k.expect(SEQUENCE, "public key algorithm")?.content;
    let key = bits(&k.expect(BIT_STRING, "subjectPublicKey")?, "public key")?;
    let mut v = Reader(validity.content);
    Ok(Certificate {
        version,
        tbs: tbs.raw,
        signature_alg,
        signature,
        issuer,
        subject,
        not_before: time(&v.next()?)?,
        not_after: time(&v.next()?)?,
        spki: spki.raw,
        key_alg,
        key,
    })
}

/// A `Time` (UTCTime or GeneralizedTime, `Z`) as seconds since the epoch.
fn time(t: &Tlv<'_>) -> Result<i64, String> {
    let s = std::str::from_utf8(t.content).map_err(|_| "bad time")?;
    let s = s.strip_suffix('Z').ok_or("a time without Z")?;
    let (year, rest) = match t.tag {
        UTC_TIME if s.len() == 12 => {
            let yy: i64 = s[..2].parse().map_err(|_| "bad time")?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &s[2..])
        }
        GENERALIZED_TIME if s.len() == 14 => (s[..4].parse().map_err(|_| "bad time")?, &s[4..]),
        _ => return Err("unsupported time format".into()),
    };
    let n = |i: usize| -> Result<i64, String> {
        rest.get(i..i + 2)
            .and_then(|x| x.parse().ok())
            .ok_or_else(|| "bad time".to_string())
    };
    let (month, day, hour, min, sec) = (n(0)?, n(2)?, n(4)?, n(6)?, n(8)?);
    Ok(days_from_civil(year, month, day) * 86_400 + hour * 3600 + min * 60 + sec)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DD` of seconds since the epoch, for messages.
pub(crate) fn date(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        for (y, m, d) in [(1970, 1, 1), (2000, 2, 29), (2026, 12, 4), (2049, 12, 31)] {
            let secs = days_from_civil(y, m, d) * 86_400;
            assert_eq!(date(secs), format!("{y:04}-{m:02}-{d:02}"));
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
    }

    #[test]
    fn truncated_der_is_an_error_not_a_panic() {
        for bytes in [
            &[][..],
            &[0x30],
            &[0x30, 0x82, 0x01],
            &[0x30, 0x05, 0x02, 0x01],
        ] {
            assert!(parse(bytes).is_err(), "{bytes:?}");
        }
    }
}
