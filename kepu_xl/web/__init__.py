"""工作台: the whole campaign in a local web page (`kepuxl serve`), over the same library calls.

Flask renders Jinja2 templates (autoescaped) with htmx for partial updates; waitress serves them on
127.0.0.1. Nothing here is imported by the CLI until `kepuxl serve` runs, so `kepuxl --help` and the
other commands never load the web stack.
"""
