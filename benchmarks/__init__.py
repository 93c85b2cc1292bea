"""llmfake's benchmarks: ``python -m benchmarks --help``."""
