"""The ways in: terminal and JSON lines (console), Telegram."""
