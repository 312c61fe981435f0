#!/usr/bin/env python3
"""Writes the golden replies of Online Boutique: an oracle independent of the Rust code.

The Rust oracle (`workloads::reference`) runs the same handlers as every backend, so a wrong
currency conversion or Luhn check would pass everywhere. This script shares no code with the
project: it reimplements Online Boutique's logic as documented (README, "Online Boutique";
workloads/src/boutique module docs), reads only the shop data from the chain spec, and counts
each page's visits from its call graph by hand (below). It replays
workloads/tests/boutique/requests.txt in order, keeping carts and currencies per user, and
writes workloads/tests/boutique/replies/<name>.reply:

    HTTP <status>
    digest=<16 x '.'> visits=<n> route=<id>
    <page JSON>

The digest hashes the request state's bytes, which only the Rust layout defines; the tests
check it against the reference execution instead, and everything else against these files.

  scripts/golden-boutique.py            # rewrite the files
  scripts/golden-boutique.py --check    # exit 1 if a committed file differs
"""
import argparse
import json
import sys
import tomllib
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import unquote_plus

ROOT = Path(__file__).resolve().parent.parent
DIR = ROOT / "workloads" / "tests" / "boutique"
M64 = (1 << 64) - 1
NANO = 10**9


def fnv(s):
    h = 0xCBF29CE484222325
    for b in s.encode():
        h ^= b
        h = (h * 0x100000001B3) & M64
    return f"{h:016x}"


def decimal(s, places):
    whole, _, frac = s.partition(".")
    return int(whole) * 10**places + int((frac or "0").ljust(places, "0"))


def money(code, nanos):
    return {"currency_code": code, "units": nanos // NANO, "nanos": nanos % NANO}


def text(m):
    return f"{m['currency_code']} {m['units']}.{m['nanos']:09d}"


class Shop:
    def __init__(self, data):
        self.products = data["products"]
        self.by_id = {p["id"]: p for p in self.products}
        self.rates = {c: decimal(r, 6) for c, r in data["currencies"].items()}
        self.ads = data["ads"]
        self.carts = {}  # user -> [[id, qty]] in insertion order
        self.currency = {}  # user -> code

    def convert(self, usd_nanos, to):
        return money(to, usd_nanos * self.rates[to] // self.rates["USD"])

    def usd(self, p):
        return decimal(p["price_usd"], 9)

    def recommend(self, exclude):
        return [p["id"] for p in self.products if p["id"] not in exclude][:5]

    def ad(self, categories):
        for a in self.ads:
            if a["category"] in categories:
                return {"redirect_url": a["redirect_url"], "text": a["text"]}
        a = self.ads[0]
        return {"redirect_url": a["redirect_url"], "text": a["text"]}


def luhn(n):
    total = 0
    for i, ch in enumerate(reversed(n)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return len(n) >= 12 and total % 10 == 0


def card_type(n):
    if n.startswith("4") and len(n) in (13, 16, 19):
        return "visa"
    if len(n) == 16 and (51 <= int(n[:2]) <= 55 or 2221 <= int(n[:4]) <= 2720):
        return "mastercard"
    if len(n) == 15 and n[:2] in ("34", "37"):
        return "amex"
    return "unknown"


def well_formed(s):
    """Every % starts a two-digit hex escape (Python's unquote would pass a bad one through)."""
    parts = s.split("%")
    return all(len(p) >= 2 and all(c in "0123456789abcdefABCDEF" for c in p[:2]) for p in parts[1:])


def error(status, reason, visits):
    return status, visits, {"error": reason, "status": status}


def page(shop, route, user, body):
    """(status, visits, page) for one request; visits counted from the page's call graph:
    the frontend is visited on entry and once after every callee returns, a leaf callee once."""
    form = {}
    for pair in filter(None, body.split("&")):
        k, _, v = pair.partition("=")
        if not (well_formed(k) and well_formed(v)):
            return error(400, "malformed form body (application/x-www-form-urlencoded)", 1)
        form.setdefault(unquote_plus(k), unquote_plus(v))
    if not user:
        return error(400, "missing user identity: send an x-user header or a shop_session-id cookie", 1)
    cur = shop.currency.get(user, "USD")
    cart = shop.carts.get(user, [])
    codes = sorted(shop.rates)
    size = sum(q for _, q in cart)
    head = {"page": route, "user": user, "currency": cur}
    if route == "home":
        # GetSupportedCurrencies, ListProducts, GetCart, Convert per product, GetAds
        n = len(shop.products)
        prods = [{"id": p["id"], "name": p["name"], "price": shop.convert(shop.usd(p), cur)} for p in shop.products]
        return 200, 1 + 2 * (4 + n), {**head, "currencies": codes, "cart_size": size, "products": prods, "ad": shop.ad([])}
    if route == "set-currency":
        c = form.get("currency_code", "")
        if c not in shop.rates:
            return error(400, f'unsupported currency_code "{c}"', 1)
        shop.currency[user] = c
        return 200, 1, {**head, "currency": c}
    if route == "product":
        pid = route_param
        if pid not in shop.by_id:
            return error(404, f'no product with id "{pid}"', 3)  # GetProduct fails
        p = shop.by_id[pid]
        prod = {"id": p["id"], "name": p["name"], "description": p["description"], "categories": p["categories"],
                "price": shop.convert(shop.usd(p), cur)}
        # GetProduct, GetSupportedCurrencies, GetCart, Convert, ListRecommendations, GetAds
        return 200, 13, {**head, "currencies": codes, "cart_size": size, "product": prod,
                         "recommendations": shop.recommend([pid]), "ad": shop.ad(p["categories"])}
    if route == "add-to-cart":
        if "product_id" not in form:
            return error(400, "missing product_id", 1)
        q = form.get("quantity", "")
        if not q.isdigit() or not 1 <= int(q) <= 1000:
            return error(400, f'quantity "{q}" must be a whole number from 1 to 1000', 1)
        pid = form["product_id"]
        if pid not in shop.by_id:
            return error(404, f'no product with id "{pid}"', 3)  # GetProduct fails
        cart = shop.carts.setdefault(user, [])
        for item in cart:
            if item[0] == pid:
                item[1] += int(q)
                break
        else:
            cart.append([pid, int(q)])
        # GetProduct, AddItem
        return 200, 5, {**head, "product_id": pid, "quantity": int(q), "cart_size": sum(q for _, q in cart)}
    if route == "cart":
        n = len(cart)
        ship = shop.convert(8_990_000_000 if n else 0, cur)
        items, total = [], ship["units"] * NANO + ship["nanos"]
        for pid, q in cart:
            price = shop.convert(shop.usd(shop.by_id[pid]), cur)
            items.append({"id": pid, "name": shop.by_id[pid]["name"], "quantity": q, "price": price})
            total += (price["units"] * NANO + price["nanos"]) * q
        # GetSupportedCurrencies, GetCart, ListRecommendations, GetQuote, Convert, then
        # (GetProduct, Convert) per item
        return 200, 1 + 2 * (5 + 2 * n), {**head, "currencies": codes, "cart_size": size, "items": items,
                                          "shipping_cost": ship, "total": money(cur, total),
                                          "recommendations": shop.recommend([i for i, _ in cart])}
    if route == "checkout":
        fields = ["email", "street_address", "city", "state", "country", "zip_code", "credit_card_number",
                  "credit_card_expiration_month", "credit_card_expiration_year", "credit_card_cvv"]
        for f in fields:
            if not form.get(f):
                return error(400, f"missing or malformed {f}", 1)
        number = form["credit_card_number"]
        month, year = int(form["credit_card_expiration_month"]), int(form["credit_card_expiration_year"])
        n = len(cart)
        if n == 0:
            return error(400, "the cart is empty", 1 + 3 + 1)  # PlaceOrder -> GetCart only
        # Inside PlaceOrder: GetCart, (GetProduct, Convert) per item, GetQuote, Convert, Charge:
        # on a failed charge the order unwinds from there.
        failed_visits = 1 + (1 + 2 * (4 + 2 * n)) + 1
        if not luhn(number):
            return error(402, "credit card info is invalid", failed_visits)
        kind = card_type(number)
        if kind not in ("visa", "mastercard"):
            return error(402, f"sorry, we cannot process {kind} credit cards; only VISA or MasterCard is accepted",
                         failed_visits)
        now = datetime.now(timezone.utc)
        if year * 12 + month < now.year * 12 + now.month:
            return error(402, f"your credit card (ending {number[-4:]}) expired on {month}/{year}", failed_visits)
        ship = shop.convert(8_990_000_000, cur)
        total = ship["units"] * NANO + ship["nanos"]
        items = []
        for pid, q in cart:
            price = shop.convert(shop.usd(shop.by_id[pid]), cur)
            items.append({"product_id": pid, "quantity": q, "cost": price})
            total += (price["units"] * NANO + price["nanos"]) * q
        total = money(cur, total)
        tracking = "TRK-" + fnv(f"{user}|{form['street_address']}|{int(form['zip_code'])}")
        txn = "TXN-" + fnv(f"{number}|{total['units']}|{total['nanos']}")
        order_id = "ORD-" + fnv(f"{user}|{tracking}|{txn}")
        mail = (f"To: {form['email']}; Subject: Your order {order_id}; {sum(q for _, q in cart)} items, "
                f"shipping {text(ship)}, total {text(total)}; tracking {tracking}")
        address = {"street_address": form["street_address"], "city": form["city"], "state": form["state"],
                   "country": form["country"], "zip_code": int(form["zip_code"])}
        order = {"order_id": order_id, "shipping_tracking_id": tracking, "shipping_cost": ship,
                 "shipping_address": address, "items": items}
        shop.carts.pop(user, None)
        # PlaceOrder: GetCart, (GetProduct, Convert) per item, GetQuote, Convert, Charge,
        # ShipOrder, EmptyCart, SendOrderConfirmation; then ListRecommendations and
        # GetSupportedCurrencies from the frontend.
        visits = 1 + (1 + 2 * (7 + 2 * n)) + 1 + 2 * 2
        return 200, visits, {**head, "page": "order", "currencies": codes, "order": order, "total": total,
                             "transaction_id": txn, "confirmation": mail, "recommendations": shop.recommend([])}
    raise ValueError(route)


ROUTES = {("GET", "/"): "home", ("POST", "/setCurrency"): "set-currency", ("POST", "/cart"): "add-to-cart",
          ("GET", "/cart"): "cart", ("POST", "/cart/checkout"): "checkout"}
route_param = None


def main():
    global route_param
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--check", action="store_true")
    args = p.parse_args()
    spec = tomllib.loads((ROOT / "workloads" / "chains" / "online-boutique.toml").read_text())
    route_ids = {r["name"]: i + 1 for i, r in enumerate(spec["routes"])}
    names = {"home": "home", "set-currency": "set-currency", "product": "product", "add-to-cart": "add-to-cart",
             "cart": "view-cart", "checkout": "checkout"}
    shop = Shop(spec["data"])
    differ = 0
    for line in (DIR / "requests.txt").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, method, path, user, body = line.split(" ")
        user = "" if user == "-" else user
        body = "" if body == "-" else body
        if path.startswith("/product/"):
            route, route_param = "product", path[len("/product/"):]
        else:
            route = ROUTES[(method, path)]
        status, visits, pg = page(shop, route, user, body)
        head = f"HTTP {status}\ndigest={'.' * 16} visits={visits} route={route_ids[names[route]]}\n"
        want = head.encode() + json.dumps(pg, separators=(",", ":")).encode()
        out = DIR / "replies" / f"{name}.reply"
        if args.check:
            if not out.is_file() or out.read_bytes() != want:
                print(f"{out.relative_to(ROOT)} differs", file=sys.stderr)
                differ += 1
        else:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(want)
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
