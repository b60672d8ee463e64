"""Level 2 and Level 3: averages of the good Level 1 spectra on UT-aligned bins, with GOES XRS
at the bin centres (research notes §15, MX:PS/minxss_make_x123_average.pro).

``average(l1_path, goes_paths, minutes, settings=...)`` -> ``xr.Dataset``; the writers
``write_l2``/``write_l3`` write ``results/minxss/l2/<day>_<name>.nc`` and
``results/minxss/l3/<day>_<name>.nc`` for every configured bin length of their level.

Bins are fixed wall-clock bins from UT midnight; a bin holds the spectra with
start <= t < start + length; bins without data are not written; ``nominal_time`` is the bin
centre, ``time`` the mean time of its spectra. Means ignore NaN; the precision is the mean
precision / sqrt(n) and the standard deviation is that of the count rates, as IDL.

Decision: only spectra that passed the L1 selection are averaged (the team's L1 holds only
those). IDL's loop never produces the last bin of its range (line 124, 151); every bin with data
is produced here. IDL's SPECTRUM_TOTAL_COUNTS/ACCURACY sum count *rates* (the notes call it a bug):
not reproduced; the irradiance uncertainty is the statistical part / sqrt(n) combined in
quadrature with the systematic fraction of the mean.
"""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np
import xarray as xr

from levelpipe.io.netcdf import read_netcdf
from levelpipe.minxss import goes
from levelpipe.minxss.errors import MinxssError
from levelpipe.minxss.l0d import interpolate


def average(l1_path: str | os.PathLike, goes_paths: Sequence[str | os.PathLike], minutes: int, *,
            settings) -> xr.Dataset:
    src = read_netcdf(l1_path)
    if src.sizes.get("time", 0) == 0:
        raise MinxssError("Level 1 has no record", l1_path)
    good = src.good_spectrum.values == 1
    # Decision: a day whose records all fail the selection (safe mode, a day in eclipse) gets
    # products with no bin (spectra_averaged = 0) rather than failing the run.
    s = src.isel(time=np.flatnonzero(good))
    t = s.time.values
    day0 = src.time.values.min().astype("datetime64[D]").astype("datetime64[ns]")
    width = np.timedelta64(minutes, "m").astype("timedelta64[ns]")
    order = np.argsort(t, kind="stable")
    s = s.isel(time=order)
    t = s.time.values
    k = ((t - day0) // width).astype(np.int64)
    bins, first, counts = np.unique(k, return_index=True, return_counts=True)
    nb = bins.size

    def mean(x: np.ndarray) -> np.ndarray:
        """NaN-ignoring mean of each bin (records are time-sorted: bins are contiguous runs)."""
        x = np.asarray(x, dtype=np.float64)
        if not nb:
            return np.empty((0,) + x.shape[1:])
        fin = np.isfinite(x)
        total = np.add.reduceat(np.where(fin, x, 0.0), first, axis=0)
        n = np.add.reduceat(fin.astype(np.int64), first, axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n > 0, total / n, np.nan)

    sqrt_n = np.sqrt(counts.astype(np.float64))
    irr = mean(s.irradiance.values)
    rate = mean(s.count_rate.values)
    sq = mean(s.count_rate.values.astype(np.float64) ** 2)
    stddev = np.sqrt(np.maximum(sq - rate ** 2, 0.0))
    precision = mean(s.count_rate_precision.values) / sqrt_n[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        rel_stat = np.where(s.count_rate.values > 0, s.count_rate_precision.values / s.count_rate.values, 0.0)
    irr_stat = mean(s.irradiance.values * rel_stat) / sqrt_n[:, None]
    sysf = settings.l1.response[int(src.flight_model.values[0])].systematic_fraction
    unc = np.sqrt(irr_stat ** 2 + (sysf * irr) ** 2)
    # the mean time, to the microsecond (the products' time resolution)
    t_mean = day0 + (np.round(mean((t - day0).astype(np.float64)) / 1e3) * 1e3).astype(np.int64).astype("timedelta64[ns]")
    nominal = day0 + bins * width + width // 2
    a = b = np.full(nb, np.nan)
    goes_src = "none"
    if goes_paths:
        series = goes.read_goes(goes_paths)
        lim = np.timedelta64(int(settings.l0d.limits.goes_s.to_value("s") * 1e9), "ns")
        a, _ = interpolate(series.time, series.xrsa, nominal, lim)
        b, _ = interpolate(series.time, series.xrsb, nominal, lim)
        goes_src = f"{series.satellite}: " + ", ".join(os.path.basename(p) for p in series.files)
    scalar = ["deadtime_correction_factor", "fast_count_rate", "slow_count_rate", "sps_sum_rate", "longitude",
              "latitude", "altitude", "earth_sun_distance", "x123_detector_temperature"]
    ds = xr.Dataset(
        {"nominal_time": (("time",), nominal), "number_spectra": (("time",), counts.astype(np.int32)),
         "irradiance": (("time", "energy"), irr.astype(np.float32)),
         "irradiance_uncertainty": (("time", "energy"), unc.astype(np.float32)),
         "count_rate": (("time", "energy"), rate.astype(np.float32)),
         "count_rate_precision": (("time", "energy"), precision.astype(np.float32)),
         "count_rate_stddev": (("time", "energy"), stddev.astype(np.float32)),
         "valid_flag": (("time", "energy"), (irr > 0).astype(np.int8)),
         "goes_xrsa_flux": (("time",), a), "goes_xrsb_flux": (("time",), b),
         **{v: (("time",), mean(s[v].values)) for v in scalar}},
        coords={"time": t_mean, "energy": s.energy.values})
    ds.attrs.update({"bin_minutes": int(minutes), "bins": int(nb), "spectra_averaged": int(good.sum()),
                     "goes_source": goes_src, "response": src.attrs.get("response", "")})
    return ds


def _write(ctx, level: str) -> None:
    cfg = ctx.settings.averages
    for name, minutes in cfg.bins_minutes.items():
        if cfg.level[name] != level:
            continue
        ds = average(ctx.inputs.one("l1"), ctx.inputs["goes"], minutes, settings=ctx.settings)
        ctx.write(ds, ctx.outputs.one(name), table="average",
                  title=f"MinXSS {level} X123 irradiance, {name} averages, {ctx.granule}",
                  summary=f"MinXSS X123 irradiance at 1 AU averaged on {minutes}-minute UT bins, with GOES XRS "
                          "at the bin centres (levelpipe).")


def write_l2(ctx) -> None:
    _write(ctx, "L2")


def write_l3(ctx) -> None:
    _write(ctx, "L3")
