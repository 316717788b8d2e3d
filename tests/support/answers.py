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
# A student of 18-20 with mbo 4, Associate Degree in ICT in Gelderland, with a workplace, up
# to the consent (after "menu:student"): routed to the programme team.
STUDENT = [
    "c:leeftijd:18_20",
    "c:diploma:mbo4",
    "c:niveau:ad",
    "c:richting:ict",
    "c:provincie:gelderland",
    "c:werkplek:mkb",
    "c:aanbod:ja",
    "c:toestemming:ja",
]
