"""VZLUSAT-1 Timepix: 256x256 keV frames -> particle-track clusters -> classes -> dose, flux, maps.

Levels: `l0` (frames + metadata per folder), `clusters` (8-connected components and features),
`classifier` (random forest), `l1` (labelled clusters + compatibility export), `dose` (L2 dose
rate and per-class flux), `maps` and `browser` (products).
"""
