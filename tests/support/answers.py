"""Answer paths the tests and benchmarks replay (button ids, as a user presses them)."""

from __future__ import annotations

# An employer in Noord-Brabant with a supervisor, up to the consent: routed to Avans/BouwTalent.
AVANS = [
    "menu:werkgever",
    "c:medewerkers:10_49",
    "c:doel:aannemen",
    "c:begeleider:ja",
    "c:sector:bouw",
    "c:niveau:bachelor",
    "c:provincie:noord_brabant",
    "c:aanbod:ja",
    "c:toestemming:ja",
]
