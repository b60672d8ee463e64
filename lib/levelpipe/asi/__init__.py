"""UCalgary all-sky imagers (THEMIS, REGO, TREx NIR/Blueline/RGB): raw -> L1 -> L2 -> products.

Modules: readers (raw PGM / RGB files), skymap (skymaps, best-skymap selection), calibration
(dark -> flatfield -> Rayleighs), l1 / l2 (level products), products (keograms, mosaics,
movies, quicklooks), archive (layout, site-hour discovery, downloader), family (the index and
steps), settings, fuzz (fuzzing targets); simulators and seed builders are in
levelpipe.testing.asi_*.

Decisions (each is also a ``Decision:`` comment where the code makes it, pinned by tests/asi):
- orientation: images, skymaps and flatfields exactly as pyucalgarysrs (rows flipped for every
  instrument, columns too for REGO); ``imshow(origin="lower")`` shows north up, east left.
- L0 is the raw archive itself (minute PGM/PNG/HDF5 files); the first product is L1.
- PGM frame time = "Image request start"; exposure = commanded MSEC of "Exposure options"
  (else TREx "Requested Exposure", else the configured nominal, flagged).
- RGB PNG: the third file-name field is the microsecond of the second (as pyucalgarysrs).
- bad frames (garbled header, truncated, wrong length, other size, too large, no or implausible
  timestamp, undecodable PNG, lost in a damaged compressed stream) are skipped and counted by
  kind (``skipped_frames``), flagged per frame/file; the reader resynchronises on the next
  header and the rest of the file is kept; a gzip member failing only its CRC keeps its
  frames, flagged; limits from the format (``reading``) are checked before allocating.
- TREx spectrograph raw files are listed by the index as refused (reason in the run's log and
  the index manifest), not read.
- skymap/calibration choice: valid on the day (stop date inclusive), then latest valid-from,
  then highest version; legacy "vXX" ranks below every numbered version.
- detector UID: raw header "Camera Serial Number" first, configured device table second.
- dark: mean of the configured corner box (default 5x5, rows/cols 0..4 after orientation), kept
  in float, not truncated, negatives not clipped.
- Rayleighs = (counts - dark) * flatfield * (R per DN/s) / each frame's own exposure (s);
  stored as float32 in units "1e10 m-2 s-1" (1 R; UDUNITS has no rayleigh).
- altitude: linear interpolation between the skymap altitudes (longitude unwrapped about the
  site), no extrapolation; pixel centres = mean of the four corners.
- L2 grid: a global lattice of the configured resolution (sites align for mosaics); each cell
  takes the usable pixel whose footprint contains the cell centre (nearest centre where
  footprints overlap), cells in no usable footprint stay empty; pixels below the minimum
  elevation are dropped.
- mosaics: planned from the raw files that exist (a site-hour with a minute file near the
  configured time), made at the frame time nearest it; a site without a frame within the
  tolerance is skipped and counted; where sites overlap, the higher elevation wins.
- hostile input: limits from the format (``reading``) before allocating; HDF5 read in a child
  process with a time limit; every reader has a fuzz target (``levelpipe.asi.fuzz``).
- lens model: ideal equidistant fisheye on a spherical Earth (R = 6371.2 km), values rounded
  for small bundled files; documented as a model, not a calibration.
- archive: local layout = the server path below sort_by_project/ (paths that would leave the
  root refused); downloads refused unless enabled; resume via HTTP Range, size and SHA-256
  checks, atomic rename; a 416 discards the partial file; overall deadline; 4xx not retried.
"""
