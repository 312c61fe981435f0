//! Online Boutique (Google's microservices demo) as ten chain functions with real logic.
//!
//! Every backend runs these handlers unchanged: the frontend parses the client's request, calls
//! the other services as the chain spec's call trees say (`workloads/chains/online-boutique.toml`),
//! and renders a small JSON page from what the calls returned, so a wrong result anywhere
//! changes the reply. What each service computes follows Online Boutique and the SPRIGHT
//! artifact (see `../shared/reference/WORKLOADS.md`): currency converts through EUR with fixed
//! rates, the catalog holds the spec's products, the cart keeps items per user in its own
//! memory, payment checks the card (Luhn, type, expiry), and so on. Deliberate differences, all
//! for replies that can be checked byte for byte: money is exact integer arithmetic (truncated
//! to the nano) rather than floating point, ids (order, tracking, transaction) are hashes of
//! the order rather than random UUIDs, recommendations and ads are the first matches in
//! catalog order rather than random picks, and the user's currency is kept by the frontend per
//! user rather than in a browser cookie.
//!
//! How a call works: the caller's `before_call` writes the arguments into the request's [`Shop`]
//! (the body), the callee reads them and writes its result there, and the caller's `on_return`
//! copies the result where it needs it. A service that rejects a request sets the HTTP status
//! and a reason ([`reject`]); the step machine then unwinds without further calls.

pub mod data;
pub mod form;
mod frontend;
pub mod golden;
pub mod model;
mod services;

pub use data::Catalog;
pub use model::Shop;

use crate::handler::{Body, BodyFull, Handler};
use crate::state::{set_padded, State};
use model::{SHOP_BYTES, SHOP_MAGIC};
use std::sync::Arc;

/// The ten services. Function ids follow the paper (frontend 1 ... ad 10) in the shipped spec,
/// but the spec may number them as it likes: a function is a service by its handler name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Frontend,
    Currency,
    ProductCatalog,
    Cart,
    Recommendation,
    Shipping,
    Checkout,
    Payment,
    Email,
    Ad,
}

impl Service {
    pub const ALL: [Service; 10] = [
        Service::Frontend,
        Service::Currency,
        Service::ProductCatalog,
        Service::Cart,
        Service::Recommendation,
        Service::Shipping,
        Service::Checkout,
        Service::Payment,
        Service::Email,
        Service::Ad,
    ];

    /// The handler name in a chain spec.
    pub fn handler_name(self) -> &'static str {
        match self {
            Service::Frontend => "boutique-frontend",
            Service::Currency => "boutique-currency",
            Service::ProductCatalog => "boutique-productcatalog",
            Service::Cart => "boutique-cart",
            Service::Recommendation => "boutique-recommendation",
            Service::Shipping => "boutique-shipping",
            Service::Checkout => "boutique-checkout",
            Service::Payment => "boutique-payment",
            Service::Email => "boutique-email",
            Service::Ad => "boutique-ad",
        }
    }

    pub fn from_handler_name(name: &str) -> Option<Service> {
        Service::ALL.into_iter().find(|s| s.handler_name() == name)
    }

    /// The RPCs a call-tree node may name for this service, by Online Boutique's names (the
    /// frontend's are its pages).
    pub fn methods(self) -> &'static [&'static str] {
        match self {
            Service::Frontend => &["home", "set-currency", "product", "add-to-cart", "cart", "checkout"],
            Service::Currency => &["GetSupportedCurrencies", "Convert"],
            Service::ProductCatalog => &["ListProducts", "GetProduct"],
            Service::Cart => &["GetCart", "AddItem", "EmptyCart"],
            Service::Recommendation => &["ListRecommendations"],
            Service::Shipping => &["GetQuote", "ShipOrder"],
            Service::Checkout => &["PlaceOrder"],
            Service::Payment => &["Charge"],
            Service::Email => &["SendOrderConfirmation"],
            Service::Ad => &["GetAds"],
        }
    }
}

pub(crate) fn handler(service: Service, catalog: Arc<Catalog>) -> Box<dyn Handler> {
    match service {
        Service::Frontend => Box::new(frontend::Frontend::new(catalog)),
        Service::Cart => Box::new(services::Cart::new(catalog)),
        Service::Checkout => Box::new(services::Checkout),
        s => Box::new(services::Leaf { service: s, catalog }),
    }
}

/// End the request with HTTP `status` and `reason` (the frontend renders it for the client).
pub(crate) fn reject(state: &mut State, shop: &mut Shop, status: u16, reason: &str) {
    state.status = status;
    let mut r = reason.to_string();
    r.truncate(shop.error.len());
    set_padded(&mut shop.error, &r);
}

/// Run `f` on the request's [`Shop`]: in place when the body is suitably aligned (always, in a
/// pool slot), else on a copy written back after. A body that is not a shop (a request that
/// reached a service without the frontend) fails the request with a 500.
pub(crate) fn with_shop<R: Default>(
    state: &mut State,
    body: &mut dyn Body,
    f: impl FnOnce(&mut State, &mut Shop) -> R,
) -> R {
    let bytes = body.bytes_mut();
    if bytes.len() != SHOP_BYTES {
        state.status = 500;
        return R::default();
    }
    if let Ok(shop) = bytemuck::try_from_bytes_mut::<Shop>(bytes) {
        if shop.magic != SHOP_MAGIC {
            state.status = 500;
            return R::default();
        }
        return f(state, shop);
    }
    let mut shop: Shop = bytemuck::pod_read_unaligned(bytes);
    if shop.magic != SHOP_MAGIC {
        state.status = 500;
        return R::default();
    }
    let r = f(state, &mut shop);
    bytes.copy_from_slice(bytemuck::bytes_of(&shop));
    r
}

/// Make the body a fresh, zeroed [`Shop`] (the frontend, on entry).
pub(crate) fn new_shop(body: &mut dyn Body) -> Result<(), BodyFull> {
    body.resize(0)?;
    body.resize(SHOP_BYTES)?;
    let mut shop: Shop = bytemuck::Zeroable::zeroed();
    shop.magic = SHOP_MAGIC;
    body.bytes_mut().copy_from_slice(bytemuck::bytes_of(&shop));
    Ok(())
}

/// Money as `CODE units.nanos` (nine digits), for mails.
pub(crate) fn money_text(m: &model::Money) -> String {
    format!("{} {}.{:09}", m.code(), m.units, m.nanos)
}

/// A minimal JSON writer: the pages are small and their format is a contract (golden replies
/// are written by an independent script), so every byte is explicit here. Strings are printable
/// ASCII (data and form input are checked); `"` and `\` are escaped.
pub(crate) struct Json(String);

impl Json {
    pub fn new() -> Self {
        Json(String::with_capacity(1024))
    }
    pub fn raw(&mut self, s: &str) -> &mut Self {
        self.0.push_str(s);
        self
    }
    pub fn str(&mut self, s: &str) -> &mut Self {
        self.0.push('"');
        for c in s.chars() {
            match c {
                '"' => self.0.push_str("\\\""),
                '\\' => self.0.push_str("\\\\"),
                c => self.0.push(c),
            }
        }
        self.0.push('"');
        self
    }
    /// `"key":` (after a comma unless the key opens an object).
    pub fn key(&mut self, k: &str) -> &mut Self {
        if !self.0.ends_with('{') && !self.0.is_empty() {
            self.0.push(',');
        }
        self.str(k).raw(":")
    }
    pub fn num(&mut self, n: impl std::fmt::Display) -> &mut Self {
        self.raw(&n.to_string())
    }
    pub fn money(&mut self, m: &model::Money) -> &mut Self {
        self.raw("{").key("currency_code").str(m.code()).key("units").num(m.units).key("nanos").num(m.nanos).raw("}")
    }
    pub fn strs<'a>(&mut self, items: impl IntoIterator<Item = &'a str>) -> &mut Self {
        self.raw("[");
        for (i, s) in items.into_iter().enumerate() {
            if i > 0 {
                self.raw(",");
            }
            self.str(s);
        }
        self.raw("]")
    }
    pub fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.0).into_bytes()
    }
}
