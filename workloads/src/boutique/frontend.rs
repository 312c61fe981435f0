//! The frontend: parses the client's request, drives the page's calls (the chain spec lists
//! them; this prepares their arguments and collects their results) and renders the page.
//!
//! Pages are the node methods of the frontend: `home`, `set-currency`, `product`, `add-to-cart`,
//! `cart`, `checkout`. The user's currency is kept here per user (Online Boutique keeps it in a
//! browser cookie), starting as USD.

use super::data::{code, prod_id, Catalog};
use super::services::order_total;
use super::{form, new_shop, reject, with_shop, Json, Shop};
use crate::handler::{Body, BodyFull, Call, Handler};
use crate::state::{padded_str, set_padded, State};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub struct Frontend {
    catalog: Arc<Catalog>,
    currencies: Mutex<HashMap<String, [u8; 4]>>,
}

/// Most of one product a client may add at once.
pub const MAX_ADD_QUANTITY: u32 = 1000;

impl Frontend {
    pub fn new(catalog: Arc<Catalog>) -> Self {
        Frontend { catalog, currencies: Mutex::new(HashMap::new()) }
    }

    fn currency_of(&self, user: &str) -> [u8; 4] {
        let map = self.currencies.lock().unwrap_or_else(|e| e.into_inner());
        map.get(user).copied().unwrap_or(*b"USD\0")
    }

    /// Parse what the page's request carries into the shop; false if it was rejected.
    fn parse(&self, page: &str, state: &mut State, shop: &mut Shop, form: &[(String, String)]) {
        match page {
            "set-currency" => match form::get(form, "currency_code").and_then(code) {
                Some(c) if self.catalog.rate(&c).is_some() => {
                    shop.currency = c;
                    let mut map = self.currencies.lock().unwrap_or_else(|e| e.into_inner());
                    map.insert(state.user().to_string(), c);
                }
                _ => {
                    let given = form::get(form, "currency_code").unwrap_or("").to_string();
                    reject(state, shop, 400, &format!("unsupported currency_code {given:?}"))
                }
            },
            "product" => shop.product_id = prod_id(state.param()),
            "add-to-cart" => {
                let q = form::get(form, "quantity").and_then(|q| q.parse::<u32>().ok());
                match (form::get(form, "product_id"), q) {
                    (None, _) => reject(state, shop, 400, "missing product_id"),
                    (_, Some(q)) if (1..=MAX_ADD_QUANTITY).contains(&q) => {
                        shop.product_id = prod_id(form::get(form, "product_id").unwrap_or(""));
                        shop.quantity = q;
                    }
                    _ => {
                        let given = form::get(form, "quantity").unwrap_or("").to_string();
                        reject(
                            state,
                            shop,
                            400,
                            &format!("quantity {given:?} must be a whole number from 1 to {MAX_ADD_QUANTITY}"),
                        )
                    }
                }
            }
            "checkout" => {
                if let Err(field) = parse_order(state, shop, form) {
                    reject(state, shop, 400, &format!("missing or malformed {field}"));
                }
            }
            _ => {}
        }
    }
}

/// Fill `shop.order` from the checkout form; the field that is missing or does not fit.
fn parse_order(state: &State, shop: &mut Shop, form: &[(String, String)]) -> Result<(), &'static str> {
    let text = |field: &'static str, dst: &mut [u8]| -> Result<(), &'static str> {
        match form::get(form, field) {
            Some(v) if !v.is_empty() && set_padded(dst, v) => Ok(()),
            _ => Err(field),
        }
    };
    let int = |field: &'static str, range: std::ops::RangeInclusive<i32>| -> Result<i32, &'static str> {
        form::get(form, field).and_then(|v| v.parse::<i32>().ok()).filter(|v| range.contains(v)).ok_or(field)
    };
    let o = &mut shop.order;
    set_padded(&mut o.user_id, state.user());
    o.user_currency = shop.currency;
    text("email", &mut o.email)?;
    text("street_address", &mut o.address.street_address)?;
    text("city", &mut o.address.city)?;
    text("state", &mut o.address.state)?;
    text("country", &mut o.address.country)?;
    o.address.zip_code = int("zip_code", 0..=99_999_999)?;
    let number = form::get(form, "credit_card_number").filter(|n| n.bytes().all(|b| b.is_ascii_digit()));
    match number {
        Some(n) if !n.is_empty() && set_padded(&mut o.credit_card.number, n) => {}
        _ => return Err("credit_card_number"),
    }
    o.credit_card.expiration_month = int("credit_card_expiration_month", 1..=12)?;
    o.credit_card.expiration_year = int("credit_card_expiration_year", 1970..=9999)?;
    o.credit_card.cvv = int("credit_card_cvv", 0..=9999)?;
    Ok(())
}

impl Handler for Frontend {
    fn on_request(&self, me: Call, state: &mut State, body: &mut dyn Body) -> Result<(), BodyFull> {
        let parsed = form::parse(body.bytes());
        new_shop(body)?;
        let currency = self.currency_of(state.user());
        with_shop(state, body, |state, shop| {
            shop.currency = currency;
            shop.to_currency = currency;
            if state.user().is_empty() {
                return reject(
                    state,
                    shop,
                    400,
                    "missing user identity: send an x-user header or a shop_session-id cookie",
                );
            }
            match parsed {
                Some(form) => self.parse(me.method, state, shop, &form),
                None => reject(state, shop, 400, "malformed form body (application/x-www-form-urlencoded)"),
            }
        });
        Ok(())
    }

    fn on_return(&self, me: Call, callee: Call, state: &mut State, body: &mut dyn Body) -> Result<(), BodyFull> {
        with_shop(state, body, |state, shop| match (callee.method, callee.iter) {
            ("ListProducts", _) => state.fanout = shop.n_products as u16,
            ("GetCart", _) if me.method == "cart" => state.fanout = shop.n_items as u16,
            ("GetProduct", Some(i)) => shop.products[i as usize] = shop.product,
            ("Convert", Some(i)) => shop.prices[i as usize] = shop.money_out,
            ("Convert", None) if me.method == "cart" => shop.shipping_cost = shop.money_out,
            ("Convert", None) => shop.prices[0] = shop.money_out,
            _ => {}
        });
        Ok(())
    }

    fn before_call(&self, me: Call, callee: Call, state: &mut State, body: &mut dyn Body) -> Result<(), BodyFull> {
        with_shop(state, body, |_, shop| match (callee.method, callee.iter) {
            ("GetProduct", Some(i)) => shop.product_id = shop.items[i as usize].product_id,
            ("Convert", Some(i)) => shop.money_in = shop.products[i as usize].price_usd,
            ("Convert", None) if me.method == "cart" => shop.money_in = shop.shipping_quote,
            ("Convert", None) => shop.money_in = shop.product.price_usd,
            ("ListRecommendations", _) => {
                let ids: Vec<[u8; 12]> = match me.method {
                    "product" => vec![shop.product.id],
                    "cart" => shop.items[..shop.n_items as usize].iter().map(|i| i.product_id).collect(),
                    _ => Vec::new(),
                };
                shop.request_ids[..ids.len()].copy_from_slice(&ids);
                shop.n_request_ids = ids.len() as u32;
            }
            ("GetAds", _) if me.method == "product" => {
                shop.n_context = shop.product.categories.iter().filter(|c| c[0] != 0).count() as u32
            }
            ("GetAds", _) => shop.n_context = 0,
            _ => {}
        });
        Ok(())
    }

    fn before_reply(&self, me: Call, state: &mut State, body: &mut dyn Body) -> Result<(), BodyFull> {
        let page = with_shop(state, body, |state, shop| {
            if state.status != 0 {
                let mut j = Json::new();
                return j
                    .raw("{")
                    .key("error")
                    .str(padded_str(&shop.error))
                    .key("status")
                    .num(state.status)
                    .raw("}")
                    .finish();
            }
            render(me.method, state, shop)
        });
        if !page.is_empty() {
            body.resize(0)?;
            body.resize(page.len())?;
            body.bytes_mut().copy_from_slice(&page);
        }
        Ok(())
    }
}

fn head(j: &mut Json, page: &str, state: &State, shop: &Shop) {
    j.raw("{").key("page").str(page).key("user").str(state.user()).key("currency").str(padded_str(&shop.currency));
}

fn currencies(j: &mut Json, shop: &Shop) {
    j.key("currencies").strs(shop.currencies[..shop.n_currencies as usize].iter().map(|c| padded_str(c)));
}

fn recommendations(j: &mut Json, shop: &Shop) {
    j.key("recommendations")
        .strs(shop.recommendations[..shop.n_recommendations as usize].iter().map(|c| padded_str(c)));
}

fn ad(j: &mut Json, shop: &Shop) {
    j.key("ad").raw("{").key("redirect_url").str(padded_str(&shop.ad.redirect_url));
    j.key("text").str(padded_str(&shop.ad.text)).raw("}");
}

/// The page for a request that went well (the format the golden replies pin down).
fn render(page: &str, state: &State, shop: &mut Shop) -> Vec<u8> {
    let mut j = Json::new();
    match page {
        "home" => {
            head(&mut j, page, state, shop);
            currencies(&mut j, shop);
            j.key("cart_size").num(shop.cart_size).key("products").raw("[");
            for i in 0..shop.n_products as usize {
                let p = &shop.products[i];
                j.raw(if i > 0 { ",{" } else { "{" }).key("id").str(padded_str(&p.id));
                j.key("name").str(padded_str(&p.name)).key("price").money(&shop.prices[i]).raw("}");
            }
            j.raw("]");
            ad(&mut j, shop);
        }
        "set-currency" => {
            head(&mut j, page, state, shop);
        }
        "product" => {
            head(&mut j, page, state, shop);
            currencies(&mut j, shop);
            let p = &shop.product;
            j.key("cart_size").num(shop.cart_size).key("product").raw("{").key("id").str(padded_str(&p.id));
            j.key("name").str(padded_str(&p.name)).key("description").str(padded_str(&p.description));
            j.key("categories").strs(p.categories.iter().filter(|c| c[0] != 0).map(|c| padded_str(c)));
            j.key("price").money(&shop.prices[0]).raw("}");
            recommendations(&mut j, shop);
            ad(&mut j, shop);
        }
        "add-to-cart" => {
            head(&mut j, page, state, shop);
            j.key("product_id").str(padded_str(&shop.product_id)).key("quantity").num(shop.quantity);
            j.key("cart_size").num(shop.cart_size);
        }
        "cart" => {
            shop.total = order_total(shop);
            head(&mut j, page, state, shop);
            currencies(&mut j, shop);
            j.key("cart_size").num(shop.cart_size).key("items").raw("[");
            for i in 0..shop.n_items as usize {
                let p = &shop.products[i];
                j.raw(if i > 0 { ",{" } else { "{" }).key("id").str(padded_str(&p.id));
                j.key("name").str(padded_str(&p.name)).key("quantity").num(shop.items[i].quantity);
                j.key("price").money(&shop.prices[i]).raw("}");
            }
            j.raw("]").key("shipping_cost").money(&shop.shipping_cost).key("total").money(&shop.total);
            recommendations(&mut j, shop);
        }
        "checkout" => {
            head(&mut j, "order", state, shop);
            currencies(&mut j, shop);
            let r = &shop.result;
            let a = &r.shipping_address;
            j.key("order").raw("{").key("order_id").str(padded_str(&r.order_id));
            j.key("shipping_tracking_id").str(padded_str(&r.shipping_tracking_id));
            j.key("shipping_cost").money(&r.shipping_cost).key("shipping_address").raw("{");
            j.key("street_address").str(padded_str(&a.street_address)).key("city").str(padded_str(&a.city));
            j.key("state").str(padded_str(&a.state)).key("country").str(padded_str(&a.country));
            j.key("zip_code").num(a.zip_code).raw("}").key("items").raw("[");
            for i in 0..r.n_items as usize {
                let it = &r.items[i];
                j.raw(if i > 0 { ",{" } else { "{" }).key("product_id").str(padded_str(&it.item.product_id));
                j.key("quantity").num(it.item.quantity).key("cost").money(&it.cost).raw("}");
            }
            j.raw("]}").key("total").money(&shop.total).key("transaction_id").str(padded_str(&shop.transaction_id));
            j.key("confirmation").str(padded_str(&shop.confirmation));
            recommendations(&mut j, shop);
        }
        _ => return Vec::new(),
    }
    j.raw("}").finish()
}
