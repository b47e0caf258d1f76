"""E-commerce: search a shop, fill a cart, pay, track and return orders.

The paper does not publish its e-commerce functions; these nine cover its example workflow
("Find ergonomic office chairs and then buy the selected one using my default shipping address
and credit card"). Product and order ids returned here are the ids the other functions accept.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from octo_mlx.domains.world import product_words
from octo_mlx.functions.signatures import domain_from_module, octo_function
from octo_mlx.functions.simulator import CallError, DeviceState

_SEARCH_LIMIT = 5  # results per search: enough to choose from, short enough for a small model's context


def _product(state: DeviceState, product_id: str) -> dict:
    for p in state.shop.catalogue:
        if p["product_id"] == product_id.strip().upper():
            return p
    raise CallError(f"no product with id {product_id!r}; search_products returns valid ids")


def _order(state: DeviceState, order_id: str) -> dict:
    for o in state.shop.orders:
        if o["order_id"] == order_id.strip().upper():
            return o
    known = ", ".join(o["order_id"] for o in state.shop.orders) or "none"
    raise CallError(f"no order with id {order_id!r} (your orders: {known})")


def _summary(p: dict) -> dict:
    return {k: p[k] for k in ("product_id", "name", "price", "rating")} | {"in_stock": p["stock"] > 0}


def _cart_view(state: DeviceState) -> dict:
    items = []
    for pid, qty in state.shop.cart.items():
        p = _product(state, pid)
        items.append({"product_id": pid, "name": p["name"], "quantity": qty, "price": p["price"]})
    subtotal = round(sum(i["price"] * i["quantity"] for i in items), 2)
    percent = state.shop.coupons.get(state.shop.applied_coupon or "", 0)
    return {
        "items": items,
        "subtotal": subtotal,
        "coupon": state.shop.applied_coupon,
        "total": round(subtotal * (100 - percent) / 100, 2),
    }


@octo_function(
    examples=[
        {"query": "ergonomic office chair"},
        {"query": "wireless headphones", "max_price": 150, "sort_by": "rating"},
    ]
)
def search_products(
    state: DeviceState,
    query: str,
    max_price: Annotated[float, Field(gt=0)] | None = None,
    sort_by: Literal["relevance", "price_low_to_high", "price_high_to_low", "rating"] = "relevance",
) -> list[dict]:
    """Searches the shop's catalogue for products matching a query.

    Args:
        query: What to look for, e.g. "ergonomic office chair" or "running shoes".
        max_price: Highest price in US dollars to include, e.g. 200. Default: no limit.
        sort_by: Order of results: 'relevance', 'price_low_to_high', 'price_high_to_low' or 'rating'.

    Returns:
        Up to five products, each with product_id, name, price, rating and in_stock.
    """
    words = {w.rstrip("s") for w in query.lower().replace("-", " ").split()}
    scored = []
    for p in state.shop.catalogue:
        vocab = {w.rstrip("s") for w in product_words(p["category"]) | set(p["name"].lower().split())}
        score = len(words & vocab)
        if score and (max_price is None or p["price"] <= max_price):
            scored.append((score, p))
    keys = {
        "relevance": lambda sp: (-sp[0], -sp[1]["rating"]),
        "price_low_to_high": lambda sp: sp[1]["price"],
        "price_high_to_low": lambda sp: -sp[1]["price"],
        "rating": lambda sp: -sp[1]["rating"],
    }
    best = max((score for score, _ in scored), default=0)
    scored = [sp for sp in scored if sp[0] == best]  # "office chair" must not list office lamps
    scored.sort(key=keys[sort_by])
    return [_summary(p) for _, p in scored[:_SEARCH_LIMIT]]


@octo_function(examples=[{"product_id": "P1001"}])
def get_product_details(state: DeviceState, product_id: str) -> dict:
    """Gives the full details of one product.

    Args:
        product_id: The product's id from search_products, e.g. "P1004".

    Returns:
        Name, category, price, rating and units in stock.
    """
    return dict(_product(state, product_id))


@octo_function(side_effects=True, examples=[{"product_id": "P1002"}, {"product_id": "P1005", "quantity": 2}])
def add_to_cart(
    state: DeviceState, product_id: str, quantity: Annotated[int, Field(ge=1, le=20)] = 1
) -> dict:
    """Adds a product to the shopping cart.

    Args:
        product_id: The product's id from search_products, e.g. "P1004".
        quantity: How many units, 1 to 20. Default 1.

    Returns:
        The cart after the change.
    """
    p = _product(state, product_id)
    want = state.shop.cart.get(p["product_id"], 0) + quantity
    if want > p["stock"]:
        raise CallError(f"{p['name']} ({p['product_id']}): only {p['stock']} in stock")
    state.shop.cart[p["product_id"]] = want
    return _cart_view(state)


@octo_function(side_effects=True, examples=[{"product_id": "P1002"}])
def remove_from_cart(state: DeviceState, product_id: str) -> dict:
    """Removes a product from the shopping cart.

    Args:
        product_id: The id of a product in the cart, e.g. "P1004".

    Returns:
        The cart after the change.
    """
    if state.shop.cart.pop(product_id.strip().upper(), None) is None:
        raise CallError(f"product {product_id!r} is not in the cart")
    return _cart_view(state)


@octo_function
def view_cart(state: DeviceState) -> dict:
    """Shows what is in the shopping cart.

    Returns:
        The items with quantities and prices, the subtotal, any coupon and the total.
    """
    return _cart_view(state)


@octo_function(side_effects=True, examples=[{"code": "SAVE10"}])
def apply_coupon(state: DeviceState, code: str) -> dict:
    """Applies a discount coupon code to the cart.

    Args:
        code: The coupon code, e.g. "SAVE10".

    Returns:
        The discount in percent and the cart's new total.
    """
    key = code.strip().upper()
    if key not in state.shop.coupons:
        raise CallError(f"coupon {code!r} is not valid")
    state.shop.applied_coupon = key
    return {"coupon": key, "percent_off": state.shop.coupons[key], "total": _cart_view(state)["total"]}


@octo_function(
    side_effects=True,
    examples=[{"payment_method": "paypal", "shipping_address": "221B Baker Street, London"}],
)
def checkout(
    state: DeviceState,
    payment_method: Literal["default_card", "paypal", "apple_pay", "gift_card"],
    shipping_address: str = "default",
) -> dict:
    """Buys everything in the cart and places an order.

    Args:
        payment_method: How to pay: 'default_card', 'paypal', 'apple_pay' or 'gift_card'.
        shipping_address: Where to ship, e.g. "221B Baker Street, London"; 'default' for the saved address.

    Returns:
        The new order's id, its items and the amount charged.
    """
    if not state.shop.cart:
        raise CallError("the cart is empty; add_to_cart first")
    view = _cart_view(state)
    for item in view["items"]:
        _product(state, item["product_id"])["stock"] -= item["quantity"]
    order = {
        "order_id": state.new_id("ORD"),
        "items": [{k: i[k] for k in ("product_id", "name", "quantity")} for i in view["items"]],
        "total": view["total"],
        "status": "processing",
        "payment_method": payment_method,
        "shipping_address": shipping_address,
    }
    state.shop.orders.append(order)
    state.shop.cart.clear()
    state.shop.applied_coupon = None
    return {k: order[k] for k in ("order_id", "items", "total", "status")}


@octo_function(examples=[{"order_id": "ORD-1001"}])
def track_order(state: DeviceState, order_id: str) -> dict:
    """Tracks an order's delivery status.

    Args:
        order_id: The order's id, e.g. "ORD-1001".

    Returns:
        The status (processing, delivered, return_requested) and an estimated delivery.
    """
    o = _order(state, order_id)
    eta = {"processing": "in 2-3 days", "delivered": "delivered"}.get(o["status"], "n/a")
    return {"order_id": o["order_id"], "status": o["status"], "estimated_delivery": eta, "items": o["items"]}


@octo_function(side_effects=True, examples=[{"order_id": "ORD-1001", "reason": "Arrived damaged"}])
def return_item(state: DeviceState, order_id: str, reason: str) -> dict:
    """Starts a return for an order.

    Args:
        order_id: The order's id, e.g. "ORD-1001".
        reason: Why it goes back, e.g. "wrong size".

    Returns:
        The return's id and the refund amount.
    """
    o = _order(state, order_id)
    if o["status"] == "return_requested":
        raise CallError(f"a return for {o['order_id']} was already requested")
    o["status"] = "return_requested"
    ret = {
        "return_id": state.new_id("RET"),
        "order_id": o["order_id"],
        "reason": reason,
        "refund": o["total"],
    }
    state.shop.returns.append(ret)
    return ret


DOMAIN = domain_from_module(
    "ecommerce",
    globals(),
    "Online shopping: search products, manage the cart, pay, track and return orders.",
)
