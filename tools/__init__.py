"""Developer tools (not a published package): bench harness, bootstrap, recipes."""
