//! `application/x-www-form-urlencoded` bodies, as Online Boutique's browser forms send them.

/// The form's fields in order; `None` if the body is not valid form encoding (a bad `%`
/// escape, or bytes that are not printable ASCII once decoded).
pub fn parse(body: &[u8]) -> Option<Vec<(String, String)>> {
    let text = std::str::from_utf8(body).ok()?;
    let mut out = Vec::new();
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.push((decode(k)?, decode(v)?));
    }
    Some(out)
}

fn decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    out.iter().all(|c| (0x20..0x7f).contains(c)).then(|| String::from_utf8(out).expect("ASCII"))
}

/// The value of `key` (the first, if repeated).
pub fn get<'a>(form: &'a [(String, String)], key: &str) -> Option<&'a str> {
    form.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_plus_and_percent() {
        let f = parse(b"email=a%40b.c&street_address=1600+Amphitheatre&x").unwrap();
        assert_eq!(get(&f, "email"), Some("a@b.c"));
        assert_eq!(get(&f, "street_address"), Some("1600 Amphitheatre"));
        assert_eq!(get(&f, "x"), Some(""));
        assert!(parse(b"a=%zz").is_none());
        assert!(parse(b"a=%0a").is_none());
        assert!(parse(b"a=%4").is_none());
    }
}
