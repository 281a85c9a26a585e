"""The README's main job: fit the built-in demo catalog and write the summary and plots.

    python3 tools/dev.py demo                 # writes demo-output/ (a few minutes on 2 cores)
    python -m tools.demo --out DIR [--quick]  # the same, inside the environment

The demo catalog ships with pixelfit (`pixelfit.demo_catalog_path()`): 24 mock galaxies
made by this project's own code (`pixelfit demo-catalog`): parameters drawn from the fit's
priors, photometry from the *exact* synthesis engine (BC03, 7-bin continuity SFH, Calzetti
dust with birth clouds, Cloudy nebular emission) in 20 HST/ACS + JWST/NIRCam bands, noise
for 28-28.5 AB 5-sigma depths with a 3% floor, and bad input on purpose (a NaN flux, a
negative error, unobserved bands, a row with two bands). It is fitted with NUTS through the
shipped photometric emulator (its measured error in the noise floor), 4 chains x (500 + 500),
on an in-process Dask cluster, exactly as ``pixelfit demo`` does. Outputs in ``--out``:
``summary.ecsv`` / ``summary.fits`` (posterior percentiles, diagnostics, flags),
``posteriors/<id>.nc`` (ArviZ), ``plots/<id>_{sed,sfh,corner}.png``,
``demo_recovery.{ecsv,png}`` (truth vs posterior) and ``run.json``. ``--quick`` fits 6
galaxies with short chains (a check of the machinery, not converged).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("demo-output"))
    ap.add_argument("--quick", action="store_true", help="6 galaxies, short chains")
    ap.add_argument("--resume", action="store_true", help="continue a killed demo run")
    args = ap.parse_args(argv)

    import pixelfit

    t0 = time.perf_counter()
    out = pixelfit.run_demo(args.out, quick=args.quick, resume=args.resume)
    print(f"demo done in {time.perf_counter() - t0:.0f} s: {out}/summary.ecsv, "
          f"{out}/demo_recovery.png, {out}/plots/")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
