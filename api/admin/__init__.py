"""The knowledge admin: the entry editor, the yearly minimum-wage revision, the learning queue and statistics."""
