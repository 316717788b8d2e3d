"""Matching free questions to knowledge entries, and the text helpers it shares with the
rest: folding, placeholders, input cleaning. Below the engine and the content loader."""
