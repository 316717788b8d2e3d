"""The pure conversation engine: no I/O, no Telegram, no database."""
