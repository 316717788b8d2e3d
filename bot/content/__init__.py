"""Content: flows and knowledge loaded from YAML, validated."""
