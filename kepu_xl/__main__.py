from .cli import cli

if __name__ == "__main__":  # spawned workers (Windows) import this module again: they must not run the CLI
    cli()
