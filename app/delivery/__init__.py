"""The delivery engine: fan-out, render, transport, classify, ledger. No Flask request code."""
