"""Outbound webhooks: the one HTTP client that may leave the host (``client``), Standard Webhooks
signing (``signing``), and the endpoints, outbox and delivery jobs built on them."""
