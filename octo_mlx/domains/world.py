"""The seeded world behind the bundled domains: contacts, products, videos, exchange rates.

Everything here is a pure function of the seed (``state.rng``), so ``new_state(7)`` is the
same device on every machine. The lists are broad on purpose: generated queries name common
things ("headphones", "a comedy", "Mom"), and a search that finds nothing only tests re-planning.
"""

from __future__ import annotations

from octo_mlx.functions.simulator import DeviceState

FIRST_NAMES = (
    "Alice", "Bob", "Carol", "David", "Emma", "Frank", "Grace", "Henry", "Isabel", "Jack",
    "Kate", "Liam", "Maria", "Noah", "Olivia", "Peter", "Sarah", "Tom", "John", "Lisa",
)  # fmt: skip
LAST_NAMES = ("Smith", "Johnson", "Lee", "Brown", "Garcia", "Miller", "Davis", "Wilson", "Chen", "Taylor")
FAMILY = ("Mom", "Dad")
BLUETOOTH = ("AirPods Pro", "Bose QC45", "JBL Flip 5", "Car Audio", "Galaxy Watch", "Sony WH-1000XM5")

# category -> (search words, typical price range in USD)
PRODUCTS = {
    "office chair": ("ergonomic office chair desk seat furniture", (89, 420)),
    "headphones": ("wireless noise cancelling headphones earbuds audio", (29, 350)),
    "running shoes": ("running shoes sneakers trainers sport", (49, 180)),
    "laptop": ("laptop notebook computer ultrabook", (499, 2200)),
    "coffee maker": ("coffee maker espresso machine kitchen", (39, 600)),
    "smartphone": ("smartphone phone mobile android iphone", (199, 1200)),
    "backpack": ("backpack bag travel laptop bag", (25, 160)),
    "desk lamp": ("desk lamp led light office", (15, 90)),
    "yoga mat": ("yoga mat fitness exercise gym", (15, 80)),
    "water bottle": ("water bottle insulated flask", (10, 45)),
    "monitor": ("monitor screen display 4k office", (129, 900)),
    "keyboard": ("mechanical keyboard wireless computer", (25, 220)),
    "blender": ("blender smoothie kitchen", (30, 250)),
    "t-shirt": ("t-shirt tshirt shirt cotton clothes", (9, 40)),
    "jacket": ("rain jacket coat winter clothes", (45, 300)),
    "book": ("book novel bestseller paperback", (8, 35)),
    "smartwatch": ("smartwatch watch fitness tracker", (79, 450)),
    "tent": ("camping tent outdoor hiking", (60, 400)),
    "vacuum cleaner": ("vacuum cleaner robot home cleaning", (80, 700)),
    "sunglasses": ("sunglasses polarized eyewear", (15, 220)),
    "phone case": ("phone case cover protective", (8, 45)),
    "gift card": ("gift card voucher present", (25, 100)),
}
ADJECTIVES = ("Pro", "Lite", "Max", "Classic", "Ultra", "Essential", "Plus", "Air", "Prime", "Go")
BRANDS = ("Acme", "Nova", "Zenith", "Orbit", "Summit", "Vertex", "Lumen", "Apex")

GENRES = ("action", "comedy", "drama", "documentary", "sci-fi", "horror", "romance", "animation", "thriller")
TITLE_WORDS = {
    "action": ("Last Stand", "Iron Horizon", "Rogue Protocol", "Fast Lane", "Steel Rain"),
    "comedy": (
        "The Roommate Rules",
        "Wedding Crashers Club",
        "Office Hours",
        "Dog Days",
        "Bad Neighbours Again",
    ),
    "drama": ("The Quiet Year", "Letters Home", "Blue Harbour", "The Long Road", "Kingdom of Glass"),
    "documentary": ("Planet Oceans", "The Coffee Trail", "Inside the Brain", "Wild Africa", "Code Breakers"),
    "sci-fi": ("Stellar Drift", "Mars Colony", "The Signal", "Quantum Gate", "Neon Future"),
    "horror": ("The Hollow House", "Midnight Woods", "Whispers", "The Cellar", "Dead Signal"),
    "romance": (
        "Paris in Spring",
        "Second Chances",
        "Love, Actually Not",
        "Summer Letters",
        "The Proposal Plan",
    ),
    "animation": ("Robot Pals", "The Dragon's Egg", "Ocean Friends", "Little Chef", "Sky Kingdom"),
    "thriller": ("Zero Hour", "The Informant", "Cold Trail", "Night Shift", "Blind Spot"),
}

COUPONS = {"SAVE10": 10, "WELCOME15": 15, "SUMMER20": 20}

# units of currency per US dollar, rounded mid-2025 levels; the seed moves them by under 2%
USD_RATES = {
    "USD": 1.0, "EUR": 0.88, "GBP": 0.74, "JPY": 144.0, "CNY": 7.19, "INR": 85.5, "CAD": 1.37,
    "AUD": 1.55, "CHF": 0.82, "MXN": 19.2, "BRL": 5.6, "KRW": 1370.0, "SGD": 1.29, "SEK": 9.6,
    "NOK": 10.1, "HKD": 7.85, "NZD": 1.67, "ZAR": 17.9, "THB": 32.7, "AED": 3.67,
}  # fmt: skip


def new_state(seed: int = 0) -> DeviceState:
    """A freshly seeded device: same seed, same contacts, catalogue, orders and prices."""
    return seed_state(DeviceState(seed=seed))


def seed_state(state: DeviceState) -> DeviceState:
    """Fill an empty state with the world for ``state.seed``."""
    rng = state.rng("world")
    people = [f"{first} {rng.choice(LAST_NAMES)}" for first in FIRST_NAMES] + list(FAMILY)
    state.phone.contacts = [
        {"name": n, "phone_number": f"+1{rng.randint(2002000000, 9899999999)}"} for n in people
    ]
    state.phone.bluetooth_nearby = list(BLUETOOTH)
    state.phone.brightness = rng.randint(3, 8)
    state.phone.thermostat_f = float(rng.randint(66, 74))

    catalogue = []
    for category, (_, (low, high)) in PRODUCTS.items():
        for _ in range(3):
            name = f"{rng.choice(BRANDS)} {category.title()} {rng.choice(ADJECTIVES)}"
            catalogue.append(
                {
                    "product_id": f"P{1001 + len(catalogue)}",
                    "name": name,
                    "category": category,
                    "price": round(rng.uniform(low, high), 2),
                    "rating": round(rng.uniform(3.2, 4.9), 1),
                    # only every third product can be sold out, so the examples' ids always sell
                    "stock": rng.choice([0, 5, 20] if len(catalogue) % 3 == 2 else [3, 12, 40, 100]),
                }
            )
    state.shop.catalogue = catalogue
    state.shop.coupons = dict(COUPONS)
    for _ in range(2):  # past orders, so "track my order" and "return it" have something to act on
        item = rng.choice([p for p in catalogue if p["stock"] > 0])
        state.shop.orders.append(
            {
                "order_id": state.new_id("ORD"),
                "items": [{"product_id": item["product_id"], "name": item["name"], "quantity": 1}],
                "total": item["price"],
                "status": "delivered",
                "payment_method": "default_card",
                "shipping_address": "default",
            }
        )

    # a trip booked earlier, so "cancel my booking" has something to cancel (id BK-1003 for every seed)
    city = rng.choice(["Chicago", "Boston", "Seattle", "Miami"])
    state.travel.bookings.append(
        {
            "booking_id": state.new_id("BK"),
            "kind": "hotel",
            "status": "booked",
            "price_usd": round(rng.uniform(300, 900), 2),
            "hotel_id": f"HT-{city.upper()}-1",
            "name": f"Grand Plaza {city}",
            "check_in": "2025-06-20",
            "check_out": "2025-06-23",
        }
    )

    state.video.catalogue = [
        {
            "title": title,
            "genre": genre,
            "year": rng.randint(1995, 2025),
            "rating": round(rng.uniform(5.5, 9.2), 1),
        }
        for genre, titles in TITLE_WORDS.items()
        for title in titles
    ]
    return state


def product_words(category: str) -> set[str]:
    return set(PRODUCTS.get(category, ("", None))[0].split()) | set(category.split())


def usd_rate(state: DeviceState, code: str) -> float:
    """Units of ``code`` per US dollar for this seed (fixed rate +-2%)."""
    base = USD_RATES[code]
    return base if code == "USD" else base * (1 + state.rng("fx", code).uniform(-0.02, 0.02))
