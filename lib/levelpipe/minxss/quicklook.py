"""Quicklooks of a MinXSS day from its Level 0D: the X123 spectrogram with time series (count
rates, GOES XRS, SAA and eclipse bars), and the orbit track on a world map with the SAA polygon.

Drawn with ``levelpipe.plotting`` (``new_figure``/``save_png``: bare Agg figures, atomic PNGs
without a software tag, so the same product gives the same bytes) and its GSHHS coastlines.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from matplotlib.colors import LogNorm

from levelpipe.io.netcdf import read_netcdf
from levelpipe.plotting import coastline_paths, new_figure, save_png


def _bars(ax, t: np.ndarray, flag: np.ndarray, y: float, color: str, label: str) -> None:
    """Horizontal bars where `flag` is 1 (runs of consecutive records)."""
    on = np.asarray(flag) == 1
    if not on.any():
        ax.text(t[0], y, f"{label}: none", fontsize=7, va="center")
        return
    edges = np.flatnonzero(np.diff(np.r_[0, on.astype(int), 0]))
    for a, b in zip(edges[::2], edges[1::2]):
        ax.plot([t[a], t[b - 1]], [y, y], color=color, linewidth=6, solid_capstyle="butt")
    ax.text(t[0], y + 0.35, label, fontsize=7)


def spectrogram(ds, out_png: str | os.PathLike, *, cfg, energy: np.ndarray) -> Path:
    """`energy`: bin-centre energies (keV) of the flight model's response (Level 1 settings)."""
    t = ds.time.values
    accum = ds.x123_accum_time.values.astype(np.float64) / 1000.0
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = ds.x123_spectrum.values / accum[:, None]
    energy = np.asarray(energy, dtype=np.float64)
    keep = (energy > 0) & (energy <= cfg.spectrogram_max_kev.to_value("keV"))
    fig = new_figure(cfg.width_in, cfg.height_in, cfg.dpi, layout=None)
    ax1 = fig.add_axes((0.08, 0.52, 0.80, 0.42))
    cax = fig.add_axes((0.90, 0.52, 0.015, 0.42))
    ax2 = fig.add_axes((0.08, 0.22, 0.80, 0.26), sharex=ax1)
    ax3 = fig.add_axes((0.08, 0.06, 0.80, 0.12), sharex=ax1)
    shown = np.where(rate[:, keep] > 0, rate[:, keep], np.nan)
    finite = shown[np.isfinite(shown)]
    norm = LogNorm(vmin=max(finite.min(), 1e-2), vmax=max(finite.max(), 1e-1)) if finite.size else None
    mesh = ax1.pcolormesh(t, energy[keep], shown.T, shading="nearest", norm=norm, cmap="magma")
    ax1.set_ylabel("energy [keV]")
    ax1.set_title(f"MinXSS-{int(ds.flight_model.values[0])} X123, {str(t[0])[:10]} (counts per second per bin)",
                  fontsize=10)
    cb = fig.colorbar(mesh, cax=cax)
    cb.set_label("[count s-1 bin-1]")
    total = np.nansum(rate, axis=1)
    ax2.semilogy(t, np.where(total > 0, total, np.nan), color="k", linewidth=0.8, label="X123 total [count s-1]")
    ax2.set_ylabel("X123 [count s-1]")
    g = ax2.twinx()
    for name, color in (("goes_xrsb_flux", "tab:red"), ("goes_xrsa_flux", "tab:blue")):
        v = ds[name].values
        if np.isfinite(v).any():
            g.semilogy(t, v, color=color, linewidth=0.8, label=name.replace("_flux", "").replace("goes_", "GOES "))
    g.set_ylabel("GOES XRS [W m-2]")
    lines = ax2.get_legend_handles_labels()[0] + g.get_legend_handles_labels()[0]
    ax2.legend(lines, [ln.get_label() for ln in lines], fontsize=7, loc="upper right")
    _bars(ax3, t, ds.spacecraft_in_saa.values, 1.0, "tab:purple", "SAA")
    _bars(ax3, t, ds.eclipse.values, 0.0, "0.3", "eclipse (SPS)")
    ax3.set_ylim(-0.6, 1.9)
    ax3.set_yticks([])
    ax3.set_xlabel("time (UTC)")
    for ax in (ax1, ax2):
        for lbl in ax.get_xticklabels():
            lbl.set_visible(False)
    return save_png(fig, out_png)


def orbit_map(ds, out_png: str | os.PathLike, *, cfg, saa_lon, saa_lat) -> Path:
    fig = new_figure(cfg.width_in, cfg.width_in * 0.55, cfg.dpi, layout=None)
    ax = fig.add_axes((0.07, 0.1, 0.80, 0.8))
    cax = fig.add_axes((0.89, 0.2, 0.015, 0.6))
    clon, clat = coastline_paths(cfg.coastline_resolution, 5000.0)
    ax.plot(clon, clat, color="0.25", linewidth=0.5, zorder=1)
    poly_lon, poly_lat = np.r_[saa_lon, saa_lon[:1]], np.r_[saa_lat, saa_lat[:1]]
    ax.fill(poly_lon, poly_lat, color="tab:purple", alpha=0.15, zorder=0)
    ax.plot(poly_lon, poly_lat, color="tab:purple", linewidth=1.2, zorder=2, label="SAA boundary (config)")
    lon, lat = ds.longitude.values, ds.latitude.values
    accum = ds.x123_accum_time.values.astype(np.float64) / 1000.0
    with np.errstate(divide="ignore", invalid="ignore"):
        total = np.nansum(ds.x123_spectrum.values, axis=1) / accum
    good = np.isfinite(lon) & np.isfinite(lat)
    if good.any():
        pos = total[good] > 0
        norm = LogNorm(vmin=total[good][pos].min(), vmax=total[good][pos].max()) if pos.sum() > 1 else None
        sc = ax.scatter(lon[good], lat[good], c=np.where(total[good] > 0, total[good], np.nan), s=6, cmap="viridis",
                        norm=norm, zorder=3)
        fig.colorbar(sc, cax=cax).set_label("X123 total [count s-1]")
    ax.set_xlim(-180, 180)
    ax.set_ylim(-90, 90)
    ax.set_aspect("equal")
    ax.set_xticks(np.arange(-180, 181, 60))
    ax.set_yticks(np.arange(-90, 91, 30))
    ax.grid(True, color="0.85", linewidth=0.4)
    ax.set_xlabel("longitude (degrees east)")
    ax.set_ylabel("latitude (degrees north)")
    ax.legend(fontsize=7, loc="lower left")
    note = "stand-in TLE, invented elements" if "STAND-IN" in ds.attrs.get("orbit_source", "") else "TLE"
    ax.set_title(f"MinXSS orbit track {str(ds.time.values[0])[:10]} (orbit: {note}; colour: X123 total rate)",
                 fontsize=9)
    return save_png(fig, out_png)


def write_quicklooks(ctx) -> None:
    ds = read_netcdf(ctx.inputs.one("l0d"))
    from levelpipe.minxss.l1 import energy_scale

    cfg = ctx.settings.quicklook
    scale = ctx.settings.energy_scale[int(ds.flight_model.values[0])]
    spectrogram(ds, ctx.outputs.one("spectrogram"), cfg=cfg, energy=energy_scale(scale, ds.sizes["bin"]))
    saa = ctx.settings.l0d.saa
    orbit_map(ds, ctx.outputs.one("orbit"), cfg=cfg, saa_lon=saa.longitude_deg, saa_lat=saa.latitude_deg)
