//! The services the frontend calls. Each RPC's docs name the [`Shop`] fields it reads and
//! writes; the caller fills the former in its `before_call`.

use super::data::Catalog;
use super::model::*;
use super::{money_text, reject, with_shop, Service, Shop};
use crate::handler::{Body, BodyFull, Call, Handler};
use crate::state::{fnv1a64, padded_str, set_padded, State};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Services that call nobody: currency, productcatalog, recommendation, shipping, payment,
/// email, ad.
pub struct Leaf {
    pub service: Service,
    pub catalog: Arc<Catalog>,
}

impl Handler for Leaf {
    fn on_request(&self, me: Call, state: &mut State, body: &mut dyn Body) -> Result<(), BodyFull> {
        with_shop(state, body, |state, shop| match (self.service, me.method) {
            (Service::Currency, "GetSupportedCurrencies") => supported_currencies(&self.catalog, shop),
            (Service::Currency, "Convert") => convert(&self.catalog, state, shop),
            (Service::ProductCatalog, "ListProducts") => list_products(&self.catalog, shop),
            (Service::ProductCatalog, "GetProduct") => get_product(&self.catalog, state, shop),
            (Service::Recommendation, "ListRecommendations") => recommend(&self.catalog, shop),
            (Service::Shipping, "GetQuote") => quote(shop),
            (Service::Shipping, "ShipOrder") => ship(state, shop),
            (Service::Payment, "Charge") => charge(state, shop, now_year_month()),
            (Service::Email, "SendOrderConfirmation") => send_confirmation(shop),
            (Service::Ad, "GetAds") => get_ad(&self.catalog, shop),
            _ => reject(state, shop, 500, &format!("{} has no method {:?}", self.service.handler_name(), me.method)),
        });
        Ok(())
    }

    fn on_return(&self, _: Call, _: Call, _: &mut State, _: &mut dyn Body) -> Result<(), BodyFull> {
        Ok(())
    }
}

/// GetSupportedCurrencies: writes `currencies`, `n_currencies` (sorted by code).
fn supported_currencies(catalog: &Catalog, shop: &mut Shop) {
    for (i, (c, _)) in catalog.currencies.iter().enumerate() {
        shop.currencies[i] = *c;
    }
    shop.n_currencies = catalog.currencies.len() as u32;
}

/// Convert: `money_in` to `to_currency` through EUR, into `money_out`. Exact: the result is
/// `amount * rate(to) / rate(from)` truncated to the nano (rates are per euro).
fn convert(catalog: &Catalog, state: &mut State, shop: &mut Shop) {
    let (from, to) = (shop.money_in.currency_code, shop.to_currency);
    match (catalog.rate(&from), catalog.rate(&to)) {
        (Some(rf), Some(rt)) => {
            let n = shop.money_in.total_nanos() * rt as i128 / rf as i128;
            shop.money_out = Money::from_nanos(to, n);
        }
        (None, _) => reject(state, shop, 400, &format!("unsupported currency {:?}", padded_str(&from))),
        (_, None) => reject(state, shop, 400, &format!("unsupported currency {:?}", padded_str(&to))),
    }
}

/// ListProducts: writes `products`, `n_products` (catalog order).
fn list_products(catalog: &Catalog, shop: &mut Shop) {
    shop.products[..catalog.products.len()].copy_from_slice(&catalog.products);
    shop.n_products = catalog.products.len() as u32;
}

/// GetProduct: `product_id` -> `product`; 404 for an unknown id.
fn get_product(catalog: &Catalog, state: &mut State, shop: &mut Shop) {
    match catalog.product(&shop.product_id) {
        Some(p) => shop.product = *p,
        None => {
            let id = padded_str(&shop.product_id).to_string();
            reject(state, shop, 404, &format!("no product with id {id:?}"))
        }
    }
}

/// ListRecommendations: the first products (catalog order, at most 5) whose ids are not in
/// `request_ids`; writes `recommendations`, `n_recommendations`.
fn recommend(catalog: &Catalog, shop: &mut Shop) {
    let asked = &shop.request_ids[..(shop.n_request_ids as usize).min(MAX_CART_ITEMS)];
    let mut n = 0;
    for p in catalog.products.iter().filter(|p| !asked.contains(&p.id)).take(MAX_RECOMMENDATIONS) {
        shop.recommendations[n] = p.id;
        n += 1;
    }
    shop.n_recommendations = n as u32;
}

/// GetQuote: a flat 8.99 USD for a cart with items, 0 for an empty one (`items`, `n_items` ->
/// `shipping_quote`).
fn quote(shop: &mut Shop) {
    let nanos = if shop.n_items > 0 { 8_990_000_000 } else { 0 };
    shop.shipping_quote = Money::from_nanos(*b"USD\0", nanos);
}

/// ShipOrder: `order.address` -> `result.shipping_tracking_id` = `TRK-` + FNV-1a 64 of
/// `user|street_address|zip_code` in hex.
fn ship(state: &State, shop: &mut Shop) {
    let a = &shop.order.address;
    let key = format!("{}|{}|{}", state.user(), padded_str(&a.street_address), a.zip_code);
    set_padded(&mut shop.result.shipping_tracking_id, &format!("TRK-{:016x}", fnv1a64(key.as_bytes())));
}

/// The card type by number prefix and length, as Online Boutique's card validator names them.
pub fn card_type(number: &str) -> &'static str {
    let prefix = |n: usize| number.get(..n).and_then(|p| p.parse::<u32>().ok()).unwrap_or(0);
    match number.len() {
        13 | 16 | 19 if number.starts_with('4') => "visa",
        16 if (51..=55).contains(&prefix(2)) || (2221..=2720).contains(&prefix(4)) => "mastercard",
        15 if prefix(2) == 34 || prefix(2) == 37 => "amex",
        _ => "unknown",
    }
}

/// The Luhn checksum over a string of digits.
pub fn luhn_valid(number: &str) -> bool {
    if number.len() < 12 || !number.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let sum: u32 = number
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = (b - b'0') as u32;
            if i % 2 == 1 {
                let d2 = d * 2;
                if d2 > 9 {
                    d2 - 9
                } else {
                    d2
                }
            } else {
                d
            }
        })
        .sum();
    sum % 10 == 0
}

/// Charge: `total` on `order.credit_card` -> `transaction_id` = `TXN-` + FNV-1a 64 of
/// `number|units|nanos` in hex; 402 with the reason for an invalid, unaccepted or expired card.
fn charge(state: &mut State, shop: &mut Shop, (year, month): (i32, i32)) {
    let card = shop.order.credit_card;
    let number = padded_str(&card.number).to_string();
    let last4 = &number[number.len().saturating_sub(4)..];
    if !luhn_valid(&number) {
        return reject(state, shop, 402, "credit card info is invalid");
    }
    let kind = card_type(&number);
    if kind != "visa" && kind != "mastercard" {
        return reject(
            state,
            shop,
            402,
            &format!("sorry, we cannot process {kind} credit cards; only VISA or MasterCard is accepted"),
        );
    }
    if card.expiration_year * 12 + card.expiration_month < year * 12 + month {
        let msg =
            format!("your credit card (ending {last4}) expired on {}/{}", card.expiration_month, card.expiration_year);
        return reject(state, shop, 402, &msg);
    }
    let key = format!("{number}|{}|{}", shop.total.units, shop.total.nanos);
    set_padded(&mut shop.transaction_id, &format!("TXN-{:016x}", fnv1a64(key.as_bytes())));
}

/// The current UTC year and month.
fn now_year_month() -> (i32, i32) {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    // Civil from days (Howard Hinnant's algorithm).
    let z = (secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + if month <= 2 { 1 } else { 0 };
    (year as i32, month as i32)
}

/// SendOrderConfirmation: renders the mail for `order.email` and `result` into `confirmation`
/// (sends nothing).
fn send_confirmation(shop: &mut Shop) {
    let r = &shop.result;
    let items: u32 = r.items[..r.n_items as usize].iter().map(|i| i.item.quantity).sum();
    let mail = format!(
        "To: {}; Subject: Your order {}; {} items, shipping {}, total {}; tracking {}",
        padded_str(&shop.order.email),
        padded_str(&r.order_id),
        items,
        money_text(&r.shipping_cost),
        money_text(&shop.total),
        padded_str(&r.shipping_tracking_id),
    );
    let n = mail.len().min(shop.confirmation.len());
    set_padded(&mut shop.confirmation, &mail[..n]);
}

/// GetAds: the first ad whose category is one of `product`'s first `n_context` categories, or
/// without context the first ad of the data.
fn get_ad(catalog: &Catalog, shop: &mut Shop) {
    let context = &shop.product.categories[..(shop.n_context as usize).min(3)];
    let pick = catalog.ads.iter().find(|(cat, _)| context.iter().any(|c| padded_str(c) == cat));
    shop.ad = pick.or(catalog.ads.first()).map(|(_, ad)| *ad).unwrap_or(bytemuck::Zeroable::zeroed());
}

/// The cart service: items per user, in this process's memory (one instance per chain, as
/// the paper's min-scale = max-scale = 1).
pub struct Cart {
    catalog: Arc<Catalog>,
    carts: Mutex<HashMap<String, Vec<CartItem>>>,
}

impl Cart {
    pub fn new(catalog: Arc<Catalog>) -> Self {
        Cart { catalog, carts: Mutex::new(HashMap::new()) }
    }
}

/// Most of one product a cart may hold.
pub const MAX_QUANTITY: u32 = 1_000_000;

impl Handler for Cart {
    /// GetCart: the user's cart -> `items`, `n_items`, `cart_size`. AddItem: `product_id` x
    /// `quantity` into it (409 when it would hold more than `cart_max_items` distinct
    /// products), then as GetCart. EmptyCart: clears it (and leaves `items` as they were).
    fn on_request(&self, me: Call, state: &mut State, body: &mut dyn Body) -> Result<(), BodyFull> {
        let user = state.user().to_string();
        with_shop(state, body, |state, shop| {
            let mut carts = self.carts.lock().unwrap_or_else(|e| e.into_inner());
            match me.method {
                "GetCart" => {}
                "AddItem" => {
                    let cart = carts.entry(user.clone()).or_default();
                    let distinct = cart.len();
                    match cart.iter_mut().find(|i| i.product_id == shop.product_id) {
                        Some(i) if i.quantity + shop.quantity > MAX_QUANTITY => {
                            return reject(state, shop, 409, &format!("at most {MAX_QUANTITY} of one product"))
                        }
                        Some(i) => i.quantity += shop.quantity,
                        None if distinct >= self.catalog.cart_max_items => {
                            let max = self.catalog.cart_max_items;
                            return reject(
                                state,
                                shop,
                                409,
                                &format!("the cart is full: at most {max} distinct products"),
                            );
                        }
                        None => cart.push(CartItem { product_id: shop.product_id, quantity: shop.quantity }),
                    }
                }
                "EmptyCart" => {
                    carts.remove(&user);
                    return;
                }
                m => return reject(state, shop, 500, &format!("boutique-cart has no method {m:?}")),
            }
            let items = carts.get(&user).map(|c| c.as_slice()).unwrap_or(&[]);
            shop.items[..items.len()].copy_from_slice(items);
            shop.n_items = items.len() as u32;
            shop.cart_size = items.iter().map(|i| i.quantity).sum();
        });
        Ok(())
    }

    fn on_return(&self, _: Call, _: Call, _: &mut State, _: &mut dyn Body) -> Result<(), BodyFull> {
        Ok(())
    }
}

/// PlaceOrder: `order` -> `result`, `total`, `transaction_id`. Gets the cart, prices every item
/// (GetProduct and Convert per item, the chain's repeat group), quotes and converts shipping,
/// charges the card, ships, empties the cart and sends the confirmation; a failed step (a bad
/// card) ends the order before anything is shipped or emptied.
pub struct Checkout;

impl Handler for Checkout {
    fn on_request(&self, _: Call, state: &mut State, body: &mut dyn Body) -> Result<(), BodyFull> {
        with_shop(state, body, |_, shop| shop.to_currency = shop.order.user_currency);
        Ok(())
    }

    fn on_return(&self, _: Call, callee: Call, state: &mut State, body: &mut dyn Body) -> Result<(), BodyFull> {
        with_shop(state, body, |state, shop| match (callee.method, callee.iter) {
            ("GetCart", _) if shop.n_items == 0 => reject(state, shop, 400, "the cart is empty"),
            ("GetCart", _) => state.fanout = shop.n_items as u16,
            ("GetProduct", Some(i)) => shop.products[i as usize] = shop.product,
            ("Convert", Some(i)) => shop.prices[i as usize] = shop.money_out,
            ("Convert", None) => shop.shipping_cost = shop.money_out,
            _ => {}
        });
        Ok(())
    }

    fn before_call(&self, _: Call, callee: Call, state: &mut State, body: &mut dyn Body) -> Result<(), BodyFull> {
        with_shop(state, body, |state, shop| match (callee.method, callee.iter) {
            ("GetProduct", Some(i)) => shop.product_id = shop.items[i as usize].product_id,
            ("Convert", Some(i)) => {
                shop.money_in = shop.products[i as usize].price_usd;
                shop.to_currency = shop.order.user_currency;
            }
            ("Convert", None) => {
                shop.money_in = shop.shipping_quote;
                shop.to_currency = shop.order.user_currency;
            }
            ("Charge", _) => shop.total = order_total(shop),
            ("SendOrderConfirmation", _) => fill_result(state, shop),
            _ => {}
        });
        Ok(())
    }
}

/// Shipping plus every item's converted price times its quantity, in the user's currency.
pub(crate) fn order_total(shop: &Shop) -> Money {
    let n = shop.n_items as usize;
    let items: i128 = (0..n).map(|i| shop.prices[i].total_nanos() * shop.items[i].quantity as i128).sum::<i128>();
    Money::from_nanos(shop.shipping_cost.currency_code, shop.shipping_cost.total_nanos() + items)
}

/// The order result: `ORD-` + FNV-1a 64 of `user|tracking id|transaction id` in hex, the
/// shipping cost and address, and every item with its converted unit price.
fn fill_result(state: &State, shop: &mut Shop) {
    let key = format!(
        "{}|{}|{}",
        state.user(),
        padded_str(&shop.result.shipping_tracking_id),
        padded_str(&shop.transaction_id)
    );
    set_padded(&mut shop.result.order_id, &format!("ORD-{:016x}", fnv1a64(key.as_bytes())));
    shop.result.shipping_cost = shop.shipping_cost;
    shop.result.shipping_address = shop.order.address;
    let n = shop.n_items as usize;
    for i in 0..n {
        shop.result.items[i] = OrderItem { item: shop.items[i], cost: shop.prices[i] };
    }
    shop.result.n_items = n as u32;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_and_card_types() {
        // Test numbers published by card networks.
        assert!(luhn_valid("4432801561520454"));
        assert!(luhn_valid("5555555555554444"));
        assert!(!luhn_valid("4432801561520455"));
        assert_eq!(card_type("4432801561520454"), "visa");
        assert_eq!(card_type("5555555555554444"), "mastercard");
        assert_eq!(card_type("2221000000000009"), "mastercard");
        assert_eq!(card_type("378282246310005"), "amex");
        assert_eq!(card_type("6011111111111117"), "unknown");
    }

    #[test]
    fn the_date_is_plausible() {
        let (y, m) = now_year_month();
        assert!((2024..2200).contains(&y) && (1..=12).contains(&m), "{y}-{m}");
    }
}
