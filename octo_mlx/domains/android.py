"""Android: the twenty functions of Octopus v2, in its functional-token order (<nexa_0>..<nexa_19>).

Names, parameters and order follow NexaAI's ``android_functions.txt`` (Octopus-v2 model card);
the ten of the Octo-planner paper's appendix are among them. Descriptions are ours, rewritten
to say what each function returns in the simulator.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from octo_mlx.functions.signatures import domain_from_module, octo_function
from octo_mlx.functions.simulator import TODAY, CallError, DeviceState

E164 = r"^\+[1-9]\d{1,14}$"
HHMM = r"^([01]\d|2[0-3]):[0-5]\d$"
STAMP = r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])-([01]\d|2[0-3])-[0-5]\d$"  # YYYY-MM-DD-HH-MM
EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
ISO639_1 = r"^[a-z]{2}$"  # "ja", not "Japanese" or "j" (both written by a trained model before this)


def _contact(state: DeviceState, name: str) -> dict:
    """Find a contact by full name, else by a unique first name (case-insensitive)."""
    key = name.strip().lower()
    exact = [c for c in state.phone.contacts if c["name"].lower() == key]
    first = [c for c in state.phone.contacts if c["name"].split()[0].lower() == key]
    found = exact or first
    if len(found) == 1:
        return found[0]
    if found:
        raise CallError(f"{len(found)} contacts match {name!r}: {', '.join(c['name'] for c in found)}")
    raise CallError(f"no contact named {name!r}; create_contact can add one")


@octo_function(side_effects=True, examples=[{"camera": "back"}, {"camera": "front"}])
def take_a_photo(state: DeviceState, camera: Literal["front", "back"] = "back") -> str:
    """Captures a photo with the front or back camera and saves it to the gallery.

    Args:
        camera: Which camera to use, 'front' (selfie) or 'back'. Default 'back'.

    Returns:
        The file path of the saved photo.
    """
    path = f"/storage/emulated/0/DCIM/Camera/IMG_{TODAY.replace('-', '')}_{state.new_id(camera)}.jpg"
    state.phone.photos.append(path)
    return path


@octo_function(examples=[{"query": "Jensen Huang", "language": "en"}, {"query": "electric cars"}])
def get_trending_news(
    state: DeviceState, query: str, language: Annotated[str, Field(pattern=ISO639_1)] = "en"
) -> list[dict]:
    """Retrieves trending news articles about a topic in a given language.

    Args:
        query: Topic to find news about, e.g. "Jensen Huang" or "climate summit".
        language: ISO 639-1 language code, e.g. "en", "es", "fr". Default "en".

    Returns:
        A list of articles, each with a title and a URL.
    """
    rng = state.rng("news", query, language)
    angles = ("latest", "analysis", "what to know", "live updates", "explained", "reactions", "interview")
    slug = "-".join(query.lower().split())
    return [
        {
            "title": f"{query}: {angle}",
            "url": f"https://news.example.com/{language}/{slug}-{rng.randint(1000, 9999)}",
        }
        for angle in rng.sample(angles, 3)
    ]


@octo_function(examples=[{"location": "San Francisco"}, {"location": "10001"}])
def get_weather_forecast(state: DeviceState, location: str) -> list[str]:
    """Gives the weather forecast for a location for the next three days.

    Args:
        location: City name, ZIP code or other place name, e.g. "Paris" or "94103".

    Returns:
        One line per day, 'YYYY-MM-DD: conditions, high/low in Celsius'.
    """
    rng = state.rng("weather", location)
    conditions = ("sunny", "partly cloudy", "cloudy", "light rain", "showers", "windy", "thunderstorms")
    base = rng.randint(5, 28)
    day = int(TODAY[-2:])
    out = []
    for i in range(3):
        high = base + rng.randint(-3, 4)
        low = high - rng.randint(5, 10)
        out.append(f"{TODAY[:-2]}{day + i:02d}: {rng.choice(conditions)}, high {high}C / low {low}C")
    return out


@octo_function(
    side_effects=True,
    examples=[{"recipient": "jane.doe@example.com", "title": "Lunch", "content": "See you at noon."}],
)
def send_email(
    state: DeviceState,
    recipient: Annotated[str, Field(pattern=EMAIL)],
    title: str,
    content: str,
) -> dict:
    """Sends an email with a subject line and a body to one recipient.

    Args:
        recipient: The recipient's email address, e.g. "jane.doe@example.com".
        title: The subject line, e.g. "Trip photos".
        content: The body text of the email.

    Returns:
        The sent email's id.
    """
    email = {"id": state.new_id("EMAIL"), "recipient": recipient, "title": title, "content": content}
    state.phone.emails.append(email)
    return {"email_id": email["id"], "status": "sent"}


@octo_function(examples=[{"query": "how to make sourdough bread"}])
def search_youtube_videos(state: DeviceState, query: str) -> list[dict]:
    """Searches YouTube for videos matching a query.

    Args:
        query: What to search for, e.g. "guitar lessons for beginners".

    Returns:
        A list of videos, each with a title and a URL.
    """
    rng = state.rng("youtube", query)
    kinds = ("full guide", "in 10 minutes", "tips and tricks", "for beginners", "review", "explained")
    return [
        {"title": f"{query} - {kind}", "url": f"https://www.youtube.com/watch?v={rng.getrandbits(40):010x}"}
        for kind in rng.sample(kinds, 3)
    ]


@octo_function(
    examples=[
        {"origin": "Stanford University", "destination": "San Francisco Airport", "mode": "driving"},
        {"origin": "home", "destination": "Central Park", "mode": "walking"},
    ]
)
def find_route_google_maps(
    state: DeviceState,
    origin: str,
    destination: str,
    mode: Literal["driving", "walking", "bicycling", "transit"] = "driving",
) -> dict:
    """Computes a route between two places with Google Maps.

    Args:
        origin: Starting place, e.g. "Stanford University" or "home".
        destination: Target place, e.g. "San Francisco Airport".
        mode: Means of travel: 'driving', 'walking', 'bicycling' or 'transit'. Default 'driving'.

    Returns:
        Distance in km, duration in minutes and a short summary of the route.
    """
    km = round(state.rng("route", origin, destination).uniform(1.5, 40.0), 1)
    speed = {"driving": 45, "walking": 5, "bicycling": 16, "transit": 25}[mode]  # km/h, urban averages
    return {
        "origin": origin,
        "destination": destination,
        "mode": mode,
        "distance_km": km,
        "duration_min": max(1, round(km / speed * 60)),
        "summary": f"{mode} from {origin} to {destination}",
    }


@octo_function
def check_nest_smoke_detector_status(state: DeviceState) -> dict:
    """Checks the Nest smoke detector: battery level, sensor health and connectivity.

    Returns:
        The detector's battery percentage, sensor state and connectivity.
    """
    return dict(state.phone.smoke_detector)


@octo_function(side_effects=True, examples=[{"contact_name": "Alice", "message": "Running 10 minutes late."}])
def send_text_message(state: DeviceState, contact_name: str, message: str) -> dict:
    """Sends a text message (SMS) to a contact from the address book.

    Args:
        contact_name: The contact's name as saved, e.g. "Alice" or "Mom".
        message: The text to send.

    Returns:
        The message id and the number it went to.
    """
    contact = _contact(state, contact_name)
    sms = {
        "id": state.new_id("SMS"),
        "to": contact["name"],
        "phone_number": contact["phone_number"],
        "message": message,
    }
    state.phone.messages.append(sms)
    return {"message_id": sms["id"], "to": contact["name"], "phone_number": contact["phone_number"]}


@octo_function(side_effects=True, examples=[{"phone_number": "+14155550123"}])
def make_phone_call(state: DeviceState, phone_number: Annotated[str, Field(pattern=E164)]) -> dict:
    """Starts a phone call to a number.

    Args:
        phone_number: Number in E.164 format, e.g. "+14155550123".

    Returns:
        The call id and, if the number is in the contacts, who is being called.
    """
    who = next((c["name"] for c in state.phone.contacts if c["phone_number"] == phone_number), None)
    call = {"id": state.new_id("CALL"), "phone_number": phone_number, "contact": who}
    state.phone.calls.append(call)
    return {"call_id": call["id"], "status": "dialing", "contact": who}


@octo_function(side_effects=True, examples=[{"name": "Jane Doe", "phone_number": "+12345678900"}])
def create_contact(state: DeviceState, name: str, phone_number: Annotated[str, Field(pattern=E164)]) -> dict:
    """Adds a new contact to the phone's address book.

    Args:
        name: Full name, first and last, e.g. "Jane Doe".
        phone_number: Number in E.164 format, e.g. "+12345678900".

    Returns:
        The saved contact.
    """
    if any(
        c["name"].lower() == name.lower() and c["phone_number"] == phone_number for c in state.phone.contacts
    ):
        raise CallError(f"contact {name!r} with {phone_number} already exists")
    contact = {"name": name, "phone_number": phone_number}
    state.phone.contacts.append(contact)
    return contact


@octo_function(side_effects=True, examples=[{"time": "07:30", "label": "Wake up"}, {"time": "18:05"}])
def set_timer_alarm(
    state: DeviceState, time: Annotated[str, Field(pattern=HHMM)], label: str = "alarm"
) -> dict:
    """Sets an alarm for a time of day.

    Args:
        time: Alarm time in 24-hour "HH:MM" format, e.g. "07:12".
        label: A label shown when it rings, e.g. "Gym". Default "alarm".

    Returns:
        The alarm's id, time and label.
    """
    alarm = {"alarm_id": state.new_id("ALARM"), "time": time, "label": label}
    state.phone.alarms.append(alarm)
    return alarm


@octo_function(side_effects=True, examples=[{"level": 3}, {"level": 10}])
def change_screen_brightness(state: DeviceState, level: Annotated[int, Field(ge=0, le=10)]) -> dict:
    """Sets the screen brightness.

    Args:
        level: Brightness from 0 (dimmest) to 10 (brightest).

    Returns:
        The previous and the new level.
    """
    before, state.phone.brightness = state.phone.brightness, level
    return {"previous": before, "level": level}


@octo_function(
    side_effects=True,
    examples=[{"title": "Team sync", "start_time": "2025-06-03-10-00", "end_time": "2025-06-03-10-30"}],
)
def create_calendar_event(
    state: DeviceState,
    title: str,
    start_time: Annotated[str, Field(pattern=STAMP)],
    end_time: Annotated[str, Field(pattern=STAMP)],
) -> dict:
    """Schedules an event in the calendar.

    Args:
        title: Event title, e.g. "Dentist".
        start_time: Start as "YYYY-MM-DD-HH-MM", e.g. "2025-06-03-14-30".
        end_time: End as "YYYY-MM-DD-HH-MM", after the start, e.g. "2025-06-03-15-00".

    Returns:
        The event's id, title, start and end.
    """
    if end_time <= start_time:  # zero-padded fixed-width stamps sort like times
        raise CallError(f"end_time {end_time} is not after start_time {start_time}")
    event = {
        "event_id": state.new_id("EVENT"),
        "title": title,
        "start_time": start_time,
        "end_time": end_time,
    }
    state.phone.calendar.append(event)
    return event


@octo_function(
    side_effects=True, examples=[{"level": 0, "volume_type": "ring"}, {"level": 7, "volume_type": "media"}]
)
def set_volume(
    state: DeviceState,
    level: Annotated[int, Field(ge=0, le=10)],
    volume_type: Literal["ring", "media", "alarm"],
) -> dict:
    """Sets the volume of the ringer, media or alarm.

    Args:
        level: Volume from 0 (mute) to 10 (loudest).
        volume_type: Which volume: 'ring', 'media' or 'alarm'.

    Returns:
        The previous and the new level.
    """
    before = state.phone.volume[volume_type]
    state.phone.volume[volume_type] = level
    return {"volume_type": volume_type, "previous": before, "level": level}


@octo_function(
    side_effects=True, examples=[{"device_name": "AirPods Pro", "timeout": 10}, {"device_name": "car audio"}]
)
def connect_to_bluetooth_device(
    state: DeviceState,
    device_name: str,
    timeout: Annotated[int, Field(ge=1, le=120)] = 10,
) -> dict:
    """Connects to a nearby Bluetooth device by name.

    Args:
        device_name: The device's name, e.g. "AirPods Pro" or "car audio".
        timeout: Seconds to keep trying, 1 to 120. Default 10.

    Returns:
        The connected device's full name.
    """
    key = device_name.strip().lower()
    found = [d for d in state.phone.bluetooth_nearby if key == d.lower()] or [
        d for d in state.phone.bluetooth_nearby if key in d.lower()
    ]
    if len(found) != 1:
        nearby = ", ".join(state.phone.bluetooth_nearby)
        raise CallError(
            f"no single Bluetooth device matches {device_name!r} within {timeout}s (nearby: {nearby})"
        )
    state.phone.bluetooth_connected = found[0]
    return {"connected": True, "device_name": found[0]}


@octo_function(side_effects=True, examples=[{"enabled": True}, {"enabled": False}])
def enable_do_not_disturb(state: DeviceState, enabled: bool) -> dict:
    """Turns Do Not Disturb mode on or off.

    Args:
        enabled: true to turn Do Not Disturb on, false to turn it off.

    Returns:
        The new Do Not Disturb setting.
    """
    state.phone.do_not_disturb = enabled
    return {"do_not_disturb": enabled}


@octo_function(side_effects=True, examples=[{"target_temperature": 72}, {"target_temperature": 68.5}])
def set_nest_temperature(
    state: DeviceState, target_temperature: Annotated[float, Field(ge=50, le=90)]
) -> dict:
    """Sets the Nest thermostat's target temperature.

    Args:
        target_temperature: Degrees Fahrenheit, from 50 to 90, e.g. 72.

    Returns:
        The previous and the new target temperature.
    """
    before, state.phone.thermostat_f = state.phone.thermostat_f, float(target_temperature)
    return {"previous_f": before, "target_f": float(target_temperature)}


@octo_function(side_effects=True, examples=[{"music_service": "Spotify", "music_name": "Morning Jazz"}])
def play_music_on_nest_hub(state: DeviceState, music_service: str, music_name: str) -> dict:
    """Plays music on the Google Nest speaker from a streaming service.

    Args:
        music_service: Streaming service, e.g. "Spotify" or "YouTube Music".
        music_name: Song, album or playlist to play, e.g. "Morning Jazz".

    Returns:
        What is now playing and where.
    """
    state.phone.nest_hub = {"kind": "music", "service": music_service, "name": music_name}
    return {"now_playing": music_name, "service": music_service, "device": "Nest Audio"}


@octo_function(side_effects=True, examples=[{"video_service": "Netflix", "video_name": "Planet Earth"}])
def play_video_on_nest_hub(state: DeviceState, video_service: str, video_name: str) -> dict:
    """Plays a video on the Google Nest Hub screen from a streaming service.

    Args:
        video_service: Streaming service, e.g. "YouTube" or "Netflix".
        video_name: Video or playlist to play, e.g. "Planet Earth".

    Returns:
        What is now playing and where.
    """
    state.phone.nest_hub = {"kind": "video", "service": video_service, "name": video_name}
    return {"now_playing": video_name, "service": video_service, "device": "Nest Hub"}


@octo_function(side_effects=True, examples=[{"status": "lock"}, {"status": "open"}])
def open_or_lock_door(state: DeviceState, status: Literal["open", "lock"]) -> dict:
    """Opens or locks the front door's smart lock.

    Args:
        status: 'open' to unlock and open, 'lock' to lock.

    Returns:
        The door's previous and new state.
    """
    before = state.phone.door
    state.phone.door = "open" if status == "open" else "locked"
    return {"previous": before, "door": state.phone.door}


DOMAIN = domain_from_module(
    "android",
    globals(),
    "Phone and smart-home control: messages, calls, contacts, alarms, calendar, settings, Nest devices.",
)
