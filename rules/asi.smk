# asi rules: see docs/DEVELOPING.md
