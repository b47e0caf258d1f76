"""Phrase bank of the ecommerce domain: search, cart, coupon, checkout, orders and returns.

Product ids (P1001..P1066), order ids (ORD-1001...) and coupon codes follow the simulated
world's formats, and searches mostly use its catalogue's words, so generated plans execute.
The usual task is a chain: search -> details -> add to cart -> view -> coupon -> checkout;
``chain`` keeps that order inside a plan, and after a search a step can say "add the cheapest
one to my cart" (the step: "Add the cheapest product found to the cart").
"""

from __future__ import annotations

import random

from octo_mlx.domains import world
from octo_mlx.synth.phrasebank import gold, pools
from octo_mlx.synth.phrasebank.slots import coupon, pick, street_address
from octo_mlx.synth.phrasebank.spec import FunctionPhrases, Slots, fam, slots

# Searches the simulated catalogue answers (its categories and their words), plus wider ones.
WORLD_SEARCHES = (
    "ergonomic office chair",
    "office chair",
    "wireless headphones",
    "noise cancelling headphones",
    "running shoes",
    "laptop",
    "espresso machine",
    "coffee maker",
    "smartphone",
    "travel backpack",
    "laptop bag",
    "LED desk lamp",
    "yoga mat",
    "insulated water bottle",
    "4k monitor",
    "mechanical keyboard",
    "smoothie blender",
    "cotton t-shirt",
    "rain jacket",
    "winter coat",
    "bestseller novel",
    "fitness tracker",
    "smartwatch",
    "camping tent",
    "robot vacuum",
    "polarized sunglasses",
    "phone case",
    "gift card",
)
N_PRODUCTS = 3 * len(world.PRODUCTS)  # the world seeds three products per category: P1001..

_SORTS = {
    "price_low_to_high": (
        (", cheapest first", " sorted by lowest price", ", lowest price first"),
        ", sorted by price from low to high",
    ),
    "price_high_to_low": (
        (", most expensive first", " sorted by highest price", ", priciest first"),
        ", sorted by price from high to low",
    ),
    "rating": ((", best rated first", " sorted by rating", ", top-rated first"), ", sorted by rating"),
}
_PAY = {
    "default_card": (
        ("my default card", "my saved card", "the card on file", "my credit card"),
        "the default card",
    ),
    "paypal": (("PayPal", "my PayPal"), "PayPal"),
    "apple_pay": (("Apple Pay",), "Apple Pay"),
    "gift_card": (("my gift card", "a gift card", "the gift card balance"), "the gift card"),
}


def _search(r: random.Random) -> Slots:
    item = pick(r, WORLD_SEARCHES) if r.random() < 0.7 else pick(r, pools.PRODUCT_QUERIES)
    args: dict = {"query": item}
    text = {"item": item, "price": "", "price_q": "", "sort": "", "sort_q": ""}
    if r.random() < 0.3:
        p = pick(r, (25, 30, 40, 50, 75, 100, 150, 200, 250, 300, 500, 800))
        args["max_price"] = p
        text["price"] = f" under ${p}"
        text["price_q"] = pick(
            r, (f" under ${p}", f" for less than ${p}", f" below {p} dollars", f" under {p} bucks")
        )
    if r.random() < 0.3:
        key = pick(r, tuple(_SORTS))
        args["sort_by"] = key
        text["sort_q"], text["sort"] = pick(r, _SORTS[key][0]), _SORTS[key][1]
    return slots(args, **text)


def _pid(r: random.Random) -> str:
    return f"P{1001 + r.randrange(N_PRODUCTS)}"


def _product(r: random.Random) -> Slots:
    pid = _pid(r)
    return slots({"product_id": pid}, pid=pid)


def _add(r: random.Random) -> Slots:
    pid = _pid(r)
    if r.random() < 0.3:
        k = r.randint(2, 5)
        word = ("two", "three", "four", "five")[k - 2]
        return slots(
            {"product_id": pid, "quantity": k},
            pid=pid,
            qty=f"{k} units of ",
            qty_q=pick(r, (f"{k} of ", f"{k} units of ", f"{word} of ")),
        )
    return slots({"product_id": pid}, pid=pid, qty="", qty_q="")


def _nothing(r: random.Random) -> Slots:
    return slots({})


def _coupon(r: random.Random) -> Slots:
    c = pick(r, tuple(world.COUPONS)) if r.random() < 0.5 else coupon(r)
    return slots({"code": c})


def _checkout(r: random.Random) -> Slots:
    method = pick(r, tuple(_PAY))
    pay_q, pay = pick(r, _PAY[method][0]), _PAY[method][1]
    if r.random() < 0.25:
        addr = street_address(r)
        return slots(
            {"payment_method": method, "shipping_address": addr},
            pay=pay,
            pay_q=pay_q,
            ship=f" and ship to {addr}",
            ship_q=pick(r, (f" and ship it to {addr}", f", shipping to {addr}", f", deliver to {addr}")),
        )
    return slots({"payment_method": method}, pay=pay, pay_q=pay_q, ship="", ship_q="")


def _order_id(r: random.Random) -> Slots:
    oid = f"ORD-{r.randint(1001, 1099)}"
    return slots({"order_id": oid}, order=oid)


def _return(r: random.Random) -> Slots:
    oid, reason = f"ORD-{r.randint(1001, 1099)}", pick(r, pools.RETURN_REASONS)
    return slots({"order_id": oid, "reason": reason}, order=oid)


# remove_from_cart after view_cart names an item of the cart, not the cart itself.
_CART_ITEM_REFS = {
    "cart": (
        ("the most expensive item", "the most expensive item"),
        ("the last thing I added", "the most recently added item"),
        ("the cheapest item", "the cheapest item"),
        ("the first thing I added", "the first item in the cart"),
    )
}


# The bank proper: one family per line or two (hand-wrapped; ruff would put one string per line).
# fmt: off
PHRASES = (
    FunctionPhrases(
        "search_products", _search,
        steps=("Search for {item}{price}{sort}", "Search the shop for {item}{price}{sort}",
               "Find {item}{price}{sort}", "Browse the store for {item}{price}{sort}",
               "Run a product search for {item}{price}{sort}", "search products: {item}{price}{sort}",
               "Please look up shop listings for {item}{price}{sort}"),
        families=(
            fam("direct", "vp", "search for {item}{price_q}{sort_q}", "find {item}{price_q}{sort_q}",
                "look up {item} in the shop{price_q}{sort_q}"),
            fam("casual", "vp", "browse {item}{price_q}{sort_q}", "shop around for {item}{price_q}{sort_q}",
                "hunt down some {item} options{price_q}{sort_q}"),
            fam("ask", "q", "do you have any {item}{price_q}{sort_q}",
                "can you find me {item}{price_q}{sort_q}", "what {item} options are there{price_q}{sort_q}"),
            fam("need", "s", "I'm looking for {item}{price_q}{sort_q}",
                "I need to buy {item}{price_q}{sort_q}", "I want to shop for {item}{price_q}{sort_q}"),
            fam("terse", "t", "search: {item}{price_q}{sort_q}", "shop {item}{price_q}{sort_q}",
                "{item}{price_q}{sort_q} - search"),
        ),
        holdout="casual", produces="products", chain=("shop", 0),
    ),
    FunctionPhrases(
        "get_product_details", _product,
        steps=("Get the details of product {pid}", "Show the product details for {pid}",
               "Look up the product information for {pid}", "Open the product page for {pid}",
               "Fetch product info for item {pid}", "product details: {pid}",
               "Pull up the full specs of product {pid}"),
        families=(
            fam("direct", "vp", "get the details of product {pid}", "show me the product page for {pid}",
                "open the details of item {pid}",
                after=("get the details of {ref}", "show me more about {ref}")),
            fam("casual", "vp", "pull up everything on item {pid}", "give me the specs for {pid}",
                "dig into product {pid}",
                after=("pull up the specs of {ref}", "dig into {ref}")),
            fam("ask", "q", "what are the details of product {pid}", "how many units of {pid} are in stock",
                "can you tell me more about item {pid}",
                after=("what are the details of {ref}", "can you tell me more about {ref}")),
            fam("need", "s", "I want to know more about product {pid}", "I need the specs of item {pid}",
                "I'd like the full details of {pid}",
                after=("I want to know more about {ref}", "I'd like the full details of {ref}")),
            fam("terse", "t", "details {pid}", "info on {pid}", "specs: {pid}",
                after=("details on {ref}", "specs for {ref}")),
        ),
        holdout="need", produces="product", consumes=("products",), chain=("shop", 1),
        steps_after=("Get the details of {ref}", "Show the product details of {ref}",
                     "Look up the product information for {ref}", "Open the product page of {ref}",
                     "Fetch the specs of {ref}", "details for {ref}"),
        fill=gold.product_id,
    ),
    FunctionPhrases(
        "add_to_cart", _add,
        steps=("Add {qty}product {pid} to the cart", "Add {qty}item {pid} to the shopping cart",
               "Put {qty}product {pid} into the shopping cart", "Place {qty}product {pid} in the cart",
               "add {qty}{pid} to cart", "Please add {qty}item {pid} to my cart",
               "Toss {qty}product {pid} into the basket"),
        families=(
            fam("direct", "vp", "add {qty_q}product {pid} to my cart", "put {qty_q}item {pid} in the cart",
                "add {qty_q}{pid} to the shopping cart",
                after=("add {qty_q}{ref} to my cart", "put {qty_q}{ref} in my cart")),
            fam("casual", "vp", "throw {qty_q}{pid} in my basket", "toss {qty_q}item {pid} into the cart",
                "stick {qty_q}product {pid} in my basket",
                after=("throw {qty_q}{ref} in my basket", "toss {qty_q}{ref} into the cart")),
            fam("ask", "q", "can you add {qty_q}product {pid} to my cart",
                "could you put {qty_q}{pid} in my shopping cart",
                "would you add {qty_q}item {pid} to the cart",
                after=("can you add {qty_q}{ref} to my cart", "could you put {qty_q}{ref} in the cart")),
            fam("need", "s", "I want {qty_q}item {pid} in my cart",
                "I'd like to add {qty_q}product {pid} to the cart", "I need {qty_q}{pid} in my shopping cart",
                after=("I want {qty_q}{ref} in my cart", "I'd like {qty_q}{ref} added to my cart")),
            fam("terse", "t", "cart += {qty_q}{pid}", "add to cart: {qty_q}{pid}", "{qty_q}{pid} -> cart",
                after=("{qty_q}{ref} -> cart", "add to cart: {qty_q}{ref}")),
        ),
        holdout="ask", consumes=("products", "product"), chain=("shop", 2),
        steps_after=("Add {qty}{ref} to the cart", "Add {qty}{ref} to the shopping cart",
                     "Put {qty}{ref} into the shopping cart", "Place {qty}{ref} in the cart",
                     "Please add {qty}{ref} to my cart", "cart: add {qty}{ref}"),
        fill=gold.product_id,
    ),
    FunctionPhrases(
        "view_cart", _nothing,
        steps=("View the shopping cart", "Show the contents of the cart", "Open the shopping cart",
               "Show what is in the cart", "Review the items in the shopping cart",
               "List everything in my cart", "check my cart"),
        families=(
            fam("direct", "vp", "show me my cart", "view my shopping cart", "open my cart"),
            fam("casual", "vp", "let me see what's in my basket", "pull up my cart", "bring up my basket"),
            fam("ask", "q", "what's in my cart", "how much is in my cart right now",
                "what have I put in my cart so far"),
            fam("need", "s", "I want to see my cart", "I'd like to review my cart",
                "I need to check what's in my cart"),
            fam("terse", "t", "cart?", "my cart", "view cart"),
        ),
        holdout="terse", produces="cart", chain=("shop", 3),
    ),
    FunctionPhrases(
        "remove_from_cart", _product,
        steps=("Remove product {pid} from the cart", "Remove item {pid} from the shopping cart",
               "Delete product {pid} from the shopping cart", "Take product {pid} out of the cart",
               "Please remove item {pid} from my cart", "remove {pid} from cart",
               "Drop product {pid} from the basket"),
        families=(
            fam("direct", "vp", "remove product {pid} from my cart", "delete item {pid} from the cart",
                "remove {pid} from the shopping cart",
                after=("remove {ref} from my cart", "delete {ref} from the cart")),
            fam("casual", "vp", "take {pid} out of my basket", "drop item {pid} from the cart",
                "ditch product {pid} from my basket",
                after=("take {ref} out of my basket", "ditch {ref}")),
            fam("ask", "q", "can you remove {pid} from my cart",
                "could you take product {pid} out of the cart", "would you delete item {pid} from my cart",
                after=("can you remove {ref} from my cart", "could you take {ref} out of the cart")),
            fam("need", "s", "I don't want item {pid} anymore, so remove it from the cart",
                "I need product {pid} out of my cart",
                "I changed my mind about {pid}, take it out of my cart",
                after=("I want {ref} out of my cart", "I don't need {ref}, remove it")),
            fam("terse", "t", "cart -= {pid}", "remove {pid} from cart", "{pid}: remove",
                after=("remove {ref} from cart", "cart -= {ref}")),
        ),
        holdout="casual", consumes=("cart",), chain=("shop", 4),
        steps_after=("Remove {ref} from the cart", "Remove {ref} from the shopping cart",
                     "Delete {ref} from the shopping cart", "Take {ref} out of the cart",
                     "Please remove {ref} from my cart", "cart: remove {ref}"),
        fill=gold.product_id,
        extra={"refs": _CART_ITEM_REFS},
    ),
    FunctionPhrases(
        "apply_coupon", _coupon,
        steps=("Apply the coupon code {code}", "Apply coupon {code} to the cart",
               "Redeem the coupon code {code}", "Use the promo code {code}",
               "Enter the discount code {code}", "apply promo {code}", "Please apply the voucher {code}"),
        families=(
            fam("direct", "vp", "apply the coupon {code}", "use the promo code {code}",
                "apply discount code {code}"),
            fam("casual", "vp", "punch in {code} for a discount", "throw the code {code} on my order",
                "knock some money off with {code}"),
            fam("ask", "q", "can you apply {code} to my cart", "could you use coupon {code}",
                "would you put the discount code {code} on my order"),
            fam("need", "s", "I have a coupon, {code}, and want it applied", "I want to use the code {code}",
                "I'd like to redeem the promo code {code}"),
            fam("terse", "t", "coupon {code}", "promo: {code}", "code {code}"),
        ),
        holdout="need", chain=("shop", 5),
    ),
    FunctionPhrases(
        "checkout", _checkout,
        steps=("Check out and pay with {pay}{ship}", "Place the order and pay with {pay}{ship}",
               "Complete the purchase using {pay}{ship}", "Pay for the cart with {pay}{ship}",
               "checkout with {pay}{ship}", "Please check out using {pay}{ship}",
               "Buy everything in the cart, paying with {pay}{ship}"),
        families=(
            fam("direct", "vp", "check out with {pay_q}{ship_q}", "place the order using {pay_q}{ship_q}",
                "buy everything in my cart with {pay_q}{ship_q}"),
            fam("casual", "vp", "wrap up the order with {pay_q}{ship_q}",
                "pay for it all with {pay_q}{ship_q}", "buy the stuff in my cart using {pay_q}{ship_q}"),
            fam("ask", "q", "can you check out using {pay_q}{ship_q}",
                "could you place my order and pay with {pay_q}{ship_q}",
                "would you complete the purchase with {pay_q}{ship_q}"),
            fam("need", "s", "I want to pay with {pay_q}{ship_q}",
                "I'm ready to check out with {pay_q}{ship_q}",
                "I'd like to complete the purchase using {pay_q}{ship_q}"),
            fam("terse", "t", "checkout, {pay_q}{ship_q}", "pay: {pay_q}{ship_q}",
                "checkout w/ {pay_q}{ship_q}"),
        ),
        holdout="ask", chain=("shop", 6),
    ),
    FunctionPhrases(
        "track_order", _order_id,
        steps=("Track the order {order}", "Check the delivery status of order {order}",
               "Get the tracking information for order {order}", "Find out where order {order} is",
               "Show the shipping status of {order}", "track order {order}",
               "Please check when order {order} will arrive"),
        families=(
            fam("direct", "vp", "track order {order}", "check the status of order {order}",
                "track my order {order}"),
            fam("casual", "vp", "find out where order {order} is", "see when {order} is arriving",
                "chase up my order {order}"),
            fam("ask", "q", "where is my order {order}", "when will order {order} arrive",
                "has {order} shipped yet"),
            fam("need", "s", "I want to know where order {order} is", "I need the delivery status of {order}",
                "I'm still waiting on order {order} and want to know where it is"),
            fam("terse", "t", "track {order}", "order status {order}", "{order} - where is it"),
        ),
        holdout="terse", produces="order", chain=("order", 0),
    ),
    FunctionPhrases(
        "return_item", _return,
        steps=('Return order {order} with the reason "{reason}"',
               'Start a return for order {order} because "{reason}"',
               'Request a refund for order {order} with the reason "{reason}"',
               'Send back order {order} because "{reason}"',
               'Please process a return of {order}, reason: "{reason}"', 'return {order}: "{reason}"',
               'Open a return request for order {order}, giving the reason "{reason}"'),
        families=(
            fam("direct", "vp", "return order {order} because {reason}",
                "start a return for order {order}, reason: {reason}",
                "return the item from {order} since {reason}"),
            fam("casual", "vp", "send back {order}, {reason}",
                "get me a refund on order {order} since {reason}",
                "ship order {order} back because {reason}"),
            fam("ask", "q", "can you return order {order} because {reason}",
                "could you start a return on {order}, as {reason}",
                "would you process a return for {order}, {reason}"),
            fam("need", "s", "I want to return order {order} because {reason}",
                "I need to send order {order} back, {reason}", "I'd like a refund for {order}: {reason}"),
            fam("terse", "t", "return {order}: {reason}", "RMA {order} - {reason}",
                "refund {order} ({reason})"),
        ),
        holdout="need", chain=("order", 1),
    ),
)
# fmt: on
