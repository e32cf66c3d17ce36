"""One small module per `memprof` subcommand; each defines `command`. Commands are glue only."""
