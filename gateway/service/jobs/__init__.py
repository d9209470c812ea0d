"""Background assessment jobs: the pipeline every engine runs, and the embedded and distributed engines."""
