"""Level 2: per-frame dose rate in the silicon sensor and particle flux per track class.

Dose is energy deposited per unit mass: D = E_dep / (rho * A * d), with A the sensitive area
(256 x 256 pixels of 55 um) and d the sensor thickness (300 um Si). The density is a config
value: 2329 kg/m^3 is silicon; the published VZLUSAT-1 maps used 5850 kg/m^3, so setting that
value reproduces them. Flux is clusters of a class per cm^2 of sensor per second of exposure.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import astropy.units as u
import numpy as np
import xarray as xr

from levelpipe.errors import ConfigError
from levelpipe.io import read_netcdf, write_netcdf


def sensor_geometry(config: Mapping[str, Any]) -> tuple[u.Quantity, u.Quantity]:
    """(sensitive area, sensitive mass) of the sensor from config."""
    try:
        pitch = float(config["pixel_pitch_um"]) * u.um
        n_rows, n_cols = (int(v) for v in config["pixels"])
        thickness = float(config["thickness_um"]) * u.um
        density = float(config["density_kg_m3"]) * u.kg / u.m ** 3
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"dose config incomplete or invalid: {exc}", where="vzlusat1.dose") from None
    if min(pitch.value, thickness.value, density.value) <= 0:
        raise ConfigError("pixel pitch, thickness and density must be positive", where="vzlusat1.dose")
    area = (n_rows * pitch) * (n_cols * pitch)
    return area.to(u.cm ** 2), (density * area * thickness).to(u.kg)


def dose_rate(deposited: u.Quantity, exposure: u.Quantity, mass: u.Quantity) -> u.Quantity:
    """Absorbed dose rate (uGy/min) from deposited energy, exposure time and sensor mass."""
    return (deposited / mass / exposure).to(u.uGy / u.min)


def build_dose(l1_path: str | Path, out_path: str | Path, config: Mapping[str, Any]) -> xr.Dataset:
    l1 = read_netcdf(l1_path)
    area, mass = sensor_geometry(config)
    n_frames = l1.sizes["frame"]
    idx = np.searchsorted(l1.frame.values, l1.cluster_frame.values)  # L0 frames are sorted
    deposited = np.bincount(idx, l1.cluster_energy.values.astype(np.float64), minlength=n_frames) * u.keV
    exposure = l1.exposure.values * u.s
    valid = (l1.classified.values == 1) & np.isfinite(exposure.value) & (exposure.value > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(valid, dose_rate(deposited, exposure, mass).value, np.nan)
        counts = l1.class_counts.values.astype(np.float64)
        flux = np.where(valid[:, None], counts / (area.value * exposure.value[:, None]), np.nan)

    def v(dims, data, units, long_name, **extra):
        return (dims, data, {"long_name": long_name, **({"units": units} if units else {}), **extra})

    ds = xr.Dataset(
        {
            "dose_rate": v("frame", rate, "uGy min-1", "absorbed dose rate in the silicon sensor"),
            "deposited_energy": v("frame", np.where(l1.classified.values == 1, deposited.value, np.nan), "keV",
                                  "energy deposited in the sensor during the exposure"),
            "flux": v(("frame", "class"), flux, "cm-2 s-1", "particle flux per track class"),
            "valid": v("frame", valid.astype(np.int8), None, "frame included in dose and flux",
                       flag_values=np.array([0, 1], np.int8), flag_meanings="excluded included"),
            "latitude": l1.latitude.variable, "longitude": l1.longitude.variable,
            "altitude": l1.altitude.variable, "exposure": l1.exposure.variable,
        },
        coords={"frame": l1.frame, "time": l1.time, "class": l1["class"], "class_name": l1.class_name},
    )
    ds.attrs.update(folder=l1.attrs.get("folder", ""), sensor_area_cm2=float(area.value),
                    sensor_mass_kg=float(mass.value), density_kg_m3=float(config["density_kg_m3"]),
                    frames_excluded=int((~valid).sum()))
    write_netcdf(ds, out_path, title=f"VZLUSAT-1 Timepix level 2 dose rate and flux, folder {ds.attrs['folder']}",
                 summary="Per-frame absorbed dose rate in the 300 um silicon sensor and particle flux per track "
                         "class, from the labelled clusters of one folder.",
                 mission="vzlusat1", level="L2", inputs=[l1_path], config=config)
    return ds
