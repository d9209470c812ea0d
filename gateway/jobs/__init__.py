"""Background assessment jobs: state, the pipeline, and the embedded and distributed engines."""
