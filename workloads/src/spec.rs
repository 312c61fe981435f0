//! Chain spec files (TOML): parsing and validation into a [`Chain`].
//!
//! Every problem is reported as a [`SpecError`] that names the file, the field (with its
//! position, e.g. `routes[2] "checkout".tree.calls[1]`) and what is wrong. Nothing here panics
//! on bad input.
//!
//! ```toml
//! name = "synthetic-2"
//! [[functions]]
//! id = 1
//! name = "first"
//! handler = "synthetic"
//! workers = 1
//! params = { work_ns = 2000 }
//! [[routes]]
//! name = "pipe"
//! kind = "pipeline"          # or "call-tree" with tree = { fn = "...", calls = [...] }
//! functions = ["first", "second"]
//! weight = 1
//! payload_bytes = 64
//! [load]
//! pattern = "open"           # open | closed | burst
//! arrival = "poisson"        # constant | poisson
//! rate = 500
//! ```

use crate::boutique::model::SHOP_BYTES;
use crate::boutique::{Catalog, Service};
use crate::chain::{Chain, FnId, Function, Node, Route, RouteKind, MAX_DEPTH, MAX_NODES};
use crate::chain::{HttpPattern, Segment};
use crate::handler::{HandlerSpec, SyntheticParams};
use crate::load::{LoadOverrides, LoadProfile};
use crate::serving::{parse_duration, RawServing, DEFAULT_GRACE, DEFAULT_STABLE_WINDOW};
use crate::users::{RequestTemplate, Task, Users};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("{}: cannot read chain spec: {source}", file.display())]
    Read { file: PathBuf, source: std::io::Error },
    #[error("{}: {message}", file.display())]
    Syntax { file: PathBuf, message: String },
    #[error("{}: {field}: {problem}", file.display())]
    Invalid { file: PathBuf, field: String, problem: String },
}

impl SpecError {
    /// The offending field, for `Invalid` errors.
    pub fn field(&self) -> Option<&str> {
        match self {
            SpecError::Invalid { field, .. } => Some(field),
            _ => None,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChain {
    name: String,
    #[serde(default)]
    description: String,
    max_body_bytes: Option<u64>,
    pool_slots: Option<i64>,
    gateway_timeout_ms: Option<i64>,
    #[serde(default)]
    functions: Vec<RawFunction>,
    #[serde(default)]
    routes: Vec<RawRoute>,
    #[serde(default)]
    load: RawLoad,
    #[serde(default)]
    knative: RawServing,
    /// Application data for the handlers that read it (Online Boutique's catalog).
    data: Option<toml::Value>,
    /// Time compression of a paper experiment written at full length (see [`load_chain_full`]).
    compress: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFunction {
    id: i64,
    name: String,
    handler: String,
    #[serde(default = "one")]
    workers: i64,
    #[serde(default)]
    params: BTreeMap<String, toml::Value>,
    #[serde(default)]
    knative: RawServing,
}

fn one() -> i64 {
    1
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    name: String,
    kind: String,
    functions: Option<Vec<String>>,
    tree: Option<RawTreeNode>,
    #[serde(default = "weight_one")]
    weight: f64,
    #[serde(default)]
    payload_bytes: i64,
    /// A file whose bytes are the body (relative to the spec), instead of `payload_bytes`.
    payload_file: Option<String>,
    /// `"GET /product/{id}"`: the method and path pattern that select the route.
    http: Option<String>,
}

fn weight_one() -> f64 {
    1.0
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTreeNode {
    #[serde(rename = "fn")]
    func: Option<String>,
    method: Option<String>,
    /// Marks a repeat group (no `fn`): its `calls` run as often as the caller's handler says;
    /// the value says what is counted (e.g. "cart item").
    repeat: Option<String>,
    #[serde(default)]
    calls: Vec<RawTreeNode>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLoad {
    pattern: Option<String>,
    arrival: Option<String>,
    rate: Option<f64>,
    users: Option<i64>,
    think_min_ms: Option<i64>,
    think_max_ms: Option<i64>,
    burst_size: Option<i64>,
    burst_every_s: Option<f64>,
    duration_s: Option<f64>,
    warmup_s: Option<f64>,
    connections: Option<i64>,
    timeout_ms: Option<i64>,
    seed: Option<i64>,
    /// Trace file (relative to the spec's directory), its unit and speed.
    trace: Option<String>,
    trace_unit: Option<String>,
    time_scale: Option<f64>,
    /// What each user does: Locust-style tasks (`[load.user]`).
    user: Option<RawUser>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUser {
    start: Option<String>,
    pool: Option<i64>,
    spawn_rate: Option<f64>,
    #[serde(default)]
    vars: BTreeMap<String, Vec<String>>,
    tasks: Vec<RawTask>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTask {
    name: String,
    #[serde(default = "weight_one")]
    weight: f64,
    requests: Vec<RawRequest>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRequest {
    route: String,
    param: Option<String>,
    #[serde(default)]
    body: String,
}

/// Default largest body: the paper's 64 KiB request/response bodies.
pub const DEFAULT_MAX_BODY: u64 = 64 * 1024;

/// Read and validate a chain spec file. A spec that declares `compress = F` (a paper experiment
/// written at its full length) has every time of the run multiplied by `F`: the load's duration
/// and warm-up, burst spacing, trace times, and Knative's grace period and stable window.
pub fn load_chain(path: &Path) -> Result<Chain, SpecError> {
    load(path, None)
}

/// [`load_chain`], ignoring `compress`: the experiment at the length the spec writes (`--full`).
pub fn load_chain_full(path: &Path) -> Result<Chain, SpecError> {
    load(path, Some(1.0))
}

/// [`load_chain`] with `factor` in place of the spec's `compress` (a chain without one is
/// loaded as written): `make reproduce --quick` runs the paper's experiments shorter still.
pub fn load_chain_compressed(path: &Path, factor: f64) -> Result<Chain, SpecError> {
    load(path, Some(factor))
}

/// [`load_chain`] in a component process, from the copy of the spec the driver staged
/// (`dataplane_api::stage_chain`): a relative `payload_file` does not resolve from there, and
/// components never send request bodies, so payload files are not read (those routes get an
/// empty payload).
pub fn load_staged_chain(path: &Path) -> Result<Chain, SpecError> {
    let text = std::fs::read_to_string(path).map_err(|source| SpecError::Read { file: path.to_path_buf(), source })?;
    parse(&text, path, None, false)
}

fn load(path: &Path, compress: Option<f64>) -> Result<Chain, SpecError> {
    let text = std::fs::read_to_string(path).map_err(|source| SpecError::Read { file: path.to_path_buf(), source })?;
    let abs = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    parse(&text, &abs, compress, true)
}

/// Validate spec text; `file` is used in error messages and recorded as the chain's source.
pub fn parse_chain(text: &str, file: &Path) -> Result<Chain, SpecError> {
    parse(text, file, None, true)
}

fn parse(text: &str, file: &Path, compress: Option<f64>, payloads: bool) -> Result<Chain, SpecError> {
    let raw: RawChain = toml::from_str(text)
        .map_err(|e| SpecError::Syntax { file: file.to_path_buf(), message: e.to_string().trim_end().to_string() })?;
    let v = Validator { file, compress, payloads };
    v.chain(raw, text)
}

struct Validator<'a> {
    file: &'a Path,
    /// In place of the spec's `compress`, where it has one (1: its full length).
    compress: Option<f64>,
    /// Read the routes' `payload_file`s.
    payloads: bool,
}

fn url_safe(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Validator<'_> {
    fn err<T>(&self, field: impl Into<String>, problem: impl Into<String>) -> Result<T, SpecError> {
        Err(SpecError::Invalid { file: self.file.to_path_buf(), field: field.into(), problem: problem.into() })
    }

    fn chain(&self, mut raw: RawChain, text: &str) -> Result<Chain, SpecError> {
        if !url_safe(&raw.name) {
            return self.err("name", format!("{:?} must be 1-64 characters of [A-Za-z0-9_-]", raw.name));
        }
        let max_body = raw.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY);
        if max_body == 0 || max_body > 64 << 20 {
            return self.err("max_body_bytes", format!("{max_body} must be between 1 and 64 MiB"));
        }
        let pool_slots = raw.pool_slots.unwrap_or(512);
        if !(1..=65_536).contains(&pool_slots) {
            return self.err("pool_slots", format!("{pool_slots} must be between 1 and 65536"));
        }
        let gateway_timeout_ms = raw.gateway_timeout_ms.unwrap_or(10_000);
        if gateway_timeout_ms <= 0 {
            return self.err("gateway_timeout_ms", format!("{gateway_timeout_ms} must be > 0"));
        }
        if raw.functions.is_empty() {
            return self.err("functions", "a chain needs at least one function ([[functions]])");
        }
        let scale_to_zero_grace = match &raw.knative.scale_to_zero_grace_period {
            None => DEFAULT_GRACE,
            Some(s) => parse_duration(s).or_else(|e| self.err("knative.scale-to-zero-grace-period", e.to_string()))?,
        };
        // Knative takes 6 s to 1 h; windows down to a second are allowed for tests.
        let stable_window = match &raw.knative.stable_window {
            None => DEFAULT_STABLE_WINDOW,
            Some(s) => match parse_duration(s) {
                Ok(d) if (1..=3600).contains(&d.as_secs()) && d.subsec_nanos() == 0 => d,
                Ok(_) => {
                    return self.err("knative.stable-window", format!("{s:?} must be whole seconds from 1s to 1h"))
                }
                Err(e) => return self.err("knative.stable-window", e.to_string()),
            },
        };
        let wants_data = raw.functions.iter().any(|f| f.handler.starts_with("boutique-"));
        let catalog = match (&raw.data, wants_data) {
            (Some(d), true) => {
                Some(std::sync::Arc::new(Catalog::parse(d).or_else(|(field, problem)| self.err(field, problem))?))
            }
            (None, true) => return self.err("data", "the boutique-* handlers need the shop's [data] table"),
            (Some(_), false) => return self.err("data", "no function's handler reads [data] (only boutique-* do)"),
            (None, false) => None,
        };
        if catalog.as_ref().is_some_and(|_| (SHOP_BYTES as u64) > max_body) {
            return self
                .err("max_body_bytes", format!("{max_body} cannot hold Online Boutique's state ({SHOP_BYTES})"));
        }
        let mut functions: Vec<Function> = Vec::new();
        for (i, f) in raw.functions.into_iter().enumerate() {
            let function = self.function(i, f, max_body, &raw.knative, catalog.as_ref())?;
            let at = format!("functions[{i}]");
            if functions.iter().any(|g| g.id == function.id) {
                return self.err(format!("{at}.id"), format!("id {} is used twice", function.id));
            }
            if functions.iter().any(|g| g.name == function.name) {
                return self.err(format!("{at}.name"), format!("name {:?} is used twice", function.name));
            }
            functions.push(function);
        }
        if raw.routes.is_empty() {
            return self.err("routes", "a chain needs at least one route ([[routes]])");
        }
        let mut routes: Vec<Route> = Vec::new();
        for (i, r) in raw.routes.into_iter().enumerate() {
            let route = self.route(i, r, &functions, max_body)?;
            if routes.iter().any(|q| q.name == route.name) {
                return self.err(format!("routes[{i}].name"), format!("route name {:?} is used twice", route.name));
            }
            if let Some(p) = &route.http {
                if routes.iter().any(|q| q.http.as_ref().is_some_and(|h| h.to_string() == p.to_string())) {
                    return self.err(format!("routes[{i}].http"), format!("{p} selects another route already"));
                }
            }
            routes.push(route);
        }
        if routes.iter().map(|r| r.weight).sum::<f64>() <= 0.0 {
            return self.err("routes[*].weight", "all route weights are zero: no request could be sent");
        }
        let users = match raw.load.user.take() {
            None => None,
            Some(u) => Some(self.users(u, &routes)?),
        };
        let mut load = self.load(raw.load)?;
        let time_factor = match raw.compress.map(|f| self.compress.unwrap_or(f)) {
            None => 1.0,
            Some(f) if f.is_finite() && f > 0.0 && f <= 1.0 => f,
            Some(f) => {
                return self.err("compress", format!("{f} must be in (0, 1]: the factor every time is multiplied by"))
            }
        };
        let (scale_to_zero_grace, stable_window) = if time_factor < 1.0 {
            load.duration_s *= time_factor;
            load.warmup_s *= time_factor;
            match &mut load.pattern {
                crate::Pattern::Burst { every_s, .. } => *every_s *= time_factor,
                crate::Pattern::Trace(t) => t.time_scale *= time_factor,
                crate::Pattern::Open { .. } | crate::Pattern::Closed { .. } => {}
            }
            let window = stable_window.mul_f64(time_factor);
            let whole = std::time::Duration::from_secs(window.as_secs_f64().round() as u64);
            if whole.as_secs() < 1 || (window.as_secs_f64() - whole.as_secs_f64()).abs() > 1e-6 {
                return self.err(
                    "compress",
                    format!("{time_factor} makes the stable window {window:?}: it must stay whole seconds >= 1s"),
                );
            }
            (scale_to_zero_grace.mul_f64(time_factor), whole)
        } else {
            (scale_to_zero_grace, stable_window)
        };
        Ok(Chain {
            name: raw.name,
            description: raw.description,
            functions,
            routes,
            load,
            users,
            max_body_bytes: max_body as usize,
            pool_slots: pool_slots as u32,
            gateway_timeout_ms: gateway_timeout_ms as u64,
            scale_to_zero_grace,
            stable_window,
            time_factor,
            source: self.file.to_path_buf(),
            spec_text: text.to_string(),
        })
    }

    fn function(
        &self,
        i: usize,
        f: RawFunction,
        max_body: u64,
        knative: &RawServing,
        catalog: Option<&std::sync::Arc<Catalog>>,
    ) -> Result<Function, SpecError> {
        let at = format!("functions[{i}]");
        if !(1..=(u16::MAX as i64 - 1)).contains(&f.id) {
            return self.err(format!("{at}.id"), format!("{} must be between 1 and 65534 (0 is the gateway)", f.id));
        }
        if !url_safe(&f.name) {
            return self.err(format!("{at}.name"), format!("{:?} must be 1-64 characters of [A-Za-z0-9_-]", f.name));
        }
        let at = format!("functions[{i}] {:?}", f.name);
        if !(1..=256).contains(&f.workers) {
            return self.err(format!("{at}.workers"), format!("{} must be between 1 and 256", f.workers));
        }
        let handler = match f.handler.as_str() {
            "synthetic" => {
                let p = self.synthetic_params(&at, &f.params)?;
                if p.payload_bytes > max_body {
                    return self.err(
                        format!("{at}.params.payload_bytes"),
                        format!("{} exceeds max_body_bytes ({max_body})", p.payload_bytes),
                    );
                }
                HandlerSpec::Synthetic(p)
            }
            other => match (Service::from_handler_name(other), catalog) {
                (Some(service), Some(catalog)) => {
                    if let Some(key) = f.params.keys().next() {
                        return self
                            .err(format!("{at}.params.{key}"), format!("handler {other:?} takes no parameters"));
                    }
                    HandlerSpec::Boutique(service, catalog.clone())
                }
                _ => {
                    let known: Vec<&str> =
                        std::iter::once("synthetic").chain(Service::ALL.iter().map(|s| s.handler_name())).collect();
                    return self.err(
                        format!("{at}.handler"),
                        format!("unknown handler {other:?}; known: {}", known.join(", ")),
                    );
                }
            },
        };
        if f.knative.stable_window.is_some() {
            return self.err(
                format!("{at}.knative.stable-window"),
                "is chain-wide (as in Knative's config-autoscaler): set it in the [knative] table",
            );
        }
        if f.knative.scale_to_zero_grace_period.is_some() {
            return self.err(
                format!("{at}.knative.scale-to-zero-grace-period"),
                "is chain-wide (as in Knative's config-autoscaler): set it in the [knative] table",
            );
        }
        let serving = match f.knative.over(knative).build() {
            Ok(s) => s,
            Err((knob, problem)) => return self.err(format!("{at}.knative.{knob}"), problem),
        };
        Ok(Function { id: f.id as FnId, name: f.name, handler, workers: f.workers as u16, serving })
    }

    fn synthetic_params(&self, at: &str, params: &BTreeMap<String, toml::Value>) -> Result<SyntheticParams, SpecError> {
        let mut p = SyntheticParams::default();
        for (key, value) in params {
            let field = format!("{at}.params.{key}");
            let Some(n) = value.as_integer() else {
                return self.err(field, format!("{value} must be a non-negative integer"));
            };
            if n < 0 {
                return self.err(field, format!("{n} must not be negative"));
            }
            let n = n as u64;
            match key.as_str() {
                "work_ns" => p.work_ns = n,
                "sleep_ns" => p.sleep_ns = n,
                "payload_bytes" => p.payload_bytes = n,
                _ => {
                    return self.err(
                        field,
                        format!(
                            "unknown parameter of handler \"synthetic\"; known: {}",
                            SyntheticParams::FIELDS.join(", ")
                        ),
                    )
                }
            }
        }
        Ok(p)
    }

    fn route(&self, i: usize, r: RawRoute, functions: &[Function], max_body: u64) -> Result<Route, SpecError> {
        if !url_safe(&r.name) || r.name.bytes().all(|b| b.is_ascii_digit()) {
            return self.err(
                format!("routes[{i}].name"),
                format!(
                    "{:?} must be 1-64 characters of [A-Za-z0-9_-] and not only digits (digits select a route by id)",
                    r.name
                ),
            );
        }
        let at = format!("routes[{i}] {:?}", r.name);
        let lookup = |name: &str, field: String| -> Result<&Function, SpecError> {
            match functions.iter().find(|f| f.name == name) {
                Some(f) => Ok(f),
                None => self.err(field, format!("unknown function {name:?}")),
            }
        };
        let (kind, nodes) = match (r.kind.as_str(), r.functions, r.tree) {
            ("pipeline", Some(names), None) => {
                if names.is_empty() {
                    return self.err(format!("{at}.functions"), "a pipeline needs at least one function");
                }
                let mut nodes: Vec<Node> = Vec::new();
                for (j, name) in names.iter().enumerate() {
                    let id = lookup(name, format!("{at}.functions[{j}]"))?.id;
                    if let Some(k) = nodes.iter().position(|n| n.func == id) {
                        return self.err(
                            format!("{at}.functions[{j}]"),
                            format!("route cycle: {name:?} is visited again (first at functions[{k}])"),
                        );
                    }
                    let n = names.len();
                    nodes.push(Node {
                        func: id,
                        parent: j.checked_sub(1).map(|p| p as u16),
                        children: if j + 1 < n { vec![(j + 1) as u16] } else { vec![] },
                        ..Node::default()
                    });
                }
                (RouteKind::Pipeline, nodes)
            }
            ("call-tree", None, Some(tree)) => {
                let mut nodes = Vec::new();
                let mut path = Vec::new();
                self.tree(&at, "tree", &tree, None, &mut nodes, &mut path, &lookup)?;
                let callers: std::collections::BTreeSet<Option<u16>> =
                    nodes.iter().filter(|n| n.group.is_some()).map(|n| n.parent).collect();
                if callers.len() > 1 {
                    return self.err(
                        format!("{at}.tree"),
                        "repeat groups under more than one caller: the request state has one repeat counter",
                    );
                }
                (RouteKind::CallTree, nodes)
            }
            ("pipeline", _, _) => {
                return self.err(format!("{at}.functions"), "a pipeline needs `functions = [...]` and no `tree`")
            }
            ("call-tree", _, _) => {
                return self.err(
                    format!("{at}.tree"),
                    "a call tree needs `tree = { fn = ..., calls = [...] }` and no `functions`",
                )
            }
            (other, _, _) => {
                return self.err(
                    format!("{at}.kind"),
                    format!("{other:?} is not a route kind; use \"pipeline\" or \"call-tree\""),
                )
            }
        };
        if nodes.len() > MAX_NODES {
            return self.err(at.to_string(), format!("{} nodes; at most {MAX_NODES}", nodes.len()));
        }
        if !r.weight.is_finite() || r.weight < 0.0 {
            return self.err(format!("{at}.weight"), format!("{} must be a finite number >= 0", r.weight));
        }
        if r.payload_bytes < 0 || r.payload_bytes as u64 > max_body {
            return self.err(
                format!("{at}.payload_bytes"),
                format!("{} must be between 0 and max_body_bytes ({max_body})", r.payload_bytes),
            );
        }
        let http = match &r.http {
            None => None,
            Some(p) => Some(parse_http(p).or_else(|problem| self.err(format!("{at}.http"), problem))?),
        };
        let payload = match &r.payload_file {
            None => None,
            Some(_) if r.payload_bytes != 0 => {
                return self.err(format!("{at}.payload_file"), "give payload_file or payload_bytes, not both")
            }
            Some(_) if !self.payloads => None,
            Some(f) => Some(
                self.payload_file(f, max_body).or_else(|problem| self.err(format!("{at}.payload_file"), problem))?,
            ),
        };
        let payload_bytes = payload.as_ref().map_or(r.payload_bytes as usize, |p: &std::sync::Arc<[u8]>| p.len());
        Ok(Route { id: (i + 1) as u16, name: r.name, kind, nodes, weight: r.weight, payload_bytes, payload, http })
    }

    /// The bytes of a route's `payload_file` (relative to the spec), at most `max_body` of them,
    /// checked by size before anything is read.
    fn payload_file(&self, name: &str, max_body: u64) -> Result<std::sync::Arc<[u8]>, String> {
        let path = self.file.parent().unwrap_or(Path::new(".")).join(name);
        let meta = std::fs::metadata(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        if !meta.is_file() {
            return Err(format!("{}: not a file", path.display()));
        }
        if meta.len() > max_body {
            return Err(format!("{}: {} bytes exceed max_body_bytes ({max_body})", path.display(), meta.len()));
        }
        std::fs::read(&path).map(Into::into).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Add the call tree `t` (and its callees) to `nodes`; a repeat group adds its callees to
    /// the parent's children, marked with the group's span.
    #[allow(clippy::too_many_arguments)]
    fn tree<'f>(
        &self,
        at: &str,
        field: &str,
        t: &RawTreeNode,
        parent: Option<u16>,
        nodes: &mut Vec<Node>,
        path: &mut Vec<FnId>,
        lookup: &dyn Fn(&str, String) -> Result<&'f Function, SpecError>,
    ) -> Result<u16, SpecError> {
        let Some(name) = &t.func else {
            return self.err(
                format!("{at}.{field}"),
                "names no function (`fn`); only a caller's `calls` may hold a `repeat` group",
            );
        };
        if t.repeat.is_some() {
            return self.err(format!("{at}.{field}.repeat"), "a repeat group has `calls` and no `fn`");
        }
        let f = lookup(name, format!("{at}.{field}.fn"))?;
        if path.contains(&f.id) {
            return self
                .err(format!("{at}.{field}.fn"), format!("route cycle: {name:?} calls itself through its callees"));
        }
        if path.len() >= MAX_DEPTH {
            return self.err(format!("{at}.{field}"), format!("call tree deeper than {MAX_DEPTH}"));
        }
        if nodes.len() >= MAX_NODES {
            return self.err(at.to_string(), format!("more than {MAX_NODES} nodes"));
        }
        let method = t.method.clone().unwrap_or_default();
        if let Some(methods) = f.handler.methods() {
            if !methods.contains(&method.as_str()) {
                return self.err(
                    format!("{at}.{field}.method"),
                    format!("{method:?} is not a method of {name:?}; it has: {}", methods.join(", ")),
                );
            }
        }
        let me = nodes.len() as u16;
        nodes.push(Node { func: f.id, method, parent, ..Node::default() });
        path.push(f.id);
        for (k, c) in t.calls.iter().enumerate() {
            let cf = format!("{field}.calls[{k}]");
            match &c.repeat {
                None => {
                    let child = self.tree(at, &cf, c, Some(me), nodes, path, lookup)?;
                    nodes[me as usize].children.push(child);
                }
                Some(_) => {
                    if c.func.is_some() || c.method.is_some() {
                        return self.err(format!("{at}.{cf}"), "a repeat group has `calls` only, no `fn` or `method`");
                    }
                    if c.calls.is_empty() {
                        return self.err(format!("{at}.{cf}.calls"), "a repeat group needs at least one call");
                    }
                    let first = nodes[me as usize].children.len() as u16;
                    let last = first + c.calls.len() as u16 - 1;
                    for (g, member) in c.calls.iter().enumerate() {
                        let mf = format!("{cf}.calls[{g}]");
                        if !member.calls.is_empty() || member.repeat.is_some() {
                            return self.err(
                                format!("{at}.{mf}"),
                                "a repeat group's callees call nobody (the request state has one repeat counter)",
                            );
                        }
                        let child = self.tree(at, &mf, member, Some(me), nodes, path, lookup)?;
                        nodes[child as usize].group = Some((first, last));
                        nodes[me as usize].children.push(child);
                    }
                }
            }
        }
        path.pop();
        Ok(me)
    }

    fn users(&self, u: RawUser, routes: &[Route]) -> Result<Users, SpecError> {
        let mut vars = Vec::new();
        for (name, values) in u.vars {
            if !url_safe(&name) || values.is_empty() {
                return self.err(format!("load.user.vars.{name}"), "a variable needs a [A-Za-z0-9_-] name and values");
            }
            vars.push((name, values));
        }
        if u.tasks.is_empty() {
            return self.err("load.user.tasks", "at least one task ([[load.user.tasks]])");
        }
        let mut tasks = Vec::new();
        for (i, t) in u.tasks.into_iter().enumerate() {
            let at = format!("load.user.tasks[{i}]");
            if !t.weight.is_finite() || t.weight < 0.0 {
                return self.err(format!("{at}.weight"), format!("{} must be a finite number >= 0", t.weight));
            }
            if t.requests.is_empty() {
                return self.err(format!("{at}.requests"), "a task sends at least one request");
            }
            let mut requests = Vec::new();
            for (k, r) in t.requests.into_iter().enumerate() {
                let at = format!("{at}.requests[{k}]");
                let Some(idx) = routes.iter().position(|x| x.name == r.route) else {
                    return self.err(format!("{at}.route"), format!("unknown route {:?}", r.route));
                };
                let has_param = routes[idx]
                    .http
                    .as_ref()
                    .is_some_and(|p| p.segments.iter().any(|s| matches!(s, Segment::Param(_))));
                if has_param != r.param.is_some() {
                    let why = if has_param {
                        "the route's path has a parameter: give `param`"
                    } else {
                        "the route's path has no parameter"
                    };
                    return self.err(format!("{at}.param"), why);
                }
                for text in [r.param.as_deref().unwrap_or(""), &r.body] {
                    for name in text.split('{').skip(1).filter_map(|p| p.split_once('}')).map(|(n, _)| n) {
                        if !vars.iter().any(|(v, _)| v == name) {
                            return self.err(at.clone(), format!("{{{name}}} is not a variable in load.user.vars"));
                        }
                    }
                }
                let (method, path) = crate::users::route_target(&routes[idx]);
                requests.push(RequestTemplate {
                    route: idx,
                    method,
                    path,
                    param: r.param.unwrap_or_default(),
                    body: r.body,
                });
            }
            tasks.push(Task { name: t.name, weight: t.weight, requests });
        }
        if tasks.iter().map(|t| t.weight).sum::<f64>() <= 0.0 {
            return self.err("load.user.tasks[*].weight", "all task weights are zero");
        }
        let start = match u.start {
            None => None,
            Some(s) => match tasks.iter().position(|t| t.name == s) {
                Some(i) => Some(i),
                None => return self.err("load.user.start", format!("no task named {s:?}")),
            },
        };
        let pool = u.pool.unwrap_or(1000);
        if !(1..=10_000_000).contains(&pool) {
            return self.err("load.user.pool", format!("{pool} must be between 1 and 10000000"));
        }
        let spawn_rate = u.spawn_rate.unwrap_or(0.0);
        if !spawn_rate.is_finite() || spawn_rate < 0.0 {
            return self.err("load.user.spawn_rate", format!("{spawn_rate} must be >= 0 users per second"));
        }
        Ok(Users { tasks, start, pool: pool as u32, spawn_rate, vars })
    }

    fn load(&self, l: RawLoad) -> Result<LoadProfile, SpecError> {
        let pattern_name = l.pattern.as_deref().unwrap_or("open");
        let only = |field: &str, given: bool, pattern: &str| -> Result<(), SpecError> {
            if given && pattern_name != pattern {
                return self.err(format!("load.{field}"), format!("applies only to pattern = \"{pattern}\""));
            }
            Ok(())
        };
        only("arrival", l.arrival.is_some(), "open")?;
        only("rate", l.rate.is_some(), "open")?;
        only("users", l.users.is_some(), "closed")?;
        only("think_min_ms", l.think_min_ms.is_some(), "closed")?;
        only("think_max_ms", l.think_max_ms.is_some(), "closed")?;
        only("burst_size", l.burst_size.is_some(), "burst")?;
        only("burst_every_s", l.burst_every_s.is_some(), "burst")?;
        only("trace", l.trace.is_some(), "trace")?;
        only("trace_unit", l.trace_unit.is_some(), "trace")?;
        only("time_scale", l.time_scale.is_some(), "trace")?;
        // Integers may be negative in TOML; the model's are not.
        let whole = |field: &str, v: Option<i64>| -> Result<Option<u64>, SpecError> {
            match v {
                Some(n) if n < 0 => self.err(format!("load.{field}"), format!("{n} must not be negative")),
                v => Ok(v.map(|n| n as u64)),
            }
        };
        let small = |n: Option<u64>| n.map(|n| n.min(u32::MAX as u64) as u32);
        let o = LoadOverrides {
            pattern: Some(pattern_name.to_string()),
            rate: l.rate,
            arrival: l.arrival,
            users: small(whole("users", l.users)?),
            think_min_ms: whole("think_min_ms", l.think_min_ms)?,
            think_max_ms: whole("think_max_ms", l.think_max_ms)?,
            burst_size: small(whole("burst_size", l.burst_size)?),
            burst_every_s: l.burst_every_s,
            duration_s: l.duration_s,
            warmup_s: l.warmup_s,
            connections: small(whole("connections", l.connections)?),
            timeout_ms: whole("timeout_ms", l.timeout_ms)?,
            seed: whole("seed", l.seed)?,
            trace: l.trace.map(|t| self.file.parent().unwrap_or(Path::new(".")).join(t)),
            trace_unit: l.trace_unit,
            time_scale: l.time_scale,
        };
        let mut profile = LoadProfile::default();
        o.apply(&mut profile).or_else(|e| self.err(e.field.spec_key(), format!("{} {}", e.value, e.problem)))?;
        Ok(profile)
    }
}

/// `"GET /product/{id}"` -> a pattern: a method, then `/` and segments of [A-Za-z0-9_-] or one
/// `{name}` parameter.
fn parse_http(s: &str) -> Result<HttpPattern, String> {
    const METHODS: [&str; 5] = ["GET", "POST", "PUT", "DELETE", "PATCH"];
    let Some((method, path)) = s.split_once(' ') else {
        return Err(format!("{s:?} must be \"METHOD /path\", e.g. \"GET /product/{{id}}\""));
    };
    if !METHODS.contains(&method) {
        return Err(format!("{method:?} is not one of {}", METHODS.join(", ")));
    }
    let Some(rest) = path.strip_prefix('/') else { return Err(format!("path {path:?} must start with /")) };
    let mut segments = Vec::new();
    for seg in rest.split('/').filter(|_| !rest.is_empty()) {
        match seg.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            Some(name) if url_safe(name) => segments.push(Segment::Param(name.to_string())),
            None if url_safe(seg) => segments.push(Segment::Literal(seg.to_string())),
            _ => return Err(format!("path segment {seg:?} must be [A-Za-z0-9_-]+ or {{name}}")),
        }
    }
    if segments.iter().filter(|s| matches!(s, Segment::Param(_))).count() > 1 {
        return Err("at most one {parameter} per path (the request state has one)".into());
    }
    Ok(HttpPattern { method: method.to_string(), segments })
}
