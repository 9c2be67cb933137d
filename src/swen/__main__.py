"""``python -m swen`` runs the command line."""

from swen.cli import main

main()
