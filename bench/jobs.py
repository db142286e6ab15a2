"""A job that does nothing, to measure what RQ itself costs per job."""


def noop() -> None:
    return None
