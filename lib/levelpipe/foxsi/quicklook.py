"""FOXSI quicklook PNGs of one telemetry file: counts images, spectra, lightcurves and housekeeping
(levelpipe.plotting: bare Agg figures, atomic PNGs with no timestamp)."""
from __future__ import annotations

import numpy as np

from levelpipe.io import read_netcdf
from levelpipe.plotting import new_figure as _figure
from levelpipe.plotting import save_png as _save


def plot_image(ds, out) -> None:
    ext = [float(ds.x[0]), float(ds.x[-1]), float(ds.y[0]), float(ds.y[-1])]
    fig = _figure(14, 7)
    axes = fig.subplots(2, 4)
    panels = [("all detectors", ds["counts_combined"].values)] + [
        (f"D{int(d)}", ds["counts"].sel(detector=d).values) for d in ds.detector.values]
    for ax, (title, img) in zip(axes.ravel(), panels):
        ax.imshow(np.log10(1 + img), origin="lower", extent=ext, cmap="magma")
        ax.set_title(f"{title} ({int(img.sum())} counts)")
        ax.set_xlabel(f"{ds.attrs['image_frame']} x [arcsec]")
        ax.set_ylabel(f"{ds.attrs['image_frame']} y [arcsec]")
    fig.suptitle(f"{ds.attrs.get('flight', 'FOXSI')} counts, {ds.attrs['energy_band_kev']} keV, log10(1 + counts)")
    _save(fig, out)


def plot_spectrum(ds, out) -> None:
    fig = _figure(9, 5)
    ax = fig.subplots()
    drawn = 0
    for d in ds.detector.values:
        c = ds["counts"].sel(detector=d).values
        if c.sum():
            ax.step(ds.energy.values, c, where="mid", label=f"D{int(d)}")
            drawn += 1
    ax.set_yscale("log" if drawn else "linear")
    ax.set_xlabel("energy [keV]")
    ax.set_ylabel(f"counts per {float(ds.energy[1] - ds.energy[0]):g} keV")
    ax.set_title(f"{ds.attrs.get('flight', 'FOXSI')} count spectra (error mask {ds.attrs['error_mask']})")
    if drawn:
        ax.legend(ncol=2)
    else:
        ax.text(0.5, 0.5, "no selected events with energies", transform=ax.transAxes, ha="center")
    _save(fig, out)


def plot_lightcurve(ds, out) -> None:
    fig = _figure(9, 5)
    ax = fig.subplots()
    for d in ds.detector.values:
        ax.plot(ds.time.values, ds["count_rate"].sel(detector=d).values, drawstyle="steps-mid", label=f"D{int(d)}")
    ax.set_xlabel("time (UTC)")
    ax.set_ylabel("count rate [counts/s]")
    ax.set_title(f"{ds.attrs.get('flight', 'FOXSI')} count rate over the livetime, {ds.attrs['energy_band_kev']} keV")
    ax.legend(ncol=4)
    fig.autofmt_xdate()
    _save(fig, out)


def plot_housekeeping(ds, out) -> None:
    fig = _figure(9, 10)
    axes = fig.subplots(4, 1, sharex=True)
    t = ds.time.values
    axes[0].plot(t, ds["hv"].values)
    axes[0].set_ylabel("HV [V]")
    for name in ["t_ref"] + [f"therm{i}" for i in range(1, 12)]:
        v = ds[name].values
        if np.isfinite(v).any():
            axes[1].plot(t, v, label=name)
    axes[1].set_ylabel("temperature [°C]")
    axes[1].legend(fontsize="small", ncol=4)
    for name in ("plus_5v", "minus_5v", "v3p3", "v1p5"):
        axes[2].plot(t, ds[name].values, label=name)
    axes[2].set_ylabel("supply [V]")
    axes[2].legend(fontsize="small", ncol=4)
    alt = ds["altitude"].values
    axes[3].plot(t, alt / 1000.0)
    axes[3].set_ylabel("altitude [km]")
    if not np.isfinite(alt).any():
        axes[3].text(0.5, 0.5, "no tracking file", transform=axes[3].transAxes, ha="center")
    axes[3].set_xlabel("time (UTC)")
    bad = ", ".join(f"{k[len('bad_frames_'):]} {ds.attrs[k]}" for k in ds.attrs
                    if k.startswith("bad_frames_") and k != "bad_frames_total")
    fig.suptitle(f"{ds.attrs.get('flight', 'FOXSI')} housekeeping; {ds.attrs['frames_decoded']} frames; bad: {bad}")
    fig.autofmt_xdate()
    _save(fig, out)


def write_quicklook(ctx) -> None:
    """Step `quicklook` (rule plot_foxsi_quicklook): products + L1 housekeeping -> four PNGs."""
    plot_image(read_netcdf(ctx.inputs.one("image")), ctx.outputs.one("image"))
    plot_spectrum(read_netcdf(ctx.inputs.one("spectrum")), ctx.outputs.one("spectrum"))
    plot_lightcurve(read_netcdf(ctx.inputs.one("lightcurve")), ctx.outputs.one("lightcurve"))
    plot_housekeeping(read_netcdf(ctx.inputs.one("hk")), ctx.outputs.one("housekeeping"))
