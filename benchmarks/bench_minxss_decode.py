"""MinXSS speed: packets/s of our decoder and of space_packet_parser on the same >= 100 MB file,
and simulated days/s for raw -> L1.

The file is the bundled sample's intact stream (simulator, no deliberate damage: the reference
generator stops at the first bad length) repeated to >= 100 MB: HK, SCI (compressed and
uncompressed X123 records), ADCS1-4 and LOG packets. Both decoders parse every packet with the
same XTCE documents: ours = ``packets.read_file`` (framing, Fletcher check, every field of every
packet type, clock fixes), the peer = ``space_packet_parser.ccsds_generator`` + ``parse_bytes``
with the document of each packet's APID. Rounds are interleaved (ours, peer, ours, peer, ...);
medians of wall and CPU time (``time.process_time``) are printed. Then a full simulated 24-hour
day goes raw -> L0C -> L0D -> L1 (products written to a temporary folder, as the workflow does).

Run:  python benchmarks/bench_minxss_decode.py   (ROUNDS env var: rounds, default 3; the peer
takes ~100 s of wall time per round on the reference machine)
"""
from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "lib"))

from levelpipe.io.netcdf import write_netcdf  # noqa: E402
from levelpipe.io.variables import load_table  # noqa: E402
from levelpipe.minxss import l0c, l0d, l1, packets, xtce  # noqa: E402
from levelpipe.minxss.settings import MinxssSettings  # noqa: E402
from levelpipe.settings import load_settings  # noqa: E402
from levelpipe.testing import minxss_simulator as sim  # noqa: E402

TARGET_BYTES = 100 * 1024 * 1024
ROUNDS = int(os.environ.get("ROUNDS", "3"))
DOCS = {25: "hk", 44: "sci_fm2", 38: "adcs1", 39: "adcs2", 40: "adcs3", 41: "adcs4", 29: "log"}


def timed(fn):
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def ours(path, settings):
    return packets.read_file(path, settings).decoded


def peer(path):
    import space_packet_parser as spp

    defs = {a: spp.load_xtce(xtce.DEFINITIONS / f"{d}.xml") for a, d in DOCS.items()}
    n = 0
    with open(path, "rb") as f, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for pkt in spp.ccsds_generator(f):
            defs[pkt.apid & ~0x40].parse_bytes(pkt)
            n += 1
    return n


def write(ds, path, table, level):
    write_netcdf(ds, path, title="bench", summary="bench", mission="minxss", level=level,
                 table=load_table("levelpipe.minxss", table))


def raw_to_l1(raw, tle, goes_file, tmp, settings):
    products = l0c.l0c([raw], sim.SAMPLE_DAY, settings=settings)
    paths = {}
    for kind in ("hk", "sci", "adcs"):
        paths[kind] = str(tmp / f"l0c_{kind}.nc")
        write(products[kind], paths[kind], f"l0c_{kind}", "L0C")
    ds = l0d.l0d([paths["sci"]], [paths["hk"]], [paths["adcs"]], tle, [goes_file], sim.SAMPLE_DAY, settings=settings)
    write(ds, tmp / "l0d.nc", "l0d", "L0D")
    out = l1.l1(tmp / "l0d.nc", settings=settings)
    write(out, tmp / "l1.nc", "l1", "L1")
    return out.sizes["time"]


def main() -> None:
    settings = load_settings(MinxssSettings, REPO / "config" / "minxss.yaml")
    tle_path = REPO / "resources" / "minxss" / "tle" / "00043758.tle"
    goes_file = REPO / "resources" / "minxss" / "goes" / "sci_xrsf-l2-avg1m_g15_d20190102_truncated.nc"
    tle = tle_path.read_text()
    with tempfile.TemporaryDirectory(prefix="bench_minxss_") as d:
        tmp = Path(d)
        t = time.perf_counter()
        chunk = sim.simulate_day(sim.SAMPLE_DAY, tle, damage=False)
        big = tmp / "tlm_packets_bench.bin"
        with open(big, "wb") as f:
            for _ in range(-(-TARGET_BYTES // len(chunk))):
                f.write(chunk)
        size = big.stat().st_size
        print(f"MinXSS decode benchmark: {size / 1e6:.1f} MB file ({size / 2**20:.1f} MiB), built in "
              f"{time.perf_counter() - t:.1f} s; {ROUNDS} interleaved rounds")
        ours(big, settings)  # warm the page cache and the definition cache
        res = {"ours": [], "peer": []}
        n = {}
        for r in range(ROUNDS):
            n["ours"], w, c = timed(lambda: ours(big, settings))
            res["ours"].append((w, c))
            n["peer"], w, c = timed(lambda: peer(big))
            res["peer"].append((w, c))
            print(f"  round {r + 1}: ours {res['ours'][-1][0]:.2f} s, space_packet_parser {w:.1f} s", flush=True)
        print(f"  {'decoder':<22}{'packets':>10}{'wall s':>10}{'CPU s':>10}{'packets/s (wall)':>18}{'packets/s (CPU)':>17}")
        med = {}
        for k, label in (("ours", "levelpipe (numpy)"), ("peer", "space_packet_parser")):
            w = statistics.median(x[0] for x in res[k])
            c = statistics.median(x[1] for x in res[k])
            med[k] = (w, c)
            print(f"  {label:<22}{n[k]:>10}{w:>10.2f}{c:>10.2f}{n[k] / w:>18.0f}{n[k] / c:>17.0f}")
        print(f"  speed-up (median wall): {med['peer'][0] / med['ours'][0] * n['ours'] / n['peer']:.0f}x "
              f"(CPU {med['peer'][1] / med['ours'][1] * n['ours'] / n['peer']:.0f}x); target >= 50x")

        t = time.perf_counter()
        day = tmp / "tlm_packets_2019_002_fullday.bin"
        day.write_bytes(sim.simulate_day(sim.SAMPLE_DAY, tle, hours=24.0, damage=False))
        print(f"raw -> L1 on one simulated 24-hour day ({day.stat().st_size / 1e6:.1f} MB, built in "
              f"{time.perf_counter() - t:.1f} s):")
        runs = []
        for _ in range(ROUNDS):
            recs, w, c = timed(lambda: raw_to_l1(day, tle_path, goes_file, tmp, settings))
            runs.append((w, c))
        w = statistics.median(x[0] for x in runs)
        c = statistics.median(x[1] for x in runs)
        print(f"  {recs} records: median {w:.2f} s wall, {c:.2f} s CPU -> {1 / w:.3f} simulated days/s "
              f"(wall), {1 / c:.3f} (CPU)")


if __name__ == "__main__":
    main()
