"""Copy the front-end libraries we ship from node_modules/ into static/vendor/.

Each library lands in ``static/vendor/<name>/`` with its LICENSE and a VERSION file, so what we
serve is traceable to an npm release. Run through ``make vendor`` after changing package.json.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# npm package -> (folder under static/vendor, files to copy from the package). A file is a path
# (copied by its name) or a (path in the package, path under the folder) pair.
LIBRARIES = {
    "htmx.org": ("htmx", ["dist/htmx.min.js"]),
    # The "lite" build reads JPEG and HEIC (EXIF, GPS); loaded only when a photo is chosen.
    "exifr": ("exifr", ["dist/lite.umd.js"]),
    # The map for picking a location; loaded only when "Pick on the map" is pressed. leaflet.css
    # finds the marker through images/ next to it (L.Icon.Default's imagePath detection).
    "leaflet": ("leaflet", ["dist/leaflet.js", "dist/leaflet.css",
                            ("dist/images/marker-icon.png", "images/marker-icon.png"),
                            ("dist/images/marker-icon-2x.png", "images/marker-icon-2x.png"),
                            ("dist/images/marker-shadow.png", "images/marker-shadow.png")]),
    # Clustering of the city map's markers (/map); loaded only by that page.
    "leaflet.markercluster": ("leaflet.markercluster", [
        "dist/leaflet.markercluster.js", "dist/MarkerCluster.css",
        "dist/MarkerCluster.Default.css"]),
}


def main() -> None:
    for package, (folder, files) in LIBRARIES.items():
        src = ROOT / "node_modules" / package
        meta = json.loads((src / "package.json").read_text())
        dest = ROOT / "static" / "vendor" / folder
        dest.mkdir(parents=True, exist_ok=True)
        for entry in files:
            rel, target = entry if isinstance(entry, tuple) else (entry, Path(entry).name)
            (dest / target).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src / rel, dest / target)
        for lic in ("LICENSE", "LICENSE.md", "LICENSE.txt", "MIT-LICENCE.txt"):
            if (src / lic).exists():
                shutil.copy2(src / lic, dest / "LICENSE")
        (dest / "VERSION").write_text(f"{package}@{meta['version']} ({meta.get('license', '?')}) from npm\n")
        print(f"vendored {package}@{meta['version']} -> {dest.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
