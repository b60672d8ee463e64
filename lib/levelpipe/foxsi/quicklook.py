"""FOXSI quicklook PNGs: counts images, spectra, lightcurves and housekeeping of one flight file."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from levelpipe.foxsi.config import HousekeepingChannel, L1Settings  # noqa: E402
from levelpipe.io import atomic_output, read_netcdf  # noqa: E402

_DPI = 100
# Fixed metadata so that reruns give identical PNG bytes.
_PNG_META = {"Software": "levelpipe", "Creation Time": None}


def _save(fig, out):
    with atomic_output(out) as tmp:
        fig.savefig(tmp, dpi=_DPI, metadata={k: v for k, v in _PNG_META.items() if v is not None})
    plt.close(fig)


def plot_image(image_nc, out) -> None:
    ds = read_netcdf(image_nc)
    ext = [float(ds.x[0]), float(ds.x[-1]), float(ds.y[0]), float(ds.y[-1])]
    fig, axes = plt.subplots(2, 4, figsize=(14, 7), constrained_layout=True)
    panels = [("all detectors", ds["counts_combined"].values)] + [
        (f"D{int(d)}", ds["counts"].sel(detector=d).values) for d in ds.detector.values]
    for ax, (title, img) in zip(axes.ravel(), panels):
        ax.imshow(np.log10(1 + img), origin="lower", extent=ext, cmap="magma")
        ax.set_title(f"{title} ({int(img.sum())} counts)")
        ax.set_xlabel("x [arcsec]")
        ax.set_ylabel("y [arcsec]")
    fig.suptitle(f"{ds.attrs.get('flight', 'FOXSI')} counts, {ds.attrs['energy_band_kev']} keV (log10(1+counts))")
    _save(fig, out)


def plot_spectrum(spectrum_nc, out) -> None:
    ds = read_netcdf(spectrum_nc)
    fig, ax = plt.subplots(figsize=(9, 5), constrained_layout=True)
    for d in ds.detector.values:
        c = ds["counts"].sel(detector=d).values
        if c.sum():
            ax.step(ds.energy.values, c, where="mid", label=f"D{int(d)}")
    ax.set_yscale("log")
    ax.set_xlabel("energy [keV]")
    ax.set_ylabel(f"counts per {float(ds.energy[1] - ds.energy[0]):g} keV")
    ax.set_title(f"{ds.attrs.get('flight', 'FOXSI')} count spectra (error mask {ds.attrs['error_mask']})")
    if ax.lines:
        ax.legend(ncol=2)
    else:
        ax.text(0.5, 0.5, "no selected events with energies", transform=ax.transAxes, ha="center")
    _save(fig, out)


def plot_lightcurve(lightcurve_nc, out) -> None:
    ds = read_netcdf(lightcurve_nc)
    fig, ax = plt.subplots(figsize=(9, 5), constrained_layout=True)
    for d in ds.detector.values:
        ax.plot(ds.time.values, ds["count_rate"].sel(detector=d).values, drawstyle="steps-mid", label=f"D{int(d)}")
    ax.set_xlabel("time (UTC)")
    ax.set_ylabel("count rate [counts/s]")
    ax.set_title(f"{ds.attrs.get('flight', 'FOXSI')} livetime-corrected rate, {ds.attrs['energy_band_kev']} keV")
    ax.legend(ncol=4)
    fig.autofmt_xdate()
    _save(fig, out)


def plot_housekeeping(hk_nc, out, channels: list[HousekeepingChannel]) -> None:
    ds = read_netcdf(hk_nc)
    fig, axes = plt.subplots(4, 1, figsize=(9, 10), sharex=True, constrained_layout=True)
    t = ds.time.values
    axes[0].plot(t, ds["hv"].values)
    axes[0].set_ylabel("HV [V]")
    for ch in channels:
        v = ds[ch.name].values
        ok = np.isfinite(v)
        ax = axes[1] if ch.unit.physical_type == "temperature" else axes[2]
        ax.plot(t[ok], v[ok], label=ch.long_name)
    axes[1].set_ylabel("temperature [°C]")
    axes[2].set_ylabel("supply [V]")
    axes[1].legend(fontsize="small")
    axes[2].legend(fontsize="small")
    axes[3].plot(t, ds["altitude"].values)
    axes[3].set_ylabel("altitude [km]")
    axes[3].set_xlabel("time (UTC)")
    bad = ", ".join(f"{k[len('bad_frames_'):]} {int(ds[k])}" for k in ds.data_vars if k.startswith("bad_frames_"))
    fig.suptitle(f"{ds.attrs.get('flight', 'FOXSI')} housekeeping; {int(ds['frames_decoded'])} frames, bad: {bad}")
    fig.autofmt_xdate()
    _save(fig, out)


def make_quicklooks(image_nc, spectrum_nc, lightcurve_nc, hk_nc, outputs: dict, cfg: dict) -> None:
    """All four quicklooks of one flight file. outputs: {image, spectrum, lightcurve, housekeeping}: path."""
    plot_image(image_nc, outputs["image"])
    plot_spectrum(spectrum_nc, outputs["spectrum"])
    plot_lightcurve(lightcurve_nc, outputs["lightcurve"])
    plot_housekeeping(hk_nc, outputs["housekeeping"], L1Settings.from_config(cfg["l1"]).housekeeping)
