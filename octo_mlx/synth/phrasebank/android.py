"""Phrase bank of the android domain: the twenty Octopus-v2 phone and smart-home functions.

Placeholders: ``{x}`` is the canonical value (in steps and queries), ``{x_q}``/``{x_q2}`` are
user-side renderings of the same value ("7:30 pm" for ``{time}`` = "19:30"). Every value a
step names appears, in some form, in each query clause (tests/test_offline.py checks it).
Contacts and Bluetooth devices come from the simulated world so generated plans also execute.
"""

from __future__ import annotations

import random

from octo_mlx.domains import world
from octo_mlx.synth.phrasebank import gold, pools
from octo_mlx.synth.phrasebank.slots import clock, day, email_address, level, phone, pick, spoken_clock
from octo_mlx.synth.phrasebank.spec import FunctionPhrases, Slots, fam, slots

# Contacts that exist in every seeded world (first names are unique there), so texts resolve.
WORLD_CONTACTS = (*world.FIRST_NAMES, *world.FAMILY)


def _photo(r: random.Random) -> Slots:
    camera = pick(r, ("front", "back"))
    shot = (
        "selfie" if camera == "front" and r.random() < 0.6 else pick(r, ("photo", "picture", "pic", "shot"))
    )
    desc = {"front": pick(r, ("front-facing", "selfie")), "back": pick(r, ("rear", "main"))}[camera]
    return slots({"camera": camera}, camera_q=f"{shot} with the {camera} camera", camera_q2=f"{desc} camera")


def _news(r: random.Random) -> Slots:
    topic = pick(r, pools.NEWS_TOPICS)
    if r.random() < 0.5:
        name, code = pick(r, pools.LANGUAGES)
        return slots({"query": topic, "language": code}, topic=topic, in_lang=f" in {name}")
    return slots({"query": topic}, topic=topic, in_lang="")


def _weather(r: random.Random) -> Slots:
    return slots({"location": pick(r, pools.CITIES)})


def _recipient(r: random.Random) -> tuple[str, str, str]:
    """(address argument, query form, step form): "me" in a query is "myself" in the step."""
    if r.random() < 0.25:
        return "me@example.com", pick(r, ("me", "myself", "my own inbox")), "myself"
    addr = email_address(r)
    return addr, addr, addr


def _email(r: random.Random) -> Slots:
    addr, rq, rs = _recipient(r)
    title, content = pick(r, pools.EMAILS)
    return slots(
        {"recipient": addr, "title": title, "content": content},
        recipient=rs,
        recipient_q=rq,
        title_q=title.lower(),
    )


def _yt(r: random.Random) -> Slots:
    q = pick(r, pools.VIDEO_QUERIES)
    return slots({"query": q}, vquery=q)


_MODES = {
    "driving": (("by car", "driving", "if I drive"), "drive"),
    "walking": (("on foot", "walking", "if I walk"), "walk"),
    "bicycling": (("by bike", "cycling", "if I bike"), "bike"),
    "transit": (("by public transport", "by transit", "taking the bus"), "take transit"),
}


def _route(r: random.Random) -> Slots:
    # Local trips: landmarks and streets, not cities on other continents.
    origin, destination = r.sample(pools.PLACES, 2)
    if r.random() < 0.25:
        destination = f"{r.randint(1, 299)} {pick(r, pools.STREETS)}"
    mode = pick(r, tuple(_MODES))
    phrases, verb = _MODES[mode]
    return slots(
        {"origin": origin, "destination": destination, "mode": mode},
        mode_q=pick(r, phrases),
        mode_q2=verb,
    )


def _nothing(r: random.Random) -> Slots:
    return slots({})


def _text2(r: random.Random) -> Slots:
    contact, message = pick(r, WORLD_CONTACTS), pick(r, pools.TEXT_MESSAGES)
    return slots({"contact_name": contact, "message": message}, contact=contact)


def _call(r: random.Random) -> Slots:
    e164, shown = phone(r)
    return slots({"phone_number": e164}, phone=e164, phone_q=shown)


def _contact(r: random.Random) -> Slots:
    name = f"{pick(r, pools.FIRST_NAMES)} {pick(r, pools.LAST_NAMES)}"
    e164, shown = phone(r)
    return slots({"name": name, "phone_number": e164}, phone=e164, phone_q=shown)


def _alarm(r: random.Random) -> Slots:
    hhmm, spoken = clock(r)
    if r.random() < 0.7:
        label = pick(r, pools.ALARM_LABELS)
        label_q = pick(
            r, (f' labeled "{label}"', f' called "{label}"', f" with the label {label}", f' named "{label}"')
        )
        return slots(
            {"time": hhmm, "label": label}, time_q=spoken, label=f' labeled "{label}"', label_q=label_q
        )
    return slots({"time": hhmm}, time_q=spoken, label="", label_q="")


def _brightness(r: random.Random) -> Slots:
    n, shown = level(r)
    return slots({"level": n}, level_q=shown)


def _event(r: random.Random) -> Slots:
    iso, date_q, date_s = day(r)
    h, m = r.randint(7, 20), pick(r, (0, 0, 30, 15, 45))
    end = min(h * 60 + m + pick(r, (30, 45, 60, 60, 90, 120)), 23 * 60 + 30)
    eh, em = divmod(end, 60)
    return slots(
        {
            "title": pick(r, pools.EVENT_TITLES),
            "start_time": f"{iso}-{h:02d}-{m:02d}",
            "end_time": f"{iso}-{eh:02d}-{em:02d}",
        },
        date=date_s,
        date_q=date_q,
        start=f"{h:02d}:{m:02d}",
        end=f"{eh:02d}:{em:02d}",
        start_q=spoken_clock(r, h, m),
        end_q=spoken_clock(r, eh, em),
    )


_VOLUME_WORDS = {
    "ring": ("ringer volume", "ring volume", "ringtone volume", "ringer"),
    "media": ("media volume", "music volume", "media sound"),
    "alarm": ("alarm volume", "alarm sound"),
}


def _volume(r: random.Random) -> Slots:
    n, shown = level(r)
    kind = pick(r, ("ring", "media", "alarm"))
    return slots({"level": n, "volume_type": kind}, level_q=shown, volume_type_q=pick(r, _VOLUME_WORDS[kind]))


def _bluetooth(r: random.Random) -> Slots:
    device = pick(r, world.BLUETOOTH)
    if r.random() < 0.2:
        t = pick(r, (5, 10, 15, 20, 30, 60))
        return slots(
            {"device_name": device, "timeout": t},
            device=device,
            timeout=f" with a {t}-second timeout",
            timeout_q=pick(r, (f" within {t} seconds", f" (give it {t} seconds)", f", {t}s timeout")),
        )
    return slots({"device_name": device}, device=device, timeout="", timeout_q="")


_DND = {
    True: (
        "on",
        ("turn on", "enable", "switch on", "activate"),
        (
            "silence all my notifications",
            "put my phone on do not disturb",
            "stop all notifications for a while",
            "mute my notifications",
        ),
        (
            "can you switch on do not disturb",
            "could you put my phone in do not disturb mode",
            "would you turn do not disturb on",
        ),
        (
            "I don't want to be disturbed",
            "I need some quiet, no notifications please",
            "I'd like to not get any notifications",
        ),
    ),
    False: (
        "off",
        ("turn off", "disable", "switch off", "deactivate"),
        (
            "take my phone off do not disturb",
            "let notifications come through again",
            "unmute my notifications",
            "end do not disturb",
        ),
        (
            "can you switch off do not disturb",
            "could you take my phone out of do not disturb mode",
            "would you turn do not disturb off",
        ),
        (
            "I want my notifications back",
            "I don't need do not disturb anymore",
            "I'd like to get notifications again",
        ),
    ),
}


def _dnd(r: random.Random) -> Slots:
    enabled = r.random() < 0.6
    word, verbs, casual, ask, need = _DND[enabled]
    return slots(
        {"enabled": enabled},
        on_off=word,
        on_off_q=pick(r, verbs),
        on_off_q2=pick(r, casual),
        on_off_q3=pick(r, ask),
        on_off_q4=pick(r, need),
    )


def _temperature(r: random.Random) -> Slots:
    t = float(r.randint(60, 80)) if r.random() < 0.85 else r.randint(120, 160) / 2
    shown = f"{t:g}"
    return slots(
        {"target_temperature": t},
        temp=shown,
        temp_q=pick(r, (f"{shown} degrees", f"{shown}°F", f"{shown} degrees Fahrenheit", f"{shown}")),
    )


def _music(r: random.Random) -> Slots:
    service, name = pick(r, pools.MUSIC_SERVICES), pick(r, pools.MUSIC)
    return slots({"music_service": service, "music_name": name}, service=service, music=name)


def _nest_video(r: random.Random) -> Slots:
    service = pick(r, pools.VIDEO_SERVICES)
    name = pick(r, pools.VIDEO_QUERIES) if service == "YouTube" else pick(r, pools.TITLES)
    return slots({"video_service": service, "video_name": name}, service=service, video=name)


_DOOR = {
    "lock": (
        ("lock the front door", "lock up the front door", "lock the door"),
        ("make sure the front door is locked", "secure the front door", "bolt the front door"),
        ("can you lock the front door", "could you lock the door for me"),
        ("I want the front door locked", "I forgot to lock the front door, lock it"),
        ("door: lock", "lock front door"),
    ),
    "open": (
        ("open the front door", "unlock the front door", "unlock and open the door"),
        ("let someone in through the front door", "pop the front door open", "buzz the front door open"),
        ("can you open the front door", "could you unlock the front door for me"),
        ("I need the front door open", "I want the front door unlocked and open"),
        ("door: open", "open front door"),
    ),
}


def _door(r: random.Random) -> Slots:
    status = pick(r, ("lock", "open"))
    direct, casual, ask, need, terse = _DOOR[status]
    return slots(
        {"status": status},
        status_q=pick(r, direct),
        status_q2=pick(r, casual),
        status_q3=pick(r, ask),
        status_q4=pick(r, need),
        status_q5=pick(r, terse),
    )


# The bank proper: one family per line or two (hand-wrapped; ruff would put one string per line).
# fmt: off
PHRASES = (
    FunctionPhrases(
        "take_a_photo", _photo,
        steps=("Take a photo with the {camera} camera", "Take a picture using the {camera} camera",
               "Capture an image with the {camera} camera",
               "Snap a photo using the {camera} camera", "Use the {camera} camera to take a picture",
               "photo with {camera} camera", "Please take a shot with the phone's {camera} camera"),
        families=(
            fam("direct", "vp", "take a {camera_q}", "snap a {camera_q}", "capture a {camera_q}"),
            fam("casual", "vp", "grab a quick shot using the {camera_q2}",
                "get a picture off the {camera_q2}", "shoot a pic with my {camera_q2}"),
            fam("ask", "q", "can you take a {camera_q}", "could you snap a {camera_q} for me",
                "would you take a quick {camera_q}"),
            fam("need", "s", "I want a {camera_q}", "I'd like to take a {camera_q}",
                "I need a {camera_q} right now"),
            fam("terse", "t", "photo, {camera_q2}", "{camera_q2} pic", "cam ({camera_q2}): photo"),
        ),
        holdout="casual", produces="photo",
    ),
    FunctionPhrases(
        "get_trending_news", _news,
        steps=("Find articles about {topic}{in_lang}", "Get trending news about {topic}{in_lang}",
               "Search for the latest news on {topic}{in_lang}",
               "Pull up trending news on {topic}{in_lang}", "Fetch the top headlines about {topic}{in_lang}",
               "news articles on {topic}{in_lang}",
               "Please show me what's trending in the news about {topic}{in_lang}"),
        families=(
            fam("direct", "vp", "find news about {topic}{in_lang}", "get the latest news on {topic}{in_lang}",
                "pull up trending articles about {topic}{in_lang}"),
            fam("casual", "vp", "catch me up on {topic}{in_lang}", "dig up headlines about {topic}{in_lang}",
                "see what's trending with {topic}{in_lang}"),
            fam("ask", "q", "what's the latest news on {topic}{in_lang}", "any news about {topic}{in_lang}",
                "what are the top stories about {topic}{in_lang}"),
            fam("need", "s", "I want to read the news about {topic}{in_lang}",
                "I'd like the trending stories on {topic}{in_lang}",
                "I need to know what's happening with {topic}{in_lang}"),
            fam("terse", "t", "news: {topic}{in_lang}", "{topic} headlines{in_lang}",
                "trending news re {topic}{in_lang}"),
        ),
        holdout="ask", produces="articles",
    ),
    FunctionPhrases(
        "get_weather_forecast", _weather,
        steps=("Get the weather forecast for {location}", "Check the weather forecast in {location}",
               "Look up the weather forecast for {location}",
               "Fetch the forecast for {location}", "Find out what the weather will be like in {location}",
               "weather forecast, {location}", "Please pull up the {location} weather forecast"),
        families=(
            fam("direct", "vp", "check the weather forecast for {location}",
                "get the forecast for {location}", "look up the weather in {location}"),
            fam("casual", "vp", "tell me if I need an umbrella in {location}",
                "see what the weather's doing in {location}", "check if it's going to rain in {location}"),
            fam("ask", "q", "what's the weather going to be like in {location}",
                "how's the weather looking in {location}", "will it rain in {location} this week"),
            fam("need", "s", "I need the weather forecast for {location}",
                "I'd like to know the forecast in {location}", "I want to see the weather for {location}"),
            fam("terse", "t", "weather {location}", "{location} forecast", "forecast: {location}"),
        ),
        holdout="need", produces="forecast",
    ),
    FunctionPhrases(
        "send_email", _email,
        steps=('Send an email to {recipient} with the subject "{title}" and the message "{content}"',
               'Email {recipient} with the title "{title}" saying "{content}"',
               'Compose an email to {recipient} titled "{title}" with the body "{content}"',
               'Write an email to {recipient}, subject "{title}", saying "{content}"',
               'Send {recipient} an email titled "{title}" that reads "{content}"',
               "email to {recipient} - subject: {title}, body: {content}",
               'Please email {recipient} about "{title}" and write "{content}"'),
        families=(
            fam("direct", "vp", 'email {recipient_q} with the subject "{title}" saying {content}',
                'send an email to {recipient_q} titled "{title}": {content}',
                "write an email to {recipient_q} about {title_q}, saying {content}",
                after=("email {ref} to {recipient_q}", "send {ref} to {recipient_q} by email")),
            fam("casual", "vp", "drop {recipient_q} a line about {title_q}: {content}",
                'shoot an email over to {recipient_q} ("{title}") that says {content}',
                "fire off a mail to {recipient_q}, subject {title}, telling them {content}",
                after=("forward {ref} to {recipient_q}", "shoot {ref} over to {recipient_q} in an email")),
            fam("ask", "q", 'could you send {recipient_q} an email called "{title}" that says {content}',
                "would you email {recipient_q} about {title_q} and write {content}",
                'can you mail {recipient_q} with subject "{title}" and the text "{content}"',
                after=("could you email {ref} to {recipient_q}",
                       "can you send {ref} to {recipient_q} by email")),
            fam("need", "s", "I need to email {recipient_q} about {title_q}: {content}",
                'I want an email sent to {recipient_q} with subject {title} and body "{content}"',
                'I have to write {recipient_q} an email titled "{title}" to say {content}',
                after=("I want {ref} emailed to {recipient_q}", "I need {ref} in an email to {recipient_q}")),
            fam("terse", "t", "email {recipient_q} re {title}: {content}",
                "mail to {recipient_q}, subj {title}, body: {content}",
                'email -> {recipient_q} "{title}": {content}',
                after=("{ref} -> email {recipient_q}", "email {ref} to {recipient_q} pls")),
        ),
        holdout="casual", consumes=("*",),
        steps_after=("Email {ref} to {recipient}", "Send {ref} to {recipient} by email",
                     "Forward {ref} to {recipient} in an email",
                     "Send {recipient} an email containing {ref}", "Mail {ref} to {recipient}",
                     "email {ref} over to {recipient}"),
        fill=gold.forward_by_email,
    ),
    FunctionPhrases(
        "search_youtube_videos", _yt,
        steps=("Search YouTube for videos about {vquery}", 'Search YouTube for "{vquery}"',
               "Look up YouTube videos on {vquery}",
               "Find videos of {vquery} on YouTube", "Run a YouTube search for {vquery}",
               "YouTube video search: {vquery}", "Please look for {vquery} videos on YouTube"),
        families=(
            fam("direct", "vp", "search YouTube for {vquery}", "find YouTube videos about {vquery}",
                "look up {vquery} on YouTube"),
            fam("casual", "vp", "pull up some {vquery} videos on YouTube",
                "find me a YouTube clip of {vquery}", "queue up YouTube results for {vquery}"),
            fam("ask", "q", "can you find a YouTube video on {vquery}",
                "are there any good YouTube videos about {vquery}", "could you search YouTube for {vquery}"),
            fam("need", "s", "I want to watch {vquery} videos on YouTube",
                "I'd like to see YouTube videos of {vquery}",
                "I'm looking for a YouTube video about {vquery}"),
            fam("terse", "t", "yt: {vquery}", "youtube {vquery}", "YouTube search - {vquery}"),
        ),
        holdout="terse", produces="videos",
    ),
    FunctionPhrases(
        "find_route_google_maps", _route,
        steps=("Find a {mode} route from {origin} to {destination}",
               "Get {mode} directions from {origin} to {destination} on Google Maps",
               "Plan a {mode} route on Google Maps from {origin} to {destination}",
               "Show the {mode} route from {origin} to {destination} in Google Maps",
               "{mode} directions from {origin} to {destination}",
               "Navigate from {origin} to {destination} with Google Maps, mode: {mode}",
               "Please work out a {mode} route between {origin} and {destination}"),
        families=(
            fam("direct", "vp", "find a route from {origin} to {destination} {mode_q}",
                "get directions from {origin} to {destination} {mode_q}",
                "map the way from {origin} to {destination} {mode_q}"),
            fam("casual", "vp", "show me how to get from {origin} to {destination} {mode_q}",
                "figure out the best way from {origin} to {destination} {mode_q}",
                "work out a path from {origin} to {destination} {mode_q}"),
            fam("ask", "q", "how do I get from {origin} to {destination} {mode_q}",
                "what's the fastest way from {origin} to {destination} {mode_q}",
                "how long does it take to get from {origin} to {destination} {mode_q}"),
            fam("need", "s", "I need to {mode_q2} from {origin} to {destination}, so find me a route",
                "I have to {mode_q2} from {origin} to {destination} and need directions",
                "I want directions from {origin} to {destination} {mode_q}"),
            fam("terse", "t", "route {origin} -> {destination} ({mode})", "{origin} to {destination}, {mode}",
                "directions: {origin} to {destination} {mode_q}"),
        ),
        holdout="need", produces="route",
    ),
    FunctionPhrases(
        "check_nest_smoke_detector_status", _nothing,
        steps=("Check the Nest smoke detector status", "Check the status of the Nest smoke detector",
               "Get the battery and sensor status of the Nest smoke detector",
               "Run a status check on the Nest smoke detector",
               "Make sure the Nest smoke detector is working", "nest smoke detector: check status",
               "Please report how the Nest smoke detector is doing"),
        families=(
            fam("direct", "vp", "check the smoke detector", "check the status of my Nest smoke detector",
                "run a check on the smoke alarm"),
            fam("casual", "vp", "make sure the smoke alarm is working",
                "see if the smoke detector battery is okay", "double-check the Nest Protect"),
            fam("ask", "q", "is my smoke detector working", "how's the battery on the smoke detector",
                "is the smoke alarm online"),
            fam("need", "s", "I want to know if the smoke detector is OK",
                "I'd like a status report on the smoke detector", "I need to be sure the smoke alarm works"),
            fam("terse", "t", "smoke detector status", "nest protect check", "smoke alarm?"),
        ),
        holdout="ask", produces="smoke_status",
    ),
    FunctionPhrases(
        "send_text_message", _text2,
        steps=('Send a text message to {contact} saying "{message}"', 'Text {contact}: "{message}"',
               'Send an SMS to {contact} with the message "{message}"',
               'Message {contact}: "{message}"', 'Let {contact} know by text: "{message}"',
               "text to {contact} - {message}", 'Write {contact} an SMS that says "{message}"'),
        families=(
            fam("direct", "vp", 'text {contact} "{message}"', "send a text to {contact} saying {message}",
                'send {contact} a message: "{message}"',
                after=("text {ref} to {contact}", "send {ref} to {contact} by text")),
            fam("casual", "vp", 'ping {contact} with "{message}"', "drop {contact} a text: {message}",
                'shoot {contact} a quick text, "{message}"',
                after=("ping {contact} with {ref}", "shoot {contact} a text with {ref}")),
            fam("ask", "q", "can you text {contact} and say {message}",
                'could you send {contact} a text saying "{message}"',
                'would you message {contact} "{message}"',
                after=("could you text {contact} {ref}", "can you send {contact} {ref} in a text")),
            fam("need", "s", 'I need to let {contact} know "{message}"',
                "I want {contact} to get a text saying {message}",
                'I have to tell {contact} by text: "{message}"',
                after=("I want {contact} to get {ref} by text", "I need to text {ref} to {contact}")),
            fam("terse", "t", "sms {contact}: {message}", 'txt {contact} - "{message}"',
                "msg {contact}: {message}",
                after=("sms {ref} to {contact}", "txt {contact} {ref}")),
        ),
        holdout="need", consumes=("*",),
        steps_after=("Send {ref} to {contact} in a text message", "Text {ref} to {contact}",
                     "Forward {ref} to {contact} by SMS",
                     "Send {contact} a text with {ref}", "Share {ref} with {contact} over text",
                     "text {contact} {ref}"),
        fill=gold.forward_by_text,
    ),
    FunctionPhrases(
        "make_phone_call", _call,
        steps=("Call {phone}", "Make a phone call to {phone}", "Dial the number {phone}",
               "Place a call to {phone}", "Give {phone} a call", "call number {phone}",
               "Please phone the number {phone}"),
        families=(
            fam("direct", "vp", "call {phone_q}", "dial {phone_q}", "place a call to {phone_q}"),
            fam("casual", "vp", "ring {phone_q}", "give {phone_q} a ring", "get {phone_q} on the line"),
            fam("ask", "q", "can you call {phone_q} for me", "could you dial {phone_q}",
                "would you phone {phone_q}"),
            fam("need", "s", "I need to call {phone_q}", "I have to phone {phone_q} right away",
                "I want to talk to {phone_q}"),
            fam("terse", "t", "call {phone_q} now", "phone: {phone_q}", "dial {phone_q} pls"),
        ),
        holdout="terse",
    ),
    FunctionPhrases(
        "create_contact", _contact,
        steps=("Create a contact named {name} with the phone number {phone}",
               "Add {name} to the contacts with the number {phone}",
               "Save a new contact {name} with the phone number {phone}",
               "Add a new contact: {name}, {phone}", "Store {phone} in the contacts under the name {name}",
               "new contact {name} - {phone}", "Please create a contact for {name} with number {phone}"),
        families=(
            fam("direct", "vp", "add {name} to my contacts with the number {phone_q}",
                "create a contact for {name}, phone {phone_q}",
                "save {name}'s number, {phone_q}, as a new contact"),
            fam("casual", "vp", "put {name} in my phone as {phone_q}", "store {phone_q} under {name}",
                "stick {name} ({phone_q}) in my address book"),
            fam("ask", "q", "can you save {phone_q} as {name}",
                "could you add a contact named {name} with number {phone_q}",
                "would you create a new contact {name}, {phone_q}"),
            fam("need", "s", "I need {name}'s number saved: {phone_q}",
                "I want to add {name} ({phone_q}) to my contacts",
                "I just met {name} and want their number {phone_q} saved"),
            fam("terse", "t", "new contact: {name}, {phone_q}", "contact {name} {phone_q}",
                "add contact - {name} / {phone_q}"),
        ),
        holdout="ask",
    ),
    FunctionPhrases(
        "set_timer_alarm", _alarm,
        steps=("Set an alarm for {time}{label}", "Set a timer alarm at {time}{label}",
               "Schedule an alarm at {time}{label}",
               "Create an alarm for {time}{label}", "Wake me up with an alarm at {time}{label}",
               "alarm at {time}{label}", "Please set the alarm clock for {time}{label}"),
        families=(
            fam("direct", "vp", "set an alarm for {time_q}{label_q}", "create an alarm at {time_q}{label_q}",
                "set a timer alarm for {time_q}{label_q}"),
            fam("casual", "vp", "buzz me at {time_q}{label_q}", "get an alarm going for {time_q}{label_q}",
                "have my phone ring at {time_q}{label_q}"),
            fam("ask", "q", "can you set an alarm for {time_q}{label_q}",
                "could you make an alarm at {time_q}{label_q}",
                "would you put an alarm in for {time_q}{label_q}"),
            fam("need", "s", "I need an alarm at {time_q}{label_q}",
                "I want to be alerted at {time_q}{label_q}",
                "I have to be up at {time_q}, so I need an alarm{label_q}"),
            fam("terse", "t", "alarm {time_q}{label_q}", "alarm @ {time_q}{label_q}",
                "wake-up alarm {time_q}{label_q}"),
        ),
        holdout="casual",
    ),
    FunctionPhrases(
        "change_screen_brightness", _brightness,
        steps=("Set the screen brightness to {level}", "Change the screen brightness to level {level}",
               "Adjust the display brightness to {level}",
               "Make the screen brightness {level}", "Bring the display brightness to {level}",
               "screen brightness at {level}", "Please put the phone's screen brightness at level {level}"),
        families=(
            fam("direct", "vp", "set the screen brightness to {level_q}",
                "change the brightness to {level_q}", "adjust the display brightness to {level_q}"),
            fam("casual", "vp", "crank the brightness to {level_q}", "put my screen at {level_q} brightness",
                "bring the display to {level_q}"),
            fam("ask", "q", "can you set my screen brightness to {level_q}",
                "could you change the brightness to {level_q}",
                "would you adjust the screen to {level_q} brightness"),
            fam("need", "s", "I need the screen brightness at {level_q}",
                "I'd like my display brightness at {level_q}",
                "I want the screen set to {level_q} brightness"),
            fam("terse", "t", "brightness {level_q}", "screen brightness -> {level_q}", "display: {level_q}"),
        ),
        holdout="need",
    ),
    FunctionPhrases(
        "create_calendar_event", _event,
        steps=('Create a calendar event "{title}" {date} from {start} to {end}',
               'Schedule "{title}" in the calendar {date} from {start} to {end}',
               'Add the event "{title}" to the calendar {date} from {start} to {end}',
               'Put "{title}" on the calendar {date} from {start} to {end}',
               'Block {start}-{end} {date} in the calendar for "{title}"',
               'new calendar event "{title}" - {date}, {start} to {end}',
               'Please add a calendar entry called "{title}" {date}, {start} until {end}'),
        families=(
            fam("direct", "vp", 'create a calendar event "{title}" {date_q} from {start_q} to {end_q}',
                "schedule {title} {date_q}, {start_q} to {end_q}",
                "add {title} to my calendar {date_q} from {start_q} until {end_q}"),
            fam("casual", "vp", "block off {start_q} to {end_q} {date_q} for {title}",
                "pencil in {title} {date_q} between {start_q} and {end_q}",
                "put {title} down for {date_q}, {start_q}-{end_q}"),
            fam("ask", "q", "can you put {title} on my calendar {date_q} from {start_q} to {end_q}",
                "could you book {title} in my calendar {date_q}, {start_q} to {end_q}",
                "would you add an event called {title} {date_q} from {start_q} to {end_q}"),
            fam("need", "s", "I need {title} in my calendar {date_q} from {start_q} to {end_q}",
                "I've got {title} {date_q} between {start_q} and {end_q} and want it on my calendar",
                "I want a calendar entry for {title} {date_q}, {start_q} to {end_q}"),
            fam("terse", "t", "cal: {title} {date_q} {start_q}-{end_q}",
                "event {title}, {date_q}, {start_q} to {end_q}",
                "calendar - {title} / {date_q} / {start_q}-{end_q}"),
        ),
        holdout="terse",
    ),
    FunctionPhrases(
        "set_volume", _volume,
        steps=("Set the {volume_type} volume to {level}", "Change the {volume_type} volume to level {level}",
               "Adjust the {volume_type} volume to {level}",
               "Turn the {volume_type} volume to {level}", "Make the {volume_type} volume {level}",
               "{volume_type} volume -> {level}", "Please put the {volume_type} volume at level {level}"),
        families=(
            fam("direct", "vp", "set the {volume_type_q} to {level_q}",
                "change the {volume_type_q} to {level_q}", "adjust the {volume_type_q} to {level_q}"),
            fam("casual", "vp", "put the {volume_type_q} at {level_q}",
                "crank the {volume_type_q} to {level_q}", "bring the {volume_type_q} to {level_q}"),
            fam("ask", "q", "can you set the {volume_type_q} to {level_q}",
                "could you make the {volume_type_q} {level_q}",
                "would you change my {volume_type_q} to {level_q}"),
            fam("need", "s", "I want the {volume_type_q} at {level_q}",
                "I need my {volume_type_q} set to {level_q}", "I'd like the {volume_type_q} on {level_q}"),
            fam("terse", "t", "{volume_type_q} {level_q}", "{volume_type_q} -> {level_q}",
                "vol ({volume_type_q}): {level_q}"),
        ),
        holdout="ask",
    ),
    FunctionPhrases(
        "connect_to_bluetooth_device", _bluetooth,
        steps=("Connect to the Bluetooth device {device}{timeout}",
               "Connect to {device} via Bluetooth{timeout}",
               "Pair the phone with the Bluetooth device {device}{timeout}",
               "Pair with the Bluetooth device {device}{timeout}", "Hook up {device} over Bluetooth{timeout}",
               "bluetooth connect: {device}{timeout}",
               "Please link the phone to {device} using Bluetooth{timeout}"),
        families=(
            fam("direct", "vp", "connect to my {device}{timeout_q}",
                "connect the phone to {device} over Bluetooth{timeout_q}",
                "pair with the {device}{timeout_q}"),
            fam("casual", "vp", "hook up my {device}{timeout_q}", "get my {device} connected{timeout_q}",
                "link the {device} to my phone{timeout_q}"),
            fam("ask", "q", "can you connect my {device} over Bluetooth{timeout_q}",
                "could you pair the {device}{timeout_q}", "would you connect to the {device}{timeout_q}"),
            fam("need", "s", "I'd like to connect to {device} via Bluetooth{timeout_q}",
                "I need my {device} paired{timeout_q}",
                "I want to use my {device}, so connect it{timeout_q}"),
            fam("terse", "t", "bt connect {device}{timeout_q}", "bluetooth: {device}{timeout_q}",
                "pair {device}{timeout_q}"),
        ),
        holdout="casual",
    ),
    FunctionPhrases(
        "enable_do_not_disturb", _dnd,
        steps=("Turn {on_off} Do Not Disturb", "Turn {on_off} Do Not Disturb mode",
               "Switch Do Not Disturb {on_off}",
               "Set Do Not Disturb to {on_off}", "Toggle Do Not Disturb {on_off}",
               "do not disturb mode {on_off}", "Please turn {on_off} Do Not Disturb on the phone"),
        families=(
            fam("direct", "vp", "{on_off_q} Do Not Disturb", "{on_off_q} do not disturb mode"),
            fam("casual", "vp", "{on_off_q2}"),
            fam("ask", "q", "{on_off_q3}"),
            fam("need", "s", "{on_off_q4}"),
            fam("terse", "t", "dnd {on_off}", "do not disturb: {on_off}", "DND {on_off}"),
        ),
        holdout="need",
    ),
    FunctionPhrases(
        "set_nest_temperature", _temperature,
        steps=("Set the Nest thermostat to {temp}°F",
               "Set the Nest thermostat temperature to {temp} degrees Fahrenheit",
               "Change the Nest thermostat setting to {temp}°F",
               "Set the temperature on the Nest to {temp}°F", "Adjust the Nest thermostat to {temp} degrees",
               "nest thermostat -> {temp}°F",
               "Please change the house temperature to {temp}°F on the Nest thermostat"),
        families=(
            fam("direct", "vp", "set the thermostat to {temp_q}", "change the Nest temperature to {temp_q}",
                "set the Nest to {temp_q}"),
            fam("casual", "vp", "bump the heat to {temp_q}", "make it {temp_q} in the house",
                "crank the thermostat to {temp_q}"),
            fam("ask", "q", "can you set the Nest to {temp_q}", "could you adjust the thermostat to {temp_q}",
                "would you change the house temperature to {temp_q}"),
            fam("need", "s", "I want the house at {temp_q}", "I'd like the thermostat at {temp_q}",
                "I need it to be {temp_q} inside"),
            fam("terse", "t", "thermostat {temp_q}", "nest -> {temp_q}", "temp: {temp_q}"),
        ),
        holdout="terse",
    ),
    FunctionPhrases(
        "play_music_on_nest_hub", _music,
        steps=("Play {music} from {service} on the Nest speaker",
               "Play the music {music} on {service} on the Nest Hub",
               "Stream {music} from {service} to the Nest speaker",
               "Put on {music} from {service} on the Nest speaker",
               "Use {service} to play {music} on the Nest speaker",
               "music on the Nest Hub: {music} from {service}",
               "Please start {music} from {service} on the Nest Hub speaker"),
        families=(
            fam("direct", "vp", "play {music} on {service} on the Nest speaker",
                "put on {music} from {service} on the Nest Hub", "stream {music} from {service} to the Nest"),
            fam("casual", "vp", "blast {music} on the Nest from {service}",
                "throw on {music} via {service} on the speaker",
                "get some {music} going on the Nest with {service}"),
            fam("ask", "q", "can you play {music} from {service} on my Nest",
                "could you stream {music} on {service} through the Nest Audio",
                "would you put {music} on the Nest speaker using {service}"),
            fam("need", "s", "I want to hear {music} on {service} on the Nest",
                "I'm in the mood for {music} from {service} on the Nest speaker",
                "I'd love some {music} on the Nest, from {service}"),
            fam("terse", "t", "nest: play {music} ({service})", "{service} {music} on nest",
                "music on nest - {music} / {service}"),
        ),
        holdout="ask",
    ),
    FunctionPhrases(
        "play_video_on_nest_hub", _nest_video,
        steps=("Play {video} from {service} on the Nest Hub",
               "Play the video {video} on {service} on the Nest Hub",
               "Show {video} from {service} on the Nest Hub screen",
               "Put {video} from {service} on the Nest Hub",
               "Use {service} to show the video {video} on the Nest Hub",
               "Nest Hub video: {video} from {service}",
               "Please start playing {video} on {service} on the Nest Hub display"),
        families=(
            fam("direct", "vp", "play {video} on {service} on the Nest Hub",
                "put {video} from {service} on the Nest Hub screen",
                "show {video} from {service} on the Nest Hub"),
            fam("casual", "vp", "throw {video} up on the Nest Hub from {service}",
                "cast {video} from {service} to the Nest display",
                "get {video} going on the Nest Hub with {service}"),
            fam("ask", "q", "can you show {video} from {service} on the Nest Hub",
                "could you start {video} from {service} on the Nest display",
                "would you play {video} on {service} on the hub"),
            fam("need", "s", "I want to watch {video} on {service} on the Nest Hub",
                "I'd like {video} from {service} playing on the Nest screen",
                "I need {video} on the Nest Hub, from {service}"),
            fam("terse", "t", "nest hub: {video} ({service})", "{service} {video} on hub",
                "hub video - {video} / {service}"),
        ),
        holdout="casual",
    ),
    FunctionPhrases(
        "open_or_lock_door", _door,
        steps=("{status} the front door", "{status} the front door with the smart lock",
               "Use the smart lock to {status} the front door",
               "Please {status} the front door", "Have the smart lock {status} the front door",
               "front door: {status}", "Go ahead and {status} the front door"),
        families=(
            fam("direct", "vp", "{status_q}"),
            fam("casual", "vp", "{status_q2}"),
            fam("ask", "q", "{status_q3}"),
            fam("need", "s", "{status_q4}"),
            fam("terse", "t", "{status_q5}"),
        ),
        holdout="terse",
    ),
)
# fmt: on
