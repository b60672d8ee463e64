"""Level 2: per-frame dose rate in the silicon sensor and particle flux per track class.

Dose is energy deposited per unit mass: D = E_dep / (rho * A * d), with A the sensitive area
(256 x 256 pixels of 55 um) and d the sensor thickness (300 um Si). The density is a config
value: 2329 kg/m^3 is silicon; the published VZLUSAT-1 maps used 5850 kg/m^3, so setting that
value reproduces them. Flux is clusters of a class per cm^2 of sensor per second of exposure.
"""
from __future__ import annotations

import astropy.units as u
import numpy as np
import xarray as xr

from levelpipe.io import read_netcdf
from levelpipe.timepix.settings import DoseSettings


def sensor_geometry(settings: DoseSettings) -> tuple[u.Quantity, u.Quantity]:
    """(sensitive area, sensitive mass) of the sensor."""
    n_rows, n_cols = settings.pixels
    area = (n_rows * settings.pixel_pitch_um) * (n_cols * settings.pixel_pitch_um)
    return area.to(u.cm ** 2), (settings.density_kg_m3 * area * settings.thickness_um).to(u.kg)


def dose_rate(deposited: u.Quantity, exposure: u.Quantity, mass: u.Quantity) -> u.Quantity:
    """Absorbed dose rate (uGy/min) from deposited energy, exposure time and sensor mass."""
    return (deposited / mass / exposure).to(u.uGy / u.min)


def dose(l1: xr.Dataset, settings: DoseSettings) -> xr.Dataset:
    """Per-frame dose rate and per-class flux of one folder's L1: the L2 dataset."""
    area, mass = sensor_geometry(settings)
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
                    sensor_mass_kg=float(mass.value),
                    density_kg_m3=float(settings.density_kg_m3.to_value("kg m-3")),
                    frames_excluded=int((~valid).sum()))
    return ds


def write_l2(ctx) -> None:
    """Step `l2` (rule compute_vzlusat1_dose): L1 -> results/vzlusat1/l2/<folder>.nc."""
    ds = dose(read_netcdf(ctx.inputs.one()), ctx.settings.dose)
    ctx.write(ds, ctx.outputs.one(), table="l2",
              title=f"VZLUSAT-1 Timepix level 2 dose rate and flux, folder {ds.attrs['folder']}",
              summary="Per-frame absorbed dose rate in the 300 um silicon sensor and particle flux per track "
                      "class, from the labelled clusters of one folder.")
