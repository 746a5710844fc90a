"""Bundled form definitions (forms/*.toml), installed as package data."""
