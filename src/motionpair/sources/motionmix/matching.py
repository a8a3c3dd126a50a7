"""Track matching: which track was playing at each instant of a session, and at what time in it.

Sources of truth, in order: playback events from the session metadata; else
the playlist order and track durations laid back to back from the session
start (a named assumption). Every segment says how it was matched; an instant
outside every segment is never assigned to a track.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from motionpair.types import ClockMap, PlaybackSegment

GAPLESS = "motionmix.gapless_playlist_order_from_session_start"
EVENTS = "motionmix.playback_events_track_starts_at_event_time"

ASSUMPTIONS = {
    GAPLESS: (
        "no playback events were recorded: the playlist's tracks played back to back in "
        "playlist order (manifest order, else sorted NPZ file names) from the session start, "
        "with no gaps, skips, pauses or crossfades; track k starts at the sum of the durations "
        "of tracks 0..k-1 (stream time = seconds since the session start)"
    ),
    EVENTS: (
        "a playback event's time is when its track's time position_s played (0 when the event "
        "names no start position: the track started from its beginning); the track then plays "
        "at normal speed until its end event, the next event or its end, whichever comes "
        "first (a pause is an end, a resume is a new event with its position)"
    ),
}


@dataclass(frozen=True)
class TrackSpan:
    """A playlist track as matching sees it."""

    track_id: str
    duration_s: float
    aliases: tuple[str, ...] = ()  # file stem, title, file name: what events may call it


def _offset_segment(session: str, track_id: str, start_s: float, end_s: float,
                    matched_by: str, assumption: str, note: str, *,
                    position_s: float = 0.0) -> PlaybackSegment:
    """Track time = stream time - ``start_s`` + ``position_s`` inside [start_s, end_s)."""
    clock = ClockMap(kind="offset", assumption=assumption,
                     offset_s=float(position_s) - float(start_s), note=note)
    return PlaybackSegment(session=session, track_id=track_id, clock=clock,
                           stream_start_s=float(start_s), stream_end_s=float(end_s),
                           matched_by=matched_by)


def gapless_segments(session: str, tracks: Sequence[TrackSpan]) -> list[PlaybackSegment]:
    """Tracks back to back from stream time 0 (the session start).

    >>> segs = gapless_segments("s", [TrackSpan("a", 10.0), TrackSpan("b", 5.0)])
    >>> [(s.track_id, s.stream_start_s, s.stream_end_s) for s in segs]
    [('a', 0.0, 10.0), ('b', 10.0, 15.0)]
    """
    out, t = [], 0.0
    for k, tr in enumerate(tracks):
        out.append(_offset_segment(session, tr.track_id, t, t + tr.duration_s,
                                   "playlist_order_gapless", GAPLESS,
                                   f"track {k} of {len(tracks)} in playlist order"))
        t += tr.duration_s
    return out


def event_segments(session: str, tracks: Sequence[TrackSpan],
                   events: Sequence[dict]) -> tuple[list[PlaybackSegment], list[str]]:
    """Segments from playback events ``{"t_s", "end_s", "track"}``; unknown tracks listed."""
    by_name: dict[str, TrackSpan] = {}
    tr: TrackSpan | None  # a playlist track here, below an event's track or None
    for tr in tracks:
        for name in (tr.track_id, *tr.aliases):
            by_name.setdefault(name, tr)
    out: list[PlaybackSegment] = []
    unknown: list[str] = []
    for i, ev in enumerate(events):
        tr = by_name.get(ev["track"])
        if tr is None:
            unknown.append(f"event {i} at {ev['t_s']:.3f} s names track {ev['track']!r}, "
                           "not in the playlist")
            continue
        pos = float(ev.get("position_s") or 0.0)
        if pos >= tr.duration_s:
            unknown.append(f"event {i} at {ev['t_s']:.3f} s starts track {ev['track']!r} at "
                           f"{pos:.3f} s, past its end ({tr.duration_s:.3f} s)")
            continue
        end = ev["t_s"] + tr.duration_s - pos  # the rest of the track from its position
        if ev.get("end_s") is not None:
            end = min(end, ev["end_s"])
        if i + 1 < len(events):
            end = min(end, events[i + 1]["t_s"])
        if end > ev["t_s"]:
            note = f"event {i}" + (f", from track time {pos:g} s" if pos else "")
            out.append(_offset_segment(session, tr.track_id, ev["t_s"], end,
                                       "playback_events", EVENTS, note, position_s=pos))
    return out, unknown


def assign(times_s: np.ndarray, segments: Sequence[PlaybackSegment]) -> np.ndarray:
    """Index of the segment holding each stream time (``[start, end)``), -1 when none does.

    >>> segs = gapless_segments("s", [TrackSpan("a", 10.0), TrackSpan("b", 5.0)])
    >>> assign(np.array([-1.0, 0.0, 9.99, 10.0, 15.0]), segs).tolist()
    [-1, 0, 0, 1, -1]
    """
    t = np.asarray(times_s, dtype=np.float64)
    out = np.full(t.shape, -1, dtype=np.int64)
    for k, seg in enumerate(segments):
        inside = (t >= seg.stream_start_s) & (t < seg.stream_end_s) & (out < 0)
        out[inside] = k
    return out
