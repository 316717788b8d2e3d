"""Tools for programme staff: lead overviews (exports and statistics come later)."""
