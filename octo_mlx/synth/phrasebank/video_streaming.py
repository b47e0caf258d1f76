"""Phrase bank of the video_streaming domain: search, play, pause, watchlist, ratings, downloads.

Titles are drawn mostly from the simulated catalogue (so plans execute) and partly from real
film and show names (so a planner does not learn that only 45 titles exist). After a search or
recommendations, a step can say "play the top result" ("Play the first video found").
"""

from __future__ import annotations

import random

from octo_mlx.domains import world
from octo_mlx.synth.phrasebank import gold, pools
from octo_mlx.synth.phrasebank.slots import pick
from octo_mlx.synth.phrasebank.spec import FunctionPhrases, Slots, fam, slots

WORLD_TITLES = tuple(t for titles in world.TITLE_WORDS.values() for t in titles)
TOPICS = (
    "mars",
    "the ocean",
    "space",
    "robots",
    "dragons",
    "coffee",
    "Paris",
    "the brain",
    "Africa",
    "a haunted house",
    "heists",
    "time travel",
    "chefs",
    "dinosaurs",
    "World War II",
    "football",
    "spies",
    "zombies",
    "a road trip",
    "the Arctic",
    "artificial intelligence",
    "a small town",
    "high school",
    "pirates",
    "the mafia",
    "wolves",
    "a family reunion",
    "climbing Everest",
    "a courtroom",
    "aliens",
    "a bakery",
    "the deep sea",
    "code breakers",
)
_GENRE_WORDS = {
    "sci-fi": ("sci-fi", "science fiction"),
    "animation": ("animated", "animation"),
    "documentary": ("documentary",),
    "romance": ("romance", "romantic"),
}
_QUALITY = {"480p": "480p", "720p": "720p", "1080p": "1080p", "4k": "4K"}


def _title(r: random.Random) -> str:
    return pick(r, WORLD_TITLES) if r.random() < 0.6 else pick(r, pools.TITLES)


def _genre(r: random.Random, share: float) -> tuple[str | None, str, str]:
    """(enum value or None, step word with a trailing space, query word with a trailing space)."""
    if r.random() >= share:
        return None, "", ""
    g = pick(r, world.GENRES)
    return g, f"{g} ", f"{pick(r, _GENRE_WORDS.get(g, (g,)))} "


def _search(r: random.Random) -> Slots:
    topic = pick(r, TOPICS)
    g, gs, gq = _genre(r, 0.35)
    args = {"query": topic, **({"genre": g} if g else {})}
    return slots(args, topic=topic, genre=gs, genre_q=gq)


def _titled(r: random.Random) -> Slots:
    t = _title(r)
    return slots({"title": t}, title=t)


def _nothing(r: random.Random) -> Slots:
    return slots({})


def _recommend(r: random.Random) -> Slots:
    g, gs, gq = _genre(r, 0.6)
    return slots({"genre": g} if g else {}, genre=gs, genre_q=gq)


def _rate(r: random.Random) -> Slots:
    t, n = _title(r), r.randint(1, 5)
    word = ("one", "two", "three", "four", "five")[n - 1]
    unit = "star" if n == 1 else "stars"
    return slots(
        {"title": t, "rating": n},
        title=t,
        stars=f"{n} {unit}",
        stars_q=pick(r, (f"{n} {unit}", f"{word} {unit}", f"{n} out of 5", f"{n}/5")),
    )


def _download(r: random.Random) -> Slots:
    t = _title(r)
    if r.random() < 0.4:
        q = pick(r, tuple(_QUALITY))
        shown = _QUALITY[q]
        return slots(
            {"title": t, "quality": q},
            title=t,
            quality=f" in {shown}",
            quality_q=pick(r, (f" in {shown}", f" at {shown}", f" ({shown})")),
        )
    return slots({"title": t}, title=t, quality="", quality_q="")


def _subtitles(r: random.Random) -> Slots:
    """On and off read differently, so the sampler words the whole step (``{sub0}``..``{sub2}``, one
    per step template) and clause."""
    if r.random() < 0.2:
        return slots(
            {"language": "off"},
            sub0="Turn off the subtitles",
            sub1="Switch the subtitles off",
            sub2="Hide the subtitles",
            sub_q=pick(r, ("turn off the subtitles", "switch subtitles off", "disable captions")),
            sub_q2=pick(r, ("get rid of the subtitles", "kill the captions", "lose the subtitles")),
            sub_q3=pick(r, ("can you turn the subtitles off", "could you hide the captions")),
            sub_q4=pick(r, ("I don't need subtitles anymore", "I'd rather watch without subtitles")),
            sub_q5=pick(r, ("subs off", "captions: off")),
        )
    lang = pick(r, pools.LANGUAGES)[0]
    return slots(
        {"language": lang},
        sub0=f"Turn on {lang} subtitles",
        sub1=f"Set the subtitles to {lang}",
        sub2=f"Show the subtitles in {lang}",
        sub_q=pick(
            r, (f"turn on {lang} subtitles", f"set the subtitles to {lang}", f"enable {lang} captions")
        ),
        sub_q2=pick(r, (f"put the subs in {lang}", f"switch the captions to {lang}", f"give me {lang} subs")),
        sub_q3=pick(r, (f"can you turn on {lang} subtitles", f"could you show {lang} captions")),
        sub_q4=pick(r, (f"I want {lang} subtitles", f"I'd like the subtitles in {lang}")),
        sub_q5=pick(r, (f"subs: {lang}", f"captions {lang}")),
    )


_CONSUMES = ("video_results", "recommendations")


# The bank proper: one family per line or two (hand-wrapped; ruff would put one string per line).
# fmt: off
PHRASES = (
    FunctionPhrases(
        "search_videos", _search,
        steps=("Search for {genre}videos about {topic}",
               'Search the catalogue for {genre}titles matching "{topic}"',
               "Browse the catalogue for {genre}movies about {topic}", "Look for {genre}shows about {topic}",
               "Find {genre}films about {topic}", "search {genre}videos: {topic}",
               "Please search the video catalogue for {genre}content about {topic}"),
        families=(
            fam("direct", "vp", "search for {genre_q}videos about {topic}",
                "find {genre_q}films or shows about {topic}", "look up {genre_q}titles about {topic}"),
            fam("casual", "vp", "hunt for {genre_q}stuff to watch about {topic}",
                "dig up {genre_q}movies about {topic}", "scroll through {genre_q}shows about {topic}"),
            fam("ask", "q", "do you have any {genre_q}movies about {topic}",
                "what {genre_q}shows are there about {topic}",
                "is there anything {genre_q}about {topic} to watch"),
            fam("need", "s", "I'm in the mood for {genre_q}movies about {topic}",
                "I want to find {genre_q}shows about {topic}",
                "I'd like to watch something {genre_q}about {topic}"),
            fam("terse", "t", "search {genre_q}titles: {topic}", "find {genre_q}videos - {topic}",
                "{topic} ({genre_q}search)"),
        ),
        holdout="ask", produces="video_results", chain=("watch", 0),
    ),
    FunctionPhrases(
        "play_video", _titled,
        steps=("Play {title}", "Start playing {title}", "Begin streaming {title}", "Put on {title}",
               "Please play {title}", "Stream {title} now", "Start watching {title}"),
        families=(
            fam("direct", "vp", "play {title}", "start {title}", "put on {title}",
                after=("play {ref}", "start {ref}")),
            fam("casual", "vp", "fire up {title}", "throw on {title}", "get {title} going",
                after=("fire up {ref}", "throw on {ref}")),
            fam("ask", "q", "can you play {title}", "could you start {title} for me",
                "would you put {title} on",
                after=("can you play {ref}", "could you start {ref}")),
            fam("need", "s", "I want to watch {title}", "I'd like to see {title} now",
                "I feel like watching {title}",
                after=("I want to watch {ref}", "I'd like to start {ref}")),
            fam("terse", "t", "play: {title}", "{title} - play", "watch {title}",
                after=("play {ref}", "{ref} -> play")),
        ),
        holdout="casual", consumes=_CONSUMES, chain=("watch", 1),
        steps_after=("Play {ref}", "Start playing {ref}", "Begin streaming {ref}", "Put on {ref}",
                     "Please play {ref}", "Start watching {ref}"),
        fill=gold.title,
    ),
    FunctionPhrases(
        "pause_playback", _nothing,
        steps=("Pause the playback", "Pause the video that is playing", "Put the playback on hold",
               "Pause the video", "Hit pause on what is playing", "pause playback",
               "Please pause the current video"),
        families=(
            fam("direct", "vp", "pause the video", "pause playback", "pause what's playing"),
            fam("casual", "vp", "hold it there", "freeze the show for a sec", "put the movie on hold"),
            fam("ask", "q", "can you pause this", "could you pause what's playing",
                "would you stop the video for a moment"),
            fam("need", "s", "I need to step away, so pause it", "I want the movie paused",
                "I'll be right back, pause the show"),
            fam("terse", "t", "pause", "pause pls", "video: pause"),
        ),
        holdout="need", chain=("watch", 2),
    ),
    FunctionPhrases(
        "add_to_watchlist", _titled,
        steps=("Add {title} to the watchlist", "Put {title} on the watchlist",
               "Save {title} to the watchlist", "Bookmark {title} to watch later",
               "Please add {title} to my watchlist", "watchlist: add {title}",
               "Mark {title} as something to watch later"),
        families=(
            fam("direct", "vp", "add {title} to my watchlist", "put {title} on my watchlist",
                "add {title} to my list",
                after=("add {ref} to my watchlist", "put {ref} on my watchlist")),
            fam("casual", "vp", "save {title} for later", "bookmark {title}", "stash {title} for the weekend",
                after=("save {ref} for later", "bookmark {ref}")),
            fam("ask", "q", "can you add {title} to my list", "could you put {title} on the watchlist",
                "would you save {title} to my watchlist",
                after=("can you add {ref} to my watchlist", "could you save {ref} for later")),
            fam("need", "s", "I want to watch {title} later, so add it to my watchlist",
                "I'd like {title} on my watchlist", "I don't want to forget {title}, put it on my list",
                after=("I want {ref} on my watchlist", "I'd like {ref} saved to my list")),
            fam("terse", "t", "watchlist + {title}", "save {title}", "to watch: {title}",
                after=("watchlist + {ref}", "save {ref}")),
        ),
        holdout="terse", consumes=_CONSUMES,
        steps_after=("Add {ref} to the watchlist", "Put {ref} on the watchlist",
                     "Save {ref} to the watchlist", "Bookmark {ref} to watch later",
                     "Please add {ref} to my watchlist", "watchlist: add {ref}"),
        fill=gold.title,
    ),
    FunctionPhrases(
        "remove_from_watchlist", _titled,
        steps=("Remove {title} from the watchlist", "Take {title} off the watchlist",
               "Delete {title} from the watchlist", "Drop {title} from my watchlist",
               "Please remove {title} from my watchlist", "watchlist: remove {title}",
               "Get {title} off my watchlist"),
        families=(
            fam("direct", "vp", "remove {title} from my watchlist", "take {title} off my watchlist",
                "delete {title} from my list"),
            fam("casual", "vp", "drop {title} from my list", "clear {title} out of the watchlist",
                "scrap {title} from my list"),
            fam("ask", "q", "can you remove {title} from the watchlist",
                "could you delete {title} from my list", "would you take {title} off my watchlist"),
            fam("need", "s", "I don't want {title} on my watchlist anymore",
                "I've already seen {title}, so take it off my list", "I need {title} gone from my watchlist"),
            fam("terse", "t", "watchlist - {title}", "unsave {title}", "remove from list: {title}"),
        ),
        holdout="ask",
    ),
    FunctionPhrases(
        "get_recommendations", _recommend,
        steps=("Get {genre}recommendations", "Get {genre}video recommendations",
               "Suggest some {genre}titles to watch", "Recommend some {genre}movies",
               "Please suggest a few {genre}shows for me", "Fetch personalised {genre}picks",
               "show {genre}recommendations"),
        families=(
            fam("direct", "vp", "recommend some {genre_q}movies", "get me {genre_q}recommendations",
                "suggest {genre_q}shows to watch"),
            fam("casual", "vp", "throw some {genre_q}ideas at me for tonight",
                "line up a few {genre_q}picks for me", "find me a good {genre_q}title for tonight"),
            fam("ask", "q", "what {genre_q}movies would you recommend",
                "any good {genre_q}shows you'd suggest", "what {genre_q}stuff should I watch tonight"),
            fam("need", "s", "I need ideas for a {genre_q}movie to watch",
                "I want some {genre_q}recommendations", "I'm bored and want {genre_q}suggestions"),
            fam("terse", "t", "recs: {genre_q}movies", "{genre_q}recommendations pls",
                "suggest {genre_q}titles"),
        ),
        holdout="casual", produces="recommendations", chain=("watch", 0),
    ),
    FunctionPhrases(
        "rate_video", _rate,
        steps=("Rate {title} {stars}", "Give {title} a rating of {stars}",
               "Leave a rating of {stars} for {title}", "Give {title} {stars}",
               "Please rate {title} with {stars}", "rating for {title}: {stars}", "Score {title} at {stars}"),
        families=(
            fam("direct", "vp", "rate {title} {stars_q}", "give {title} {stars_q}",
                "rate the show {title} {stars_q}"),
            fam("casual", "vp", "leave {stars_q} on {title}", "score {title} {stars_q}",
                "slap {stars_q} on {title}"),
            fam("ask", "q", "can you rate {title} {stars_q}", "could you give {title} {stars_q}",
                "would you put a {stars_q} rating on {title}"),
            fam("need", "s", "I want to rate {title} {stars_q}",
                "I thought {title} deserved {stars_q}, so rate it", "I'd like to give {title} {stars_q}"),
            fam("terse", "t", "rate {title}: {stars_q}", "{title} -> {stars_q}", "rating {title} {stars_q}"),
        ),
        holdout="need",
    ),
    FunctionPhrases(
        "download_video", _download,
        steps=("Download {title}{quality}", "Download {title} for offline viewing{quality}",
               "Save {title} to the device for offline viewing{quality}",
               "Make {title} available offline{quality}", "Please download {title}{quality}",
               "download: {title}{quality}", "Get an offline copy of {title}{quality}"),
        families=(
            fam("direct", "vp", "download {title}{quality_q}", "save {title} offline{quality_q}",
                "download {title} to my device{quality_q}",
                after=("download {ref}{quality_q}", "save {ref} offline{quality_q}")),
            fam("casual", "vp", "grab {title} for the plane ride{quality_q}",
                "get {title} on my tablet for later{quality_q}", "pull {title} down for offline{quality_q}",
                after=("grab {ref} for later{quality_q}", "pull {ref} down for offline{quality_q}")),
            fam("ask", "q", "can you download {title}{quality_q}",
                "could you save {title} for offline viewing{quality_q}",
                "would you download {title} for me{quality_q}",
                after=("can you download {ref}{quality_q}", "could you save {ref} offline{quality_q}")),
            fam("need", "s", "I want {title} downloaded{quality_q}",
                "I'd like to watch {title} offline{quality_q}",
                "I need {title} saved on the device{quality_q}",
                after=("I want {ref} downloaded{quality_q}", "I'd like {ref} saved offline{quality_q}")),
            fam("terse", "t", "dl {title}{quality_q}", "download: {title}{quality_q}",
                "offline: {title}{quality_q}",
                after=("dl {ref}{quality_q}", "download: {ref}{quality_q}")),
        ),
        holdout="ask", consumes=_CONSUMES,
        steps_after=("Download {ref}{quality}", "Download {ref} for offline viewing{quality}",
                     "Save {ref} to the device for offline viewing{quality}",
                     "Make {ref} available offline{quality}", "Please download {ref}{quality}",
                     "Get an offline copy of {ref}{quality}"),
        fill=gold.title,
    ),
    FunctionPhrases(
        "set_subtitles", _subtitles,
        steps=("{sub0}", "{sub1}", "{sub2}"),
        families=(
            fam("direct", "vp", "{sub_q}"),
            fam("casual", "vp", "{sub_q2}"),
            fam("ask", "q", "{sub_q3}"),
            fam("need", "s", "{sub_q4}"),
            fam("terse", "t", "{sub_q5}"),
        ),
        holdout="terse",
    ),
)
# fmt: on
