"""Locust users for Online Boutique as `spright-bench deploy` serves it (the paper drove its
Fig. 9/10 runs with Locust 1.6 and these tasks and weights, Online Boutique's own locustfile).

  spright-bench deploy --backend s-spright --chain workloads/chains/online-boutique.toml &
  locust -f scripts/locustfile-boutique.py --headless -u 50 -r 10 -t 30s \
      --host http://127.0.0.1:PORT --csv locust      # PORT from deploy's "endpoint:" line

For the Knative model, also pass the printed Host header: LOCUST_HOST_HEADER=gw-... locust ...
Think time is the paper's 1-10 s; set LOCUST_THINK=0.1-1 for a shorter one.
"""
import os
import random
import uuid

from locust import HttpUser, between, task

PRODUCTS = ["OLJCESPC7Z", "66VCHSJNUP", "1YMWWN1N4O", "L9ECAV7KIM", "2ZYFJ3GM2N",
            "0PUK6V6EV0", "LS4PSXUNUM", "9SIQT8TOJO", "6E92ZMYYFZ"]
CURRENCIES = ["EUR", "USD", "JPY", "CAD"]
QUANTITIES = [1, 2, 3, 4, 5, 10]
FORM = {"content-type": "application/x-www-form-urlencoded"}
THINK = [float(x) for x in os.environ.get("LOCUST_THINK", "1-10").split("-")]


class BoutiqueUser(HttpUser):
    wait_time = between(THINK[0], THINK[1])

    def on_start(self):
        host = os.environ.get("LOCUST_HOST_HEADER")
        if host:
            self.client.headers["Host"] = host
        # The gateway knows a user by this cookie (Online Boutique's frontend would set it on the
        # first visit; spright-bench's gateway requires it, or an x-user header).
        self.client.cookies.set("shop_session-id", str(uuid.uuid4()))
        self.index()

    @task(1)
    def index(self):
        self.client.get("/")

    @task(2)
    def set_currency(self):
        self.client.post("/setCurrency", data=f"currency_code={random.choice(CURRENCIES)}", headers=FORM)

    @task(10)
    def browse_product(self):
        self.client.get("/product/" + random.choice(PRODUCTS), name="/product/[id]")

    def _add(self):
        product = random.choice(PRODUCTS)
        self.client.get("/product/" + product, name="/product/[id]")
        self.client.post("/cart", data=f"product_id={product}&quantity={random.choice(QUANTITIES)}", headers=FORM)

    @task(2)
    def add_to_cart(self):
        self._add()

    @task(3)
    def view_cart(self):
        self.client.get("/cart")

    @task(1)
    def checkout(self):
        self._add()
        self.client.post(
            "/cart/checkout",
            data="email=someone%40example.com&street_address=1600+Amphitheatre+Parkway&zip_code=94043"
            "&city=Mountain+View&state=CA&country=United+States&credit_card_number=4432801561520454"
            "&credit_card_expiration_month=1&credit_card_expiration_year=2039&credit_card_cvv=672",
            headers=FORM,
        )
