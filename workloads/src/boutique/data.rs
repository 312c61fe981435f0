//! The shop's data, from the chain spec's `[data]` table: products, ads and currency rates.
//!
//! ```toml
//! [data]
//! cart_max_items = 10
//! currencies = { EUR = "1.0", USD = "1.1305" }   # units per euro, decimal strings
//! [[data.products]]
//! id = "OLJCESPC7Z"
//! name = "Sunglasses"
//! description = "..."
//! price_usd = "19.99"
//! categories = ["accessories"]
//! [[data.ads]]
//! category = "accessories"
//! redirect_url = "/product/1YMWWN1N4O"
//! text = "Watch for sale."
//! ```
//!
//! Everything is checked here, once, with the field that is wrong: text must be printable
//! ASCII that fits its fixed-size field, prices and rates exact decimals.

use super::model::*;
use crate::state::set_padded;

/// A currency's rate in millionths of a unit per euro (exact: the artifact's rates have at
/// most four decimals).
pub type Rate = u64;

#[derive(Debug, Clone, PartialEq)]
pub struct Catalog {
    pub products: Vec<Product>,
    pub ads: Vec<(String, Ad)>,
    /// Sorted by code.
    pub currencies: Vec<([u8; 4], Rate)>,
    pub cart_max_items: usize,
}

/// What is wrong, and where (a path under `data`).
pub type DataError = (String, String);

fn fail<T>(field: impl Into<String>, problem: impl Into<String>) -> Result<T, DataError> {
    Err((format!("data.{}", field.into()), problem.into()))
}

fn text(v: Option<&toml::Value>, field: &str, max: usize) -> Result<String, DataError> {
    let Some(s) = v.and_then(|v| v.as_str()) else { return fail(field, "must be a string") };
    if s.is_empty() || s.len() > max || !s.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return fail(field, format!("{s:?} must be 1-{max} printable ASCII characters"));
    }
    Ok(s.to_string())
}

/// `"19.99"` in nanos (`scale` = 10^9) or `"1.1305"` in millionths (`scale` = 10^6).
pub fn parse_decimal(s: &str, decimals: u32) -> Option<i128> {
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if whole.is_empty()
        || frac.len() > decimals as usize
        || !(whole.bytes().chain(frac.bytes())).all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let w: i128 = whole.parse().ok().filter(|w: &i128| *w < 1_000_000_000_000)?;
    let f: i128 = if frac.is_empty() { 0 } else { frac.parse().ok()? };
    Some(w * 10i128.pow(decimals) + f * 10i128.pow(decimals - frac.len() as u32))
}

pub fn code(s: &str) -> Option<[u8; 4]> {
    let mut c = [0u8; 4];
    (s.len() == 3 && s.bytes().all(|b| b.is_ascii_uppercase()) && set_padded(&mut c, s)).then_some(c)
}

impl Catalog {
    pub fn parse(data: &toml::Value) -> Result<Catalog, DataError> {
        let Some(t) = data.as_table() else { return fail("", "the [data] table is missing") };
        for key in t.keys() {
            if !["cart_max_items", "currencies", "products", "ads"].contains(&key.as_str()) {
                return fail(key, "unknown key; known: cart_max_items, currencies, products, ads");
            }
        }
        let mut currencies = Vec::new();
        let Some(cur) = t.get("currencies").and_then(|c| c.as_table()) else {
            return fail("currencies", "must be a table of CODE = \"rate per euro\"");
        };
        for (k, v) in cur {
            let field = format!("currencies.{k}");
            let Some(c) = code(k) else { return fail(field, "a currency code is three capital letters") };
            let rate = v.as_str().and_then(|s| parse_decimal(s, 6)).filter(|&r| r > 0);
            let Some(rate) = rate else { return fail(field, "must be a positive decimal string, at most 6 decimals") };
            currencies.push((c, rate as Rate));
        }
        if !currencies.iter().any(|(c, _)| c == b"USD\0") || !currencies.iter().any(|(c, _)| c == b"EUR\0") {
            return fail("currencies", "must include USD (prices are in USD) and EUR (rates are per euro)");
        }
        if currencies.len() > MAX_CURRENCIES {
            return fail("currencies", format!("at most {MAX_CURRENCIES}"));
        }
        let Some(list) = t.get("products").and_then(|p| p.as_array()) else {
            return fail("products", "must be an array of tables ([[data.products]])");
        };
        if list.is_empty() || list.len() > MAX_PRODUCTS {
            return fail("products", format!("{} products; 1 to {MAX_PRODUCTS}", list.len()));
        }
        let mut products: Vec<Product> = Vec::new();
        for (i, p) in list.iter().enumerate() {
            let at = |f: &str| format!("products[{i}].{f}");
            let mut prod = Product::zeroed();
            let id = text(p.get("id"), &at("id"), 12)?;
            if !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return fail(at("id"), "must be letters and digits");
            }
            if products.iter().any(|q| q.id == prod_id(&id)) {
                return fail(at("id"), format!("{id} is used twice"));
            }
            set_padded(&mut prod.id, &id);
            set_padded(&mut prod.name, &text(p.get("name"), &at("name"), 32)?);
            set_padded(&mut prod.description, &text(p.get("description"), &at("description"), 64)?);
            let price = p.get("price_usd").and_then(|v| v.as_str()).and_then(|s| parse_decimal(s, 9));
            let Some(price) = price else { return fail(at("price_usd"), "must be a decimal string, e.g. \"19.99\"") };
            prod.price_usd = Money::from_nanos(*b"USD\0", price);
            let Some(cats) = p.get("categories").and_then(|c| c.as_array()) else {
                return fail(at("categories"), "must be an array of strings");
            };
            if cats.is_empty() || cats.len() > 3 {
                return fail(at("categories"), "1 to 3 categories");
            }
            for (k, c) in cats.iter().enumerate() {
                set_padded(&mut prod.categories[k], &text(Some(c), &at(&format!("categories[{k}]")), 12)?);
            }
            products.push(prod);
        }
        let mut ads = Vec::new();
        for (i, a) in t.get("ads").and_then(|a| a.as_array()).map(|a| a.as_slice()).unwrap_or(&[]).iter().enumerate() {
            let at = |f: &str| format!("ads[{i}].{f}");
            let category = text(a.get("category"), &at("category"), 12)?;
            let mut ad = Ad::zeroed();
            set_padded(&mut ad.redirect_url, &text(a.get("redirect_url"), &at("redirect_url"), 32)?);
            set_padded(&mut ad.text, &text(a.get("text"), &at("text"), 96)?);
            ads.push((category, ad));
        }
        if ads.is_empty() {
            return fail("ads", "at least one ad ([[data.ads]])");
        }
        let cart_max_items = match t.get("cart_max_items") {
            None => 10,
            Some(v) => match v.as_integer() {
                Some(n) if (1..=MAX_CART_ITEMS as i64).contains(&n) => n as usize,
                _ => return fail("cart_max_items", format!("{v} must be an integer from 1 to {MAX_CART_ITEMS}")),
            },
        };
        Ok(Catalog { products, ads, currencies, cart_max_items })
    }

    pub fn product(&self, id: &[u8; 12]) -> Option<&Product> {
        self.products.iter().find(|p| &p.id == id)
    }

    pub fn rate(&self, code: &[u8; 4]) -> Option<Rate> {
        self.currencies.iter().find(|(c, _)| c == code).map(|&(_, r)| r)
    }
}

/// A product id as its fixed-size field (ids longer than the field match nothing).
pub fn prod_id(s: &str) -> [u8; 12] {
    let mut id = [0u8; 12];
    if !set_padded(&mut id, s) {
        id = [0xff; 12];
    }
    id
}

use bytemuck::Zeroable;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_exact() {
        assert_eq!(parse_decimal("19.99", 9), Some(19_990_000_000));
        assert_eq!(parse_decimal("126.40", 6), Some(126_400_000));
        assert_eq!(parse_decimal("1", 6), Some(1_000_000));
        assert_eq!(parse_decimal("1.1234567", 6), None);
        assert_eq!(parse_decimal("-1", 6), None);
        assert_eq!(parse_decimal(".5", 6), None);
        assert_eq!(parse_decimal("1e3", 6), None);
    }
}
