"""The bundled sample county (kepuxl init), installed as package data."""
