"""reid package."""
