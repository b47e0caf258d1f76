"""Failures the simulated world really produces, and how to seed them: a contact that is not
saved, a product out of stock, a flight sold out, a coupon no longer valid.

A fault changes a freshly seeded world (:func:`octo_mlx.domains.world.new_state`) so that one
given call fails there with the domain's own error, the one a user's device would give. The
agent's re-plan training data (:mod:`octo_mlx.synth.replan`) and its committed test requests
are made this way: the error the planner learns to read is the simulator's, never a string
written for the data.

Some calls fail in the seeded world without any fault (pausing when nothing plays): those are
failures too, and need nothing from here. Nothing here decides whether the call does fail: callers run it with
:func:`octo_mlx.functions.simulator.execute` and keep the cases where it did.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from octo_mlx.functions.simulator import DeviceState


@dataclass(frozen=True)
class Fault:
    """One way to make a function's call fail.

    Args:
        kind: a short name ("unknown_contact"), recorded with the data it seeds.
        function: the function whose call it breaks.
        inject: changes the world so that a call with these arguments fails; returns False
            when it cannot (the arguments name nothing it can take away).
    """

    kind: str
    function: str
    inject: Callable[[DeviceState, Mapping[str, Any]], bool]


def _forget_contact(state: DeviceState, args: Mapping[str, Any]) -> bool:
    key = str(args.get("contact_name", "")).strip().lower()
    kept = [c for c in state.phone.contacts if key not in (c["name"].lower(), c["name"].split()[0].lower())]
    changed = len(kept) < len(state.phone.contacts)
    state.phone.contacts = kept
    return changed


def _short_stock(state: DeviceState, args: Mapping[str, Any]) -> bool:
    key = str(args.get("product_id", "")).strip().upper()
    try:
        quantity = int(args.get("quantity", 1))
    except (TypeError, ValueError):
        return False
    for p in state.shop.catalogue:
        if p["product_id"] == key:
            # fewer in stock than the cart would then hold (never more than there were)
            p["stock"] = min(p["stock"], max(0, state.shop.cart.get(key, 0) + quantity - 1))
            return True
    return False


def _withdraw_coupon(state: DeviceState, args: Mapping[str, Any]) -> bool:
    return state.shop.coupons.pop(str(args.get("code", "")).strip().upper(), None) is not None


_FLIGHT_ID = re.compile(r"FL-\d{8}-[A-Z0-9]+-[A-Z0-9]+-[1-3]")  # book_flight's own form


def _sell_out(state: DeviceState, args: Mapping[str, Any]) -> bool:
    flight_id = str(args.get("flight_id", "")).strip().upper()
    if not _FLIGHT_ID.fullmatch(flight_id) or flight_id in state.travel.sold_out:
        return False
    state.travel.sold_out.append(flight_id)
    return True


FAULTS: tuple[Fault, ...] = (
    Fault("unknown_contact", "send_text_message", _forget_contact),
    Fault("out_of_stock", "add_to_cart", _short_stock),
    Fault("invalid_coupon", "apply_coupon", _withdraw_coupon),
    Fault("sold_out", "book_flight", _sell_out),
)

BY_FUNCTION: dict[str, Fault] = {f.function: f for f in FAULTS}


def fault_for(function: str) -> Fault | None:
    """The fault that can break a call of ``function``, or None."""
    return BY_FUNCTION.get(function)


KINDS: dict[str, Fault] = {f.kind: f for f in FAULTS}


def inject(state: DeviceState, kind: str, arguments: Mapping[str, Any]) -> bool:
    """Apply the fault named ``kind`` (a key of KINDS) for a call with ``arguments``; False when
    it could not be applied. Raises KeyError for an unknown kind (request files are checked
    against KINDS when read)."""
    return KINDS[kind].inject(state, arguments)
