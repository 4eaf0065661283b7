"""One camera's pipeline: source -> detector -> tracker -> counter."""
