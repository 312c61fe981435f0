//! Online Boutique's messages as fixed-size `#[repr(C)]` plain data, and the request state
//! [`Shop`] that holds them.
//!
//! The shapes follow Online Boutique's protobufs (Money, CartItem, Product, Address,
//! CreditCardInfo, PlaceOrderRequest, OrderResult); strings are NUL-padded byte arrays with the
//! bounds below, lists are arrays with a count. One [`Shop`] travels in the request body: the
//! shared-memory backends keep it in the pool slot and every function works on it in place;
//! the RPC backends carry its bytes in the protobuf message of every hop. Each RPC reads its
//! arguments from, and writes its result to, the fields named in its docs
//! ([`super::services`]); the caller copies results where it needs them.

use bytemuck::{Pod, Zeroable};

/// Products a catalog may hold (the default data has Online Boutique's 9).
pub const MAX_PRODUCTS: usize = 16;
/// Distinct items the state can carry for one cart; the data's `cart_max_items` may be lower.
pub const MAX_CART_ITEMS: usize = 16;
/// Currencies a catalog may list.
pub const MAX_CURRENCIES: usize = 8;
/// Recommendations per request (as Online Boutique's frontend shows).
pub const MAX_RECOMMENDATIONS: usize = 5;
/// Tag at the start of every [`Shop`], so a function never reads another kind of body as one.
pub const SHOP_MAGIC: u32 = u32::from_le_bytes(*b"OBv1");

/// An amount: `units` whole units plus `nanos` billionths, in `currency_code`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Pod, Zeroable)]
pub struct Money {
    pub currency_code: [u8; 4],
    pub nanos: i32,
    pub units: i64,
}

#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Pod, Zeroable)]
pub struct CartItem {
    pub product_id: [u8; 12],
    pub quantity: u32,
}

#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Pod, Zeroable)]
pub struct Product {
    pub id: [u8; 12],
    pub name: [u8; 32],
    pub description: [u8; 64],
    pub categories: [[u8; 12]; 3],
    pub price_usd: Money,
}

#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Pod, Zeroable)]
pub struct Address {
    pub street_address: [u8; 48],
    pub city: [u8; 24],
    pub state: [u8; 16],
    pub country: [u8; 24],
    pub zip_code: i32,
}

#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Pod, Zeroable)]
pub struct CreditCardInfo {
    pub number: [u8; 20],
    pub cvv: i32,
    pub expiration_year: i32,
    pub expiration_month: i32,
}

#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Pod, Zeroable)]
pub struct PlaceOrderRequest {
    pub user_id: [u8; 40],
    pub user_currency: [u8; 4],
    pub address: Address,
    pub email: [u8; 48],
    pub credit_card: CreditCardInfo,
}

#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Pod, Zeroable)]
pub struct OrderItem {
    pub item: CartItem,
    pub cost: Money,
}

#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Pod, Zeroable)]
pub struct OrderResult {
    pub order_id: [u8; 24],
    pub shipping_tracking_id: [u8; 24],
    pub shipping_cost: Money,
    pub shipping_address: Address,
    pub n_items: u32,
    pub items: [OrderItem; MAX_CART_ITEMS],
}

#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Pod, Zeroable)]
pub struct Ad {
    pub redirect_url: [u8; 32],
    pub text: [u8; 96],
}

/// One Online Boutique request in flight: what the frontend parsed from the client, and every
/// call's arguments and results. Fields are ordered by alignment so the layout has no padding
/// (bytemuck checks it at compile time).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Pod, Zeroable)]
pub struct Shop {
    /// ListProducts' result, or the cart's products in cart order (GetProduct per item).
    pub products: [Product; MAX_PRODUCTS],
    /// `products`' prices converted to the user's currency.
    pub prices: [Money; MAX_PRODUCTS],
    /// GetProduct's result.
    pub product: Product,
    /// Convert's argument and result.
    pub money_in: Money,
    pub money_out: Money,
    /// GetQuote's result (USD) and the quote in the user's currency.
    pub shipping_quote: Money,
    pub shipping_cost: Money,
    /// Order total in the user's currency (cart page, checkout).
    pub total: Money,
    /// PlaceOrder's argument and result.
    pub order: PlaceOrderRequest,
    pub result: OrderResult,
    /// GetCart's and AddItem's result.
    pub items: [CartItem; MAX_CART_ITEMS],
    pub currencies: [[u8; 4]; MAX_CURRENCIES],
    pub recommendations: [[u8; 12]; MAX_RECOMMENDATIONS],
    /// ListRecommendations' argument: product ids to leave out.
    pub request_ids: [[u8; 12]; MAX_CART_ITEMS],
    pub ad: Ad,
    pub transaction_id: [u8; 24],
    /// Why the request failed, for the client.
    pub error: [u8; 128],
    /// SendOrderConfirmation's rendered mail.
    pub confirmation: [u8; 512],
    /// GetProduct's and AddItem's argument.
    pub product_id: [u8; 12],
    /// Convert's target currency.
    pub to_currency: [u8; 4],
    /// The user's currency.
    pub currency: [u8; 4],
    pub magic: u32,
    pub quantity: u32,
    pub n_products: u32,
    pub n_items: u32,
    pub n_currencies: u32,
    pub n_recommendations: u32,
    /// How many of `product`'s categories GetAds matches (0: no context).
    pub n_context: u32,
    pub n_request_ids: u32,
    /// Items in the cart, quantities summed (what the pages show).
    pub cart_size: u32,
    pub _pad: u32,
}

pub const SHOP_BYTES: usize = std::mem::size_of::<Shop>();

pub const NANOS: i128 = 1_000_000_000;

impl Money {
    pub fn code(&self) -> &str {
        crate::state::padded_str(&self.currency_code)
    }

    /// The amount in nanos of its currency.
    pub fn total_nanos(&self) -> i128 {
        self.units as i128 * NANOS + self.nanos as i128
    }

    pub fn from_nanos(code: [u8; 4], n: i128) -> Money {
        Money { currency_code: code, units: (n / NANOS) as i64, nanos: (n % NANOS) as i32 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_sizes_are_stable() {
        assert_eq!(std::mem::size_of::<Money>(), 16);
        assert_eq!(std::mem::size_of::<Product>(), 160);
        assert_eq!(std::mem::size_of::<Address>(), 116);
        assert_eq!(std::mem::size_of::<PlaceOrderRequest>(), 240);
        assert_eq!(std::mem::size_of::<OrderResult>(), 696);
        assert_eq!(SHOP_BYTES, 5384);
    }
}
