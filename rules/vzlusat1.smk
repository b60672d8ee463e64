# vzlusat1 rules: see docs/DEVELOPING.md
