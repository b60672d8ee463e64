"""UCalgary all-sky imagers (THEMIS, REGO, TREx NIR/Blueline/RGB): raw -> L1 -> L2 -> products.

readers: raw PGM / RGB files; skymap: skymaps and the lens-model generator; calibration:
dark -> flatfield -> Rayleighs; l1/l2: the level products; products: keograms, mosaics, movies,
quicklooks; simulate: simulated files in the real formats; archive: layout and downloader;
idlsav: IDL save writer.
"""
