# MinXSS-1/-2 CubeSats: raw telemetry (HYDRA/ISIS packet streams, AX.25, KISS) -> L0C per UTC day
# and packet type -> L0D (HK/ADCS interpolated to each X123 record, orbit, Sun, SAA, eclipse,
# GOES) -> L1 irradiance -> L2 (1-minute, 1-hour) and L3 (1-day) averages, quicklooks. One job
# per day (granule YYYY-MM-DD); steps, threads and memory: levelpipe.minxss.family. The index
# reads each raw file once (framing + time stamps) and lists it under the days and packet types it
# holds, so a new raw file reruns exactly the days it touches.
from levelpipe.minxss.family import TYPES, neighbours

MX = PLAN["minxss"]


wildcard_constraints:
    day=MX.family.granule_pattern,
    minxss_avg="1minute|1hour|1day",


for _kind in TYPES:

    rule:
        name:
            f"decode_minxss_l0c_{_kind}"
        input:
            raw=lambda wildcards: MX.index[wildcards.day].get("raw"),
        output:
            **{_kind: result("minxss", "l0c", f"{{day}}_{_kind}.nc")},
        log:
            log("minxss", f"decode_minxss_l0c_{_kind}", "{day}"),
        benchmark:
            bench("minxss", f"decode_minxss_l0c_{_kind}", "{day}")
        threads: MX.threads(f"l0c_{_kind}")
        resources:
            mem_mb=MX.mem_mb(f"l0c_{_kind}"),
        params:
            step=MX.params(f"l0c_{_kind}"),
        conda:
            ENV
        script:
            STEP


rule interpolate_minxss_l0d:
    input:
        sci=result("minxss", "l0c", "{day}_sci.nc"),
        hk=lambda wildcards: [result("minxss", "l0c", f"{d}_hk.nc") for d in neighbours(MX.index, wildcards.day, "hk")],
        adcs=lambda wildcards: [result("minxss", "l0c", f"{d}_adcs.nc")
                                for d in neighbours(MX.index, wildcards.day, "adcs")],
        tle=lambda wildcards: MX.index[wildcards.day].get("tle"),
        goes=lambda wildcards: MX.index[wildcards.day].get("goes"),
    output:
        l0d=result("minxss", "l0d", "{day}.nc"),
    log:
        log("minxss", "interpolate_minxss_l0d", "{day}"),
    benchmark:
        bench("minxss", "interpolate_minxss_l0d", "{day}")
    threads: MX.threads("l0d")
    resources:
        mem_mb=MX.mem_mb("l0d"),
    params:
        step=MX.params("l0d"),
    conda:
        ENV
    script:
        STEP


rule calibrate_minxss_l1:
    input:
        l0d=result("minxss", "l0d", "{day}.nc"),
    output:
        l1=result("minxss", "l1", "{day}.nc"),
    log:
        log("minxss", "calibrate_minxss_l1", "{day}"),
    benchmark:
        bench("minxss", "calibrate_minxss_l1", "{day}")
    threads: MX.threads("l1")
    resources:
        mem_mb=MX.mem_mb("l1"),
    params:
        step=MX.params("l1"),
    conda:
        ENV
    script:
        STEP


rule average_minxss_l2:
    input:
        l1=result("minxss", "l1", "{day}.nc"),
        goes=lambda wildcards: MX.index[wildcards.day].get("goes"),
    output:
        **{n: result("minxss", "l2", f"{{day}}_{n}.nc") for n, lvl in MX.settings.averages.level.items()
           if lvl == "L2"},
    log:
        log("minxss", "average_minxss_l2", "{day}"),
    benchmark:
        bench("minxss", "average_minxss_l2", "{day}")
    threads: MX.threads("l2")
    resources:
        mem_mb=MX.mem_mb("l2"),
    params:
        step=MX.params("l2"),
    conda:
        ENV
    script:
        STEP


rule average_minxss_l3:
    input:
        l1=result("minxss", "l1", "{day}.nc"),
        goes=lambda wildcards: MX.index[wildcards.day].get("goes"),
    output:
        **{n: result("minxss", "l3", f"{{day}}_{n}.nc") for n, lvl in MX.settings.averages.level.items()
           if lvl == "L3"},
    log:
        log("minxss", "average_minxss_l3", "{day}"),
    benchmark:
        bench("minxss", "average_minxss_l3", "{day}")
    threads: MX.threads("l3")
    resources:
        mem_mb=MX.mem_mb("l3"),
    params:
        step=MX.params("l3"),
    conda:
        ENV
    script:
        STEP


rule plot_minxss_quicklook:
    input:
        l0d=result("minxss", "l0d", "{day}.nc"),
    output:
        spectrogram=report(result("minxss", "quicklook", "{day}_spectrogram.png"),
                           caption="../report/minxss/spectrogram.rst", category="minxss"),
        orbit=report(result("minxss", "quicklook", "{day}_orbit.png"), caption="../report/minxss/orbit.rst",
                     category="minxss"),
    log:
        log("minxss", "plot_minxss_quicklook", "{day}"),
    benchmark:
        bench("minxss", "plot_minxss_quicklook", "{day}")
    threads: MX.threads("quicklook")
    resources:
        mem_mb=MX.mem_mb("quicklook"),
    params:
        step=MX.params("quicklook"),
    conda:
        ENV
    script:
        STEP
