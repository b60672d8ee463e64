"""MinXSS-1 and MinXSS-2 CubeSats: CCSDS packets to Level 0C/0D, Level 1 spectra and averages."""
