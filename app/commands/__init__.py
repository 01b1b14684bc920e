"""One module per ``reid`` subcommand, each exposing ``register(subparsers)``."""
