# Solar Jet Hunter: HEK responses -> event database; an event's AIA cutouts -> PNG frames,
# movie, Zooniverse subjects and manifests; classification exports / extract CSVs ->
# panoptes_aggregation extracts and reductions -> jet catalogue -> one quicklook per event.
# Granules: one per event (cutouts/<event>/), plus all_events for the whole-input products;
# steps, threads and memory: levelpipe.jets.family. Network steps (query_jets_hek,
# fetch_jets_cutouts) run only when asked for: hek.query true / an explicit cutouts target.
from levelpipe.jets.family import ALL_EVENTS, whole_input

JETS = PLAN["jets"]


wildcard_constraints:
    event=JETS.family.granule_pattern,


rule query_jets_hek:
    output:
        hek=result("jets", "hek", "response.json"),
    log:
        log("jets", "query_jets_hek"),
    benchmark:
        bench("jets", "query_jets_hek")
    threads: JETS.threads("query")
    resources:
        mem_mb=JETS.mem_mb("query"),
    params:
        step=JETS.params("query"),
    conda:
        ENV
    script:
        STEP


rule ingest_jets_events:
    input:
        hek=lambda wildcards: JETS.derived(whole_input)["hek"] or [result("jets", "hek", "response.json")],
    output:
        events=result("jets", "events.sqlite"),
    log:
        log("jets", "ingest_jets_events"),
    benchmark:
        bench("jets", "ingest_jets_events")
    threads: JETS.threads("events")
    resources:
        mem_mb=JETS.mem_mb("events"),
    params:
        step=JETS.params("events"),
    conda:
        ENV
    script:
        STEP


rule fetch_jets_cutouts:
    input:
        events=result("jets", "events.sqlite"),
    output:
        cutouts=directory(result("jets", "cutouts", "{event}")),
    log:
        log("jets", "fetch_jets_cutouts", "{event}"),
    benchmark:
        bench("jets", "fetch_jets_cutouts", "{event}")
    threads: JETS.threads("cutouts")
    resources:
        mem_mb=JETS.mem_mb("cutouts"),
    params:
        step=JETS.params("cutouts"),
    conda:
        ENV
    script:
        STEP


rule make_jets_subjects:
    input:
        unpack(JETS.files("cutouts")),
        events=lambda wildcards: [result("jets", "events.sqlite")] if JETS.derived(whole_input)["hek"] else [],
    output:
        subjects=directory(result("jets", "subjects", "{event}")),
        frames=result("jets", "frames", "{event}.nc"),
    log:
        log("jets", "make_jets_subjects", "{event}"),
    benchmark:
        bench("jets", "make_jets_subjects", "{event}")
    threads: JETS.threads("subjects")
    resources:
        mem_mb=JETS.mem_mb("subjects"),
    params:
        step=JETS.params("subjects"),
    conda:
        ENV
    script:
        STEP


rule aggregate_jets_classifications:
    input:
        classifications=lambda wildcards: JETS.derived(whole_input)["classifications"],
        extracts=lambda wildcards: JETS.derived(whole_input)["extracts"],
    output:
        extracts=directory(result("jets", "extracts")),
        reductions=directory(result("jets", "reductions")),
    log:
        log("jets", "aggregate_jets_classifications"),
    benchmark:
        bench("jets", "aggregate_jets_classifications")
    threads: JETS.threads("aggregate")
    resources:
        mem_mb=JETS.mem_mb("aggregate"),
    params:
        step=JETS.params("aggregate"),
    conda:
        ENV
    script:
        STEP


rule make_jets_catalogue:
    input:
        reductions=result("jets", "reductions"),
        events=lambda wildcards: [result("jets", "events.sqlite")] if JETS.derived(whole_input)["hek"] else [],
    output:
        catalogue=result("jets", "catalogue.nc"),
        json=result("jets", "catalogue.json"),
        csv=result("jets", "catalogue.csv"),
    log:
        log("jets", "make_jets_catalogue"),
    benchmark:
        bench("jets", "make_jets_catalogue")
    threads: JETS.threads("catalogue")
    resources:
        mem_mb=JETS.mem_mb("catalogue"),
    params:
        step=JETS.params("catalogue"),
    conda:
        ENV
    script:
        STEP


rule plot_jets_quicklook:
    input:
        unpack(JETS.files("cutouts")),
        catalogue=result("jets", "catalogue.nc"),
    output:
        quicklook=report(result("jets", "quicklook", "{event}.png"), caption="../report/jets/quicklook.rst",
                         category="jets"),
    log:
        log("jets", "plot_jets_quicklook", "{event}"),
    benchmark:
        bench("jets", "plot_jets_quicklook", "{event}")
    threads: JETS.threads("quicklook")
    resources:
        mem_mb=JETS.mem_mb("quicklook"),
    params:
        step=JETS.params("quicklook"),
    conda:
        ENV
    script:
        STEP
