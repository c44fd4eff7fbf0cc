"""Curated knowledge: topics and answers per language, minimum wages, support contacts."""
