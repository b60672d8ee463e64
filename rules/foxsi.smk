# foxsi rules: see docs/DEVELOPING.md
