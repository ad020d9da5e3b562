def main() -> None:  # placeholder until the CLI lands in this change
    raise SystemExit("not yet")
