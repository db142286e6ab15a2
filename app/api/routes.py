"""API routes (filled in below)."""
