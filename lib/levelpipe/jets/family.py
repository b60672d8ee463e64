"""The Solar Jet Hunter family: HEK events, their AIA cutouts and the volunteers' classifications.

Granules. Decision: an **event** (one HEK coronal-jet event, named by its SOL_standard with
':' replaced by '-', i.e. the folder ``cutouts/<event>/`` of its FITS frames) is the granule of
the images, the movie, the subjects and the quicklook, because subjects never span events
(§4.1: one list of frames per HEK event) and each event can be re-rendered alone. The event
database, the aggregation and the catalogue are ONE product for the whole input, in one extra
granule named ``all_events``: a classification export mixes the subjects of every event and
workflow in one file, and panoptes_aggregation reduces per subject across the whole export.

Input tree (inputs.jets), walked once:

- ``hek/*.json|*.txt``: HEK search responses (role ``hek``; the bundled one is the real hek_1.txt);
- ``cutouts/<event>/*.fits|*.fts``: an event's frames (role ``cutouts``, one granule per folder);
- ``classifications/*.csv``: Zooniverse classification exports (role ``classifications``);
- ``extracts/*.csv``: panoptes_aggregation extract CSVs (role ``extracts``).
"""
from __future__ import annotations

import os
from pathlib import Path

from levelpipe.family import Family, Step
from levelpipe.index import GranuleIndex, check_granule_name
from levelpipe.jets.settings import JetsSettings

#: the granule of the whole-input products (event database, aggregation, catalogue)
ALL_EVENTS = "all_events"
_FITS = (".fits", ".fts", ".fit")
_HEK = (".json", ".txt")


class JetsFamily(Family):
    name = "jets"
    package = "levelpipe.jets"
    title = "Solar Jet Hunter (HEK coronal jets, SDO/AIA cutouts, Zooniverse classifications)"
    settings_model = JetsSettings
    granule = "event"
    granule_description = "one HEK coronal-jet event (its cutout frames); all_events: the whole input"
    layout = "hek/ responses, cutouts/<event>/ FITS frames, classifications/ or extracts/ CSV files"
    roles = {
        "hek": "a HEK search response (JSON)",
        "cutouts": "an AIA cutout FITS frame of the event",
        "classifications": "a Zooniverse classification export (CSV)",
        "extracts": "a panoptes_aggregation extract CSV",
    }
    steps = {
        "query": Step(rule="query_jets_hek", function="levelpipe.jets.hek:write_hek_query", level="HEK response",
                      sections=("hek",), mem_mb=300),
        # memory: peak RSS measured per step on the bundled sample (events 113 MB, subjects
        # 564 MB, aggregate 234 MB, catalogue 181 MB, quicklook 291 MB), rounded up
        "events": Step(rule="ingest_jets_events", function="levelpipe.jets.hek:write_events", level="event database",
                       sections=("hek",), mem_mb=300),
        "cutouts": Step(rule="fetch_jets_cutouts", function="levelpipe.jets.cutouts:write_cutouts", level="L1 cutouts",
                        sections=("cutouts", "fits"), mem_mb=300),
        "subjects": Step(rule="make_jets_subjects", function="levelpipe.jets.frames:write_subjects",
                         level="subjects", sections=("fits", "images", "subjects"), tables=("frames",),
                         mem_mb=700, mem_mb_per_input_mb=4.0),
        "aggregate": Step(rule="aggregate_jets_classifications", function="levelpipe.jets.aggregation:write_aggregation",
                          level="aggregation", sections=("classifications", "aggregation"), mem_mb=600,
                          mem_mb_per_input_mb=6.0),
        "catalogue": Step(rule="make_jets_catalogue", function="levelpipe.jets.catalogue:write_catalogue",
                          level="catalogue", sections=("classifications", "aggregation", "catalogue", "images"),
                          tables=("catalogue",), mem_mb=400),
        "quicklook": Step(rule="plot_jets_quicklook", function="levelpipe.jets.quicklook:write_quicklook",
                          level="quicklook", sections=("fits", "images", "quicklook"), mem_mb=400),
    }

    def index(self, root: Path, settings: JetsSettings) -> GranuleIndex:
        root = Path(root)
        whole: dict[str, list[str]] = {"hek": [], "classifications": [], "extracts": []}
        events: dict[str, list[str]] = {}
        index = GranuleIndex(self.name, str(root))
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            rel = Path(dirpath).relative_to(root).parts
            top = rel[0] if rel else ""
            for fn in sorted(filenames):
                path = os.path.join(dirpath, fn)
                lower = fn.lower()
                if top == "hek" and lower.endswith(_HEK):
                    whole["hek"].append(path)
                elif top in ("classifications", "extracts") and lower.endswith(".csv"):
                    whole[top].append(path)
                elif top == "cutouts" and len(rel) == 2 and lower.endswith(_FITS):
                    events.setdefault(rel[1], []).append(path)
        for name in sorted(events):
            if name == ALL_EVENTS or check_granule_name(name):
                index.refused[name] = check_granule_name(name) or f"{ALL_EVENTS!r} is reserved"
                continue
            index.add(name, {"cutouts": sorted(events[name])})
        if any(whole.values()):
            index.add(ALL_EVENTS, whole)
        return index

    @staticmethod
    def events(index: GranuleIndex) -> list[str]:
        """The event granules (those with cutouts)."""
        return [g for g in index.names if g != ALL_EVENTS]

    def targets(self, plan, result) -> list[str]:
        """Default products: the event database (when there are HEK responses or hek.query),
        each event's frames, subjects and quicklook, the aggregation and the catalogue (when
        there are exports or extracts). Downloads are never default targets."""
        whole = plan.derived(whole_input)
        out = []
        if whole["hek"] or plan.settings.hek.query:
            out.append(result(self.name, "events.sqlite"))
        has_classifications = bool(whole["classifications"] or whole["extracts"])
        if has_classifications:
            out += [result(self.name, "catalogue.nc"), result(self.name, "catalogue.json"),
                    result(self.name, "catalogue.csv")]
        for ev in self.events(plan.index):
            out += [result(self.name, "frames", f"{ev}.nc"), result(self.name, "subjects", ev)]
            if has_classifications:
                out.append(result(self.name, "quicklook", f"{ev}.png"))
        return out


def whole_input(plan) -> dict[str, list[str]]:
    """The whole-input files (roles hek, classifications, extracts) of the `all_events` granule."""
    index = plan.index
    g = index.granules.get(ALL_EVENTS)
    return {r: (g.get(r) if g is not None else []) for r in ("hek", "classifications", "extracts")}


FAMILY = JetsFamily()
