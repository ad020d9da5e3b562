"""Private helpers: validation, moments, randomness. Not a public API."""
