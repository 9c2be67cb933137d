"""Domain models and errors. Imports nothing else of swen."""
