"""Video streaming: find, play, rate, download and list films and shows.

Our design (the paper names the domain, not its functions). Titles not in the seeded
catalogue are still accepted by play/watchlist/rate/download: a streaming service has far more
than we can list, and plans name real titles ("Inception"); search and recommendations use
the catalogue.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from octo_mlx.domains.world import GENRES
from octo_mlx.functions.signatures import domain_from_module, octo_function
from octo_mlx.functions.simulator import CallError, DeviceState

Genre = Literal[GENRES]  # type: ignore[valid-type]


def _title(state: DeviceState, title: str) -> str:
    """The catalogue's spelling of a title when it is there (case-insensitive), else the title given."""
    key = title.strip().lower()
    return next((v["title"] for v in state.video.catalogue if v["title"].lower() == key), title.strip())


@octo_function(examples=[{"query": "mars"}, {"query": "house", "genre": "horror"}])
def search_videos(state: DeviceState, query: str, genre: Genre | None = None) -> list[dict]:
    """Searches the streaming catalogue for films and shows.

    Args:
        query: Words from the title or a topic, e.g. "mars" or "ocean".
        genre: Only this genre, e.g. "comedy". Default: any genre.

    Returns:
        Matching videos with title, genre, year and rating (out of 10).
    """
    words = set(query.lower().split())
    hits = [
        v
        for v in state.video.catalogue
        if (genre is None or v["genre"] == genre) and words & (set(v["title"].lower().split()) | {v["genre"]})
    ]
    if not hits and genre is not None:  # a topic with no title match still lists the genre
        hits = [v for v in state.video.catalogue if v["genre"] == genre]
    return [dict(v) for v in sorted(hits, key=lambda v: -v["rating"])[:5]]


@octo_function(side_effects=True, examples=[{"title": "Mars Colony"}])
def play_video(state: DeviceState, title: str) -> dict:
    """Starts playing a film or show.

    Args:
        title: The title, e.g. "Mars Colony".

    Returns:
        What is playing now.
    """
    state.video.playing = {"title": _title(state, title), "status": "playing"}
    return dict(state.video.playing)


@octo_function(side_effects=True)
def pause_playback(state: DeviceState) -> dict:
    """Pauses the video that is playing.

    Returns:
        The paused title.
    """
    if not state.video.playing or state.video.playing["status"] != "playing":
        raise CallError("nothing is playing")
    state.video.playing["status"] = "paused"
    return dict(state.video.playing)


@octo_function(side_effects=True, examples=[{"title": "The Quiet Year"}, {"title": "Robot Pals"}])
def add_to_watchlist(state: DeviceState, title: str) -> dict:
    """Adds a film or show to the watchlist.

    Args:
        title: The title, e.g. "The Quiet Year".

    Returns:
        The watchlist after the change.
    """
    name = _title(state, title)
    if name not in state.video.watchlist:
        state.video.watchlist.append(name)
    return {"watchlist": list(state.video.watchlist)}


@octo_function(side_effects=True, examples=[{"title": "Robot Pals"}])
def remove_from_watchlist(state: DeviceState, title: str) -> dict:
    """Removes a film or show from the watchlist.

    Args:
        title: A title on the watchlist, e.g. "Robot Pals".

    Returns:
        The watchlist after the change.
    """
    name = _title(state, title)
    if name not in state.video.watchlist:
        raise CallError(f"{title!r} is not on the watchlist")
    state.video.watchlist.remove(name)
    return {"watchlist": list(state.video.watchlist)}


@octo_function(examples=[{}, {"genre": "documentary"}])
def get_recommendations(state: DeviceState, genre: Genre | None = None) -> list[dict]:
    """Recommends films and shows, optionally of one genre.

    Args:
        genre: Only this genre, e.g. "sci-fi". Default: based on the watchlist, else any genre.

    Returns:
        Up to five videos with title, genre, year and rating, best first.
    """
    seen = set(state.video.ratings) | set(state.video.watchlist)
    liked = {v["genre"] for v in state.video.catalogue if v["title"] in state.video.watchlist}
    pool = [v for v in state.video.catalogue if v["title"] not in seen]
    if genre is not None:
        pool = [v for v in pool if v["genre"] == genre]
    elif liked:
        pool = [v for v in pool if v["genre"] in liked] or pool
    return [dict(v) for v in sorted(pool, key=lambda v: -v["rating"])[:5]]


@octo_function(side_effects=True, examples=[{"title": "Stellar Drift", "rating": 5}])
def rate_video(state: DeviceState, title: str, rating: Annotated[int, Field(ge=1, le=5)]) -> dict:
    """Rates a film or show from 1 to 5 stars.

    Args:
        title: The title, e.g. "Stellar Drift".
        rating: Stars from 1 (bad) to 5 (great).

    Returns:
        The title and its new rating.
    """
    name = _title(state, title)
    state.video.ratings[name] = rating
    return {"title": name, "rating": rating}


@octo_function(
    side_effects=True, examples=[{"title": "Planet Oceans", "quality": "720p"}, {"title": "Zero Hour"}]
)
def download_video(
    state: DeviceState,
    title: str,
    quality: Literal["480p", "720p", "1080p", "4k"] = "1080p",
) -> dict:
    """Downloads a film or show for offline viewing.

    Args:
        title: The title, e.g. "Planet Oceans".
        quality: Video quality: '480p', '720p', '1080p' or '4k'. Default '1080p'.

    Returns:
        The download's id, title, quality and size in MB.
    """
    mb_per_hour = {"480p": 700, "720p": 1500, "1080p": 3000, "4k": 7000}[
        quality
    ]  # typical streaming bitrates
    item = {
        "download_id": state.new_id("DL"),
        "title": _title(state, title),
        "quality": quality,
        "size_mb": mb_per_hour * 2,
    }
    state.video.downloads.append(item)
    return item


@octo_function(side_effects=True, examples=[{"language": "Spanish"}, {"language": "off"}])
def set_subtitles(state: DeviceState, language: str) -> dict:
    """Turns subtitles on in a language, or off.

    Args:
        language: Subtitle language, e.g. "English" or "French"; "off" to turn them off.

    Returns:
        The subtitle setting now.
    """
    state.video.subtitles = None if language.strip().lower() == "off" else language.strip()
    return {"subtitles": state.video.subtitles or "off"}


DOMAIN = domain_from_module(
    "video_streaming",
    globals(),
    "Video streaming: search, play, pause, watchlist, recommendations, ratings, downloads, subtitles.",
)
