"""A simulated device the action model's calls run against: safe, offline, deterministic.

``DeviceState`` holds everything the bundled functions read or change (contacts, cart,
watchlist, bookings...), seeded from one integer by ``octo_mlx.domains.world.new_state``: the same
seed gives the same world.
``execute(function, arguments, state)`` validates the arguments against the function's schema
and runs its implementation; it never raises for a bad call, it returns
``Observation(ok=False, error=...)`` so the agent can re-plan from the reason.

Determinism: ids come from a counter in the state (``state.new_id``), derived values (news,
weather, flights) from a hash of the seed and the call's arguments (``state.rng``), never from
uuid, time or global randomness. Only functions marked ``side_effects=True`` may change the
state: ``execute`` runs readers on a copy and checks nothing changed.
"""

from __future__ import annotations

import copy
import hashlib
import json
import random
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from octo_mlx.errors import OctoError
from octo_mlx.files import read_text, write_atomic
from octo_mlx.functions.contract import Function

TODAY = "2025-06-02"  # the simulated calendar's today (a Monday); fixed so results never depend on the clock


class CallError(Exception):
    """Raised by an implementation for a call that cannot succeed (unknown id, empty cart...)."""


@dataclass
class PhoneState:
    contacts: list[dict] = field(default_factory=list)  # {"name", "phone_number"}
    messages: list[dict] = field(default_factory=list)  # sent texts
    emails: list[dict] = field(default_factory=list)  # sent emails
    calendar: list[dict] = field(default_factory=list)
    alarms: list[dict] = field(default_factory=list)
    volume: dict[str, int] = field(default_factory=lambda: {"ring": 5, "media": 7, "alarm": 8})
    brightness: int = 6
    bluetooth_nearby: list[str] = field(default_factory=list)
    bluetooth_connected: str | None = None
    do_not_disturb: bool = False
    photos: list[str] = field(default_factory=list)
    calls: list[dict] = field(default_factory=list)
    thermostat_f: float = 70.0
    door: str = "locked"
    smoke_detector: dict = field(
        default_factory=lambda: {"battery": 87, "sensor": "ok", "connectivity": "online"}
    )
    nest_hub: dict | None = None  # what the Nest hub/audio is streaming


@dataclass
class ShopState:
    catalogue: list[dict] = field(
        default_factory=list
    )  # {"product_id","name","category","price","rating","stock"}
    cart: dict[str, int] = field(default_factory=dict)  # product_id -> quantity
    coupons: dict[str, int] = field(default_factory=dict)  # code -> percent off
    applied_coupon: str | None = None
    orders: list[dict] = field(default_factory=list)
    returns: list[dict] = field(default_factory=list)


@dataclass
class VideoState:
    catalogue: list[dict] = field(default_factory=list)  # {"title","genre","year","rating"}
    watchlist: list[str] = field(default_factory=list)
    playing: dict | None = None  # {"title", "status": "playing" | "paused"}
    downloads: list[dict] = field(default_factory=list)
    ratings: dict[str, int] = field(default_factory=dict)
    subtitles: str | None = None


@dataclass
class TravelState:
    bookings: list[dict] = field(default_factory=list)  # flights, hotels, cars; status booked|cancelled
    sold_out: list[str] = field(default_factory=list)  # flight ids with no seats left


_SECTIONS = {"phone": PhoneState, "shop": ShopState, "video": VideoState, "travel": TravelState}


@dataclass
class DeviceState:
    """Everything the simulated device knows; JSON-serialisable (``to_json``/``from_json``)."""

    seed: int = 0
    next_id: int = 1001
    phone: PhoneState = field(default_factory=PhoneState)
    shop: ShopState = field(default_factory=ShopState)
    video: VideoState = field(default_factory=VideoState)
    travel: TravelState = field(default_factory=TravelState)
    call_log: list[dict] = field(
        default_factory=list
    )  # side-effect calls of functions without implementation

    def new_id(self, prefix: str) -> str:
        """The next id, e.g. ``ORD-1001``: a counter, so replaying the same calls gives the same ids."""
        value = f"{prefix}-{self.next_id}"
        self.next_id += 1
        return value

    def rng(self, *keys: Any) -> random.Random:
        """A random generator fixed by the seed and ``keys`` (e.g. the function and its arguments)."""
        text = json.dumps([self.seed, *keys], sort_keys=True, default=str).lower()
        return random.Random(int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big"))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict, where: str | Path | None = None) -> DeviceState:
        """Rebuild a state; an unknown or missing section key is an OctoError naming it."""
        if not isinstance(data, dict):
            raise OctoError("device state must be a JSON object", where)
        known = {f.name for f in fields(cls)}
        _check_keys(data, known, "", where)
        kwargs = dict(data)
        for name, section in _SECTIONS.items():
            if name in kwargs:
                sub = kwargs[name]
                if not isinstance(sub, dict):
                    raise OctoError(f"{name}: must be an object", where)
                _check_keys(sub, {f.name for f in fields(section)}, f"{name}.", where)
                kwargs[name] = section(**copy.deepcopy(sub))
        return cls(**kwargs)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, where: str | Path | None = None) -> DeviceState:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise OctoError(f"malformed JSON: {e.msg}", f"{where}:{e.lineno}" if where else None) from e
        return cls.from_dict(data, where)

    def save(self, path: str | Path) -> None:
        write_atomic(path, self.to_json())

    @classmethod
    def load(cls, path: str | Path) -> DeviceState:
        path = Path(path)
        if not path.is_file():
            raise OctoError("no such file", path)
        return cls.from_json(read_text(path), path)


def _check_keys(data: dict, known: set[str], prefix: str, where: Any) -> None:
    for key in data:
        if key not in known:
            raise OctoError(f"unknown key {prefix}{key}", where)


@dataclass(frozen=True)
class Observation:
    """What one call returned: ``result`` (JSON-able) when ok, else ``error`` (one line)."""

    function: str
    arguments: dict
    ok: bool
    result: Any = None
    error: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def execute(function: Function, arguments: Any, state: DeviceState) -> Observation:
    """Validate and run one call against ``state`` (changed in place for side-effect functions).

    Args:
        function: the function to call.
        arguments: a dict, or its JSON text, as the action model produced it.
        state: the simulated device.

    Returns:
        an Observation; ok=False (never an exception) for bad arguments or a call that fails.
    """
    shown = arguments if isinstance(arguments, dict) else {"_raw": str(arguments)}
    try:
        args = function.validate_arguments(arguments)
    except OctoError as e:
        return Observation(function.name, shown, False, error=f"invalid arguments: {e.message}")
    args = _with_defaults(function, args)
    if function.implementation is None:
        if function.side_effects:
            state.call_log.append({"id": state.new_id("CALL"), "function": function.name, "arguments": args})
        return Observation(function.name, args, True, result={"status": "done", "function": function.name})
    target = state if function.side_effects else copy.deepcopy(state)
    try:
        result = function.call(target, args)
    except CallError as e:
        return Observation(function.name, args, False, error=str(e))
    except Exception as e:  # a user implementation's bug must not kill the agent loop: report it
        return Observation(
            function.name, args, False, error=f"{function.name} failed: {type(e).__name__}: {e}"
        )
    if not function.side_effects and target != state:
        # a reader that writes is a bug in the domain, not the user's fault: say so loudly
        raise RuntimeError(f"{function.name} is marked side_effects=False but changed the device state")
    return Observation(function.name, args, True, result=json.loads(json.dumps(result)))


def _with_defaults(function: Function, args: dict) -> dict:
    out = dict(args)
    for name, schema in function.parameters.get("properties", {}).items():
        if name not in out and "default" in schema:
            out[name] = copy.deepcopy(schema["default"])
    return out
