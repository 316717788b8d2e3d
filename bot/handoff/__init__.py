"""Handing leads to pilot contacts: deployment contacts, outbox and delivery channels."""
