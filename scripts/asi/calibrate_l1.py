from levelpipe.runlog import log_to

log_to(snakemake.log[0])
from levelpipe.asi.l1 import make_l1  # noqa: E402

make_l1(snakemake.input.raw, snakemake.output[0], calibration_root=snakemake.params.root,
        cfg=snakemake.params.cfg, granule=snakemake.wildcards.site_hour,
        calibration_files=snakemake.input.calibration)
