"""The state feeds thousands keep open: availabilityChanged (chat widgets, availability.py) and
counsellorAvailabilityChanged (counsellor apps, colleagues.py), on the life of a feed (feed.py)."""

from graph.feeds.availability import AvailabilityFeed
from graph.feeds.colleagues import ColleagueFeed
from graph.feeds.feed import ENDED_SESSION, EXPIRED, end_session

__all__ = ["ENDED_SESSION", "EXPIRED", "AvailabilityFeed", "ColleagueFeed", "end_session"]
