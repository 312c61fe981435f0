//! The one workload model every spright-bench backend executes.
//!
//! A **chain** (one TOML file in `workloads/chains/`) names its **functions** and its **routes**.
//! A route is either a **pipeline** (the message visits functions in order, then the reply goes
//! to the client) or a **call tree** (a caller calls its callees one after another and continues
//! with their results; nesting is arbitrary, e.g. Online Boutique's frontend -> checkout -> six
//! services). The topology is data, not code: it is validated when the spec is loaded (unknown
//! functions, cycles, bad weights) and every backend walks it with the same step machine,
//! [`Route::next`], so a backend only decides *how* a message moves, never *where*.
//!
//! Function logic ([`handler`]) is written once against a plain-data request [`State`] and a
//! body buffer. The state is `#[repr(C)]` and [`bytemuck::Pod`], so the shared-memory backends
//! use it in place inside a pool slot, while the HTTP/gRPC backends encode it (protobuf) at every
//! hop. [`reference::execute`] runs a route in-process and is the oracle every backend's
//! responses are compared against, byte for byte.
//!
//! Glossary (used consistently across the workspace):
//! - *chain*: a set of functions plus the routes through them, one spec file.
//! - *route*: one request type; selected by the client with the URL path `/<route name>`.
//! - *node*: one position in a route (a function may appear in several routes).
//! - *hop*: one transfer of a request between two components (gateway -> function, function ->
//!   function, function -> gateway).
//! - *visit*: a function running its handler for a request (on entry, or when a callee returns).
//! - *descriptor*, *pool*: the shared-memory backends' reference to a request and its storage.
//! - *cold start*: a request that had to wait for a function instance to be started.
//! - *keep warm*: keeping instances running with no load so no request pays a cold start.

pub mod boutique;
pub mod chain;
pub mod handler;
pub mod load;
pub mod reference;
pub mod rng;
pub mod serving;
pub mod spec;
pub mod state;
pub mod trace;
pub mod users;

pub use chain::{Chain, FnId, Function, HttpPattern, Node, Resolved, Route, RouteKind, Segment, Step};
pub use handler::{visit, Body, BodyFull, Call, Handler};
pub use load::{Arrival, LoadError, LoadField, LoadOverrides, LoadProfile, Mix, Pattern};
pub use serving::Serving;
pub use spec::{load_chain, load_chain_compressed, load_chain_full, load_staged_chain, parse_chain, SpecError};
pub use state::{render_reply, Reply, State};
