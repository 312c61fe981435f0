//! Backend options (`--backend-opt key=value`): declared by each backend ([`OptionSpec`]),
//! validated before anything is deployed ([`BackendOptions::resolve`]), handed to the
//! deployment in [`crate::DeployEnv`], and recorded in every run's manifest and summary. They
//! replace environment variables, which a run's results could not show.

use std::collections::BTreeMap;

/// One option a backend accepts.
#[derive(Debug, Clone, Copy)]
pub struct OptionSpec {
    pub key: &'static str,
    /// What it does, for `spright-bench backends`.
    pub help: &'static str,
    /// The value when the option is not given; `None` makes it required.
    pub default: Option<&'static str>,
    pub values: Values,
}

/// The values an option accepts.
#[derive(Debug, Clone, Copy)]
pub enum Values {
    OneOf(&'static [&'static str]),
    /// Any value the function accepts.
    Check(fn(&str) -> Result<(), Invalid>),
}

/// Why a value is refused: what the option expects instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{expected}")]
pub struct Invalid {
    pub expected: String,
}

impl Invalid {
    pub fn expected(what: impl Into<String>) -> Self {
        Invalid { expected: what.into() }
    }
}

impl OptionSpec {
    /// An option that takes one of `values`, the first being its default.
    pub const fn choice(key: &'static str, help: &'static str, values: &'static [&'static str]) -> OptionSpec {
        OptionSpec { key, help, default: Some(values[0]), values: Values::OneOf(values) }
    }

    fn check(&self, value: &str) -> Result<(), Invalid> {
        match self.values {
            Values::OneOf(names) if names.contains(&value) => Ok(()),
            Values::OneOf(names) => Err(Invalid::expected(format!("use {}", names.join(" or ")))),
            Values::Check(f) => f(value),
        }
    }

    /// `key=a|b (default a): help`, one line for listings.
    pub fn describe(&self) -> String {
        let values = match self.values {
            Values::OneOf(names) => names.join("|"),
            Values::Check(_) => "VALUE".into(),
        };
        let default = match self.default {
            Some(d) => format!("default {d}"),
            None => "required".into(),
        };
        format!("{}={values} ({default}): {}", self.key, self.help)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OptionError {
    #[error("--backend-opt {0:?}: expected KEY=VALUE")]
    Malformed(String),
    #[error("backend {backend} has no option {key:?}; {known}")]
    Unknown { backend: String, key: String, known: String },
    #[error("--backend-opt {key}={value}: {why}")]
    BadValue { key: String, value: String, why: String },
    #[error("--backend-opt {key} is given twice")]
    Repeated { key: String },
    #[error("backend {backend} needs --backend-opt {key}=...: {help}")]
    Missing { backend: String, key: String, help: String },
}

/// `KEY=VALUE` as given on the command line.
pub fn parse_assignment(s: &str) -> Result<(String, String), OptionError> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.trim().to_string())),
        _ => Err(OptionError::Malformed(s.to_string())),
    }
}

/// A backend's options, validated and complete (every declared option has its value).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackendOptions(BTreeMap<String, String>);

impl BackendOptions {
    /// Check `given` against `backend`'s declared `specs` and fill in the defaults.
    pub fn resolve(backend: &str, specs: &[OptionSpec], given: &[(String, String)]) -> Result<Self, OptionError> {
        let mut out = BTreeMap::new();
        for (key, value) in given {
            let Some(spec) = specs.iter().find(|s| s.key == key) else {
                let known = if specs.is_empty() {
                    "it takes none".to_string()
                } else {
                    format!("its options: {}", specs.iter().map(|s| s.key).collect::<Vec<_>>().join(", "))
                };
                return Err(OptionError::Unknown { backend: backend.into(), key: key.clone(), known });
            };
            spec.check(value).map_err(|e| OptionError::BadValue {
                key: key.clone(),
                value: value.clone(),
                why: e.expected,
            })?;
            if out.insert(key.clone(), value.clone()).is_some() {
                return Err(OptionError::Repeated { key: key.clone() });
            }
        }
        for s in specs {
            if !out.contains_key(s.key) {
                let Some(d) = s.default else {
                    return Err(OptionError::Missing {
                        backend: backend.into(),
                        key: s.key.into(),
                        help: s.help.into(),
                    });
                };
                out.insert(s.key.to_string(), d.to_string());
            }
        }
        Ok(BackendOptions(out))
    }

    /// The value of option `key`: as resolved, or (for options that were never resolved, such
    /// as a deployment made without the driver) its default among `specs`.
    pub fn get<'a>(&'a self, specs: &'a [OptionSpec], key: &str) -> Option<&'a str> {
        self.0.get(key).map(String::as_str).or_else(|| specs.iter().find(|s| s.key == key)?.default)
    }

    /// Whether option `spec` is `value` ([`Self::get`]).
    pub fn is(&self, specs: &[OptionSpec], spec: &OptionSpec, value: &str) -> bool {
        self.get(specs, spec.key) == Some(value)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// `k=v, k=v`, or `none`.
    pub fn describe(&self) -> String {
        if self.0.is_empty() {
            return "none".into();
        }
        self.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn even(v: &str) -> Result<(), Invalid> {
        match v.parse::<u32>() {
            Ok(n) if n % 2 == 0 => Ok(()),
            _ => Err(Invalid::expected("an even number")),
        }
    }

    const SPECS: &[OptionSpec] = &[
        OptionSpec { key: "mode", help: "how", default: Some("a"), values: Values::OneOf(&["a", "b"]) },
        OptionSpec { key: "n", help: "how many", default: None, values: Values::Check(even) },
    ];

    fn given(pairs: &[&str]) -> Vec<(String, String)> {
        pairs.iter().map(|p| parse_assignment(p).unwrap()).collect()
    }

    #[test]
    fn defaults_fill_in_and_values_are_checked() {
        let o = BackendOptions::resolve("x", SPECS, &given(&["n=4"])).unwrap();
        assert_eq!(o.describe(), "mode=a, n=4");
        let o = BackendOptions::resolve("x", SPECS, &given(&["mode=b", "n=2"])).unwrap();
        assert_eq!(o.get(SPECS, "mode"), Some("b"));
        assert_eq!(BackendOptions::default().get(SPECS, "mode"), Some("a"), "the default when unresolved");
        assert_eq!(BackendOptions::default().get(SPECS, "n"), None);
        assert!(o.is(SPECS, &SPECS[0], "b") && !o.is(SPECS, &SPECS[0], "a"));
        assert!(BackendOptions::default().is(SPECS, &SPECS[0], "a"), "the default when unresolved");
        assert!(!BackendOptions::default().is(SPECS, &SPECS[1], "2"));
        let e = BackendOptions::resolve("x", SPECS, &given(&["mode=c", "n=2"])).unwrap_err();
        assert_eq!(e.to_string(), "--backend-opt mode=c: use a or b");
        let e = BackendOptions::resolve("x", SPECS, &given(&["n=3"])).unwrap_err();
        assert_eq!(e.to_string(), "--backend-opt n=3: an even number");
    }

    #[test]
    fn unknown_missing_repeated_and_malformed_are_errors() {
        let e = BackendOptions::resolve("x", SPECS, &given(&["n=2", "colour=red"])).unwrap_err();
        assert_eq!(e.to_string(), "backend x has no option \"colour\"; its options: mode, n");
        let e = BackendOptions::resolve("y", &[], &given(&["a=b"])).unwrap_err();
        assert_eq!(e.to_string(), "backend y has no option \"a\"; it takes none");
        let e = BackendOptions::resolve("x", SPECS, &[]).unwrap_err();
        assert_eq!(e, OptionError::Missing { backend: "x".into(), key: "n".into(), help: "how many".into() });
        let e = BackendOptions::resolve("x", SPECS, &given(&["n=2", "n=4"])).unwrap_err();
        assert_eq!(e, OptionError::Repeated { key: "n".into() });
        assert_eq!(parse_assignment("novalue"), Err(OptionError::Malformed("novalue".into())));
        assert_eq!(parse_assignment("=x"), Err(OptionError::Malformed("=x".into())));
        assert_eq!(parse_assignment(" k = v=w "), Ok(("k".into(), "v=w".into())));
        assert_eq!(BackendOptions::default().describe(), "none");
    }
}
