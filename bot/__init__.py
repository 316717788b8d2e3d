"""The Mkb-route assistant."""

import os

# Opt in to python-telegram-bot's future timedelta durations (RetryAfter.retry_after and
# friends): the int form is deprecated and warns on every use.
os.environ.setdefault("PTB_TIMEDELTA", "true")
