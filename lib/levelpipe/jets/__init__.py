"""Solar Jet Hunter: HEK coronal-jet events -> SQLite -> AIA cutouts -> PNG/MP4 Zooniverse
subjects and manifests -> volunteers' classifications -> panoptes_aggregation -> a jet
catalogue in helioprojective arcsec. Facts: shared/research/jets.md (sections cited in code)."""
